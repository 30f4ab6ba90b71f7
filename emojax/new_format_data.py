"""Texts labelled in formats no stage-1 model was trained on: ISEAR (isear7) and GoEmotions (ekman6).

The material `emojax.new_format` learns a new format's head and label encoder from, as
`content_data.ContentData` (cached MiniLM features, canonical labels, items per split part).
- **ISEAR** (`emojax/data/isear/isear.csv`, CC BY-NC-SA 3.0): 7,666 self-reported situations, one
  of seven classes each. The CSV has quoted multi-line texts (a real CSV parser is needed); the
  .mdb conversion ended every wrapped line with "á" + newline, which is read as a space. Items and
  split are the paper's `ISEAR_splits.json` (MYKEY values, 5,960 / 745 / 746): the 215 records
  it leaves out are the non-answers ("[ No response.]", "Nothing.", ...) its `make_splits.py`
  dropped (`is_non_answer` is that rule; a test checks they agree).
- **GoEmotions** (`emojax/data/goemotions/`, Apache-2.0): Reddit comments with any subset of 27
  emotions + neutral, official train/dev/test files (tab-separated, no quoting: read with
  `csv.QUOTE_NONE`). `ekman_mapping.json` folds the 27 emotions into Ekman's six: an item's ekman6
  vector has a 1 for every class one of its labels maps to. "neutral" maps to no class, so an item
  labelled only neutral keeps the empty label set (all zeros) in every part: a multi-label format
  can say "none of these", and macro F1 then also asks the model not to fire on neutral comments.
  `train_items` > 0 keeps a documented deterministic subset of train: the first that many of
  `numpy.random.RandomState(0).permutation(n)` over the file's rows (dev/test stay complete).
Readers check every record and raise a ValueError naming the file, the line or key and the value.
"""

from __future__ import annotations

import csv
import json
import pathlib
import re

import numpy as np
import pandas as pd

from emojax import content_data, datasets, formats, splits

DATASETS = {"isear": "isear7", "goemotions_ekman": "ekman6"}  # dataset -> its label format
ISEAR_CSV = datasets.DATA_DIR / "isear" / "isear.csv"
ISEAR_SPLIT = datasets.DATA_DIR / "emotion_embeddings_splits" / "ISEAR_splits.json"
GOEMOTIONS_DIR = datasets.DATA_DIR / "goemotions"
UNMAPPED = "empty label set (only labels without an Ekman class, i.e. neutral)"
# make_splits.py of the paper's code: answers that describe no situation (compared lower-cased).
_NON_ANSWERS = {"forced to fill in a questionnaire.", "none.", "nothing.", "no response.",
                "not applicable to myself.", "doesn't apply.", "can't remember having had this feeling",
                "can't remember that feeling", "does not apply", 'the same as in "shame".',
                "not included on questionnaire", "not applicable."}


def check_dataset(name: str) -> str:
  if name not in DATASETS:
    raise KeyError(f"unknown new-format dataset {name!r}; known: {list(DATASETS)}")
  return DATASETS[name]


def class_vectors(labels, fmt_name: str) -> np.ndarray:
  """Class names -> 0/1 rows of a class format: one name per item (one-hot) or, for a multi-label
  format, a list of names per item (an empty list is the empty set). Unknown names raise."""
  fmt = formats.get_format(fmt_name)
  if not fmt.is_classes:
    raise ValueError(f"format {fmt_name!r} is a regression format; class names need a class format")
  index = {v: i for i, v in enumerate(fmt.variables)}
  out = np.zeros((len(labels), fmt.size), np.float32)
  for n, item in enumerate(labels):
    names = [item] if isinstance(item, str) else list(item)
    if fmt.kind == formats.CLASSES and len(names) != 1:
      raise ValueError(f"item {n}: format {fmt_name!r} takes exactly one class, got {names}")
    for name in names:
      if name not in index:
        raise ValueError(f"item {n}: unknown label {name!r} for format {fmt_name!r}; it has "
                         f"{list(fmt.variables)}")
      out[n, index[name]] = 1.0
  return out


# --------------------------------------------------------------------------------------------- ISEAR

def is_non_answer(text: str) -> bool:
  """The paper's rule for ISEAR records without a situation (bracketed remarks, "Nothing.", ...)."""
  t = text.strip().lower()
  return (t.startswith("[") and t.endswith("]")) or t in _NON_ANSWERS


def _clean_isear(text: str) -> str:
  return re.sub(r"\s*á\n\s*", " ", text).strip()  # the .mdb export's line-continuation marker


def read_isear(path: pathlib.Path = ISEAR_CSV) -> tuple[list[str], list[str], list[str]]:
  """(MYKEY, situation text, class) of every record of the ISEAR CSV, texts as in the file."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"ISEAR file {path} is missing (bundled under emojax/data/isear/)")
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
    raise ValueError(f"{path}: not a readable CSV (ISEAR has quoted multi-line texts; is a quote "
                     f"unbalanced or the file cut?): {str(err).splitlines()[0]}") from err
  missing = [c for c in ("MYKEY", "Field1", "SIT") if c not in frame.columns]
  if missing:
    raise ValueError(f"{path}: columns {missing} are missing (found {list(frame.columns)[:8]}...)")
  known = set(formats.get_format("isear7").variables)
  keys, texts, labels, seen = [], [], [], set()
  for record, (raw_key, label, text) in enumerate(zip(frame["MYKEY"], frame["Field1"], frame["SIT"]), 1):
    where = f"{path}, record {record} (MYKEY {raw_key!r})"
    if not raw_key.strip().isdigit():
      raise ValueError(f"{where}: MYKEY must be an integer id")
    key = str(int(raw_key))  # the split file lists MYKEY as integers: "0110011" -> "110011"
    if key in seen:
      raise ValueError(f"{where}: MYKEY appears twice")
    if label not in known:
      raise ValueError(f"{where}: unknown label {label!r} in column Field1; isear7 has "
                       f"{sorted(known)}")
    if not text.strip():
      raise ValueError(f"{where}: empty text in column SIT")
    seen.add(key)
    keys.append(key)
    texts.append(text)
    labels.append(label)
  return keys, texts, labels


def isear_split(path: pathlib.Path = ISEAR_SPLIT) -> dict[str, list[str]]:
  """The paper's ISEAR split, as MYKEY strings."""
  raw = json.loads(pathlib.Path(path).read_text())
  return {p: [str(int(k)) for k in raw[p]] for p in splits.PARTS}


def isear_table(path: pathlib.Path = ISEAR_CSV, split_path: pathlib.Path = ISEAR_SPLIT):
  """(split, text by key, isear7 one-hot by key, non-answers left out) of the split's records."""
  keys, texts, labels = read_isear(path)
  split = isear_split(split_path)
  text_of = dict(zip(keys, texts))
  absent = [k for p in splits.PARTS for k in split[p] if k not in text_of]
  if absent:
    raise ValueError(f"{split_path} names {len(absent)} MYKEY(s) that {path} lacks, e.g. {absent[:3]}")
  y = class_vectors(labels, "isear7")
  y_of = {k: y[i] for i, k in enumerate(keys)}
  unsplit = len(keys) - sum(len(v) for v in split.values())
  return split, {k: _clean_isear(t) for k, t in text_of.items()}, y_of, unsplit


# ---------------------------------------------------------------------------------------- GoEmotions

def goemotions_labels(root: pathlib.Path = GOEMOTIONS_DIR) -> list[str]:
  path = pathlib.Path(root) / "emotions.txt"
  names = path.read_text(encoding="utf-8").split("\n")
  names = [n.strip() for n in names if n.strip()]
  if len(names) != len(set(names)):
    raise ValueError(f"{path}: label names repeat")
  return names


def ekman_mapping(root: pathlib.Path = GOEMOTIONS_DIR) -> dict[str, str]:
  """GoEmotions label -> ekman6 class, from ekman_mapping.json; checked against both label sets."""
  root = pathlib.Path(root)
  path = root / "ekman_mapping.json"
  try:
    raw = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as err:
    raise ValueError(f"{path} is not valid JSON: {err}") from err
  labels = goemotions_labels(root)
  ekman = formats.get_format("ekman6").variables
  out = {}
  for cls, members in raw.items():
    if cls not in ekman:
      raise ValueError(f"{path}: unknown Ekman class {cls!r}; ekman6 has {list(ekman)}")
    for m in members:
      if m not in labels:
        raise ValueError(f"{path}: class {cls!r} lists {m!r}, which is not a GoEmotions label "
                         f"({root / 'emotions.txt'})")
      if m in out:
        raise ValueError(f"{path}: {m!r} is mapped twice ({out[m]!r} and {cls!r})")
      out[m] = cls
  unmapped = [l for l in labels if l not in out and l != "neutral"]
  if unmapped:
    raise ValueError(f"{path}: GoEmotions labels {unmapped} map to no Ekman class (only neutral may)")
  return out


def read_goemotions(part: str, root: pathlib.Path = GOEMOTIONS_DIR) -> tuple[list[str], list[str], list[list[str]]]:
  """(comment id, text, label names) of every line of `<part>.tsv`."""
  if part not in splits.PARTS:
    raise ValueError(f"part must be one of {splits.PARTS}, got {part!r}")
  path = pathlib.Path(root) / f"{part}.tsv"
  if not path.is_file():
    raise FileNotFoundError(f"GoEmotions file {path} is missing (bundled under emojax/data/goemotions/)")
  names = goemotions_labels(root)
  ids, texts, labels, seen = [], [], [], set()
  with path.open(encoding="utf-8", newline="") as f:
    # No quoting: texts contain '"' that are part of the comment, never field quotes.
    for line, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
      if len(row) != 3:
        raise ValueError(f"{path}, line {line}: expected 3 tab-separated fields (text, label ids, "
                         f"comment id), got {len(row)}")
      text, raw, cid = row
      try:
        ids_here = [int(t) for t in raw.split(",")]
      except ValueError:
        raise ValueError(f"{path}, line {line}: label ids {raw!r} are not comma-separated "
                         f"integers") from None
      bad = [i for i in ids_here if not 0 <= i < len(names)]
      if bad:
        raise ValueError(f"{path}, line {line}: unknown label id(s) {bad}; emotions.txt has ids "
                         f"0..{len(names) - 1}")
      if not text.strip():
        raise ValueError(f"{path}, line {line}: empty text")
      if cid in seen:
        raise ValueError(f"{path}, line {line}: comment id {cid!r} appears twice")
      seen.add(cid)
      ids.append(cid)
      texts.append(text)
      labels.append([names[i] for i in ids_here])
  return ids, texts, labels


def goemotions_ekman(part: str, root: pathlib.Path = GOEMOTIONS_DIR):
  """(comment ids, texts, ekman6 0/1 rows) of a GoEmotions part; neutral-only rows are all zero."""
  ids, texts, labels = read_goemotions(part, root)
  to_ekman = ekman_mapping(root)
  y = class_vectors([sorted({to_ekman[l] for l in ls if l in to_ekman}) for ls in labels], "ekman6")
  return ids, texts, y


def train_subset(n: int, keep: int) -> np.ndarray:
  """Rows of a deterministic train subset: the first `keep` of RandomState(0).permutation(n), in
  file order; keep <= 0 or >= n keeps everything."""
  if keep <= 0 or keep >= n:
    return np.arange(n)
  return np.sort(np.random.RandomState(0).permutation(n)[:keep])


# -------------------------------------------------------------------------------------- as features

def load(name: str, cache_dir: str | pathlib.Path, *, max_length: int, max_items: int = 0,
         train_items: int = 0, show_progress: bool = True) -> content_data.ContentData:
  """A dataset as `ContentData` with MiniLM features (the settings of the frozen text encoder).
  `max_items` > 0 keeps the first that many items of each part (tests); `train_items` applies to
  GoEmotions' train file (see the module docstring). Features are cached per part."""
  from emojax import text_data
  fmt = check_dataset(name)
  items, x, y, dropped = {}, {}, {}, {}
  if name == "isear":
    split, text_of, y_of, unsplit = isear_table()
    dropped["non-answer (not in the paper's split)"] = {"all": unsplit}
    parts = {p: (split[p], [text_of[k] for k in split[p]], np.stack([y_of[k] for k in split[p]]))
             for p in splits.PARTS}
  else:
    parts = {}
    for p in splits.PARTS:
      ids, texts, yy = goemotions_ekman(p)
      rows = train_subset(len(ids), train_items) if p == "train" else np.arange(len(ids))
      if len(rows) < len(ids):
        dropped["not in the train subset"] = {"train": len(ids) - len(rows)}
      parts[p] = ([ids[r] for r in rows], [texts[r] for r in rows], yy[rows])
  for p in splits.PARTS:
    keys, texts, yy = parts[p]
    if max_items:
      keys, texts, yy = keys[:max_items], texts[:max_items], yy[:max_items]
    items[p], y[p] = list(keys), np.asarray(yy, np.float32)
    x[p] = text_data.cached_text_features(f"{name}_{p}", texts, max_length, cache_dir,
                                          show_progress=show_progress)
  return content_data.ContentData(name, fmt, "en", items, x, y, dropped)
