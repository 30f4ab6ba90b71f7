"""Readers for the data files that are not plain tables, each a small named function `path -> frame`.

A dataset declaration (`emojax.datasets.Dataset`) names its reader; plain TSV and CSV files need
none (the default, `read_delimited`, reads a `.csv` as `read_csv` and anything else as `read_tsv`). The odd files of the bundled data get one function each here:
the SemEval-2007 gold + XML layout, BASS's cells with trailing spaces, ISEAR's quoted multi-line
CSV and GoEmotions' three unquoted TSVs with label ids. A reader returns every record as strings
(class-format labels as class names) and checks what the generic reading cannot: a bad record raises
a ValueError naming the file, the line or key, and the value. `class_vectors` turns class names into
the 0/1 rows of a class format.
"""

from __future__ import annotations

import csv
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from emojax import formats


def read_tsv(path: pathlib.Path) -> pd.DataFrame:
  # Words such as "null" or "nan" are words: only an empty cell is missing.
  return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""], dtype=str)


def read_csv(path: pathlib.Path) -> pd.DataFrame:
  return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)


def read_delimited(path: pathlib.Path) -> pd.DataFrame:
  """A plain table by its suffix: `.csv` comma-separated, anything else tab-separated."""
  return read_csv(path) if pathlib.Path(path).suffix.lower() == ".csv" else read_tsv(path)


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


# -------------------------------------------------------------------- SemEval-2007 Affective Text

def read_affective_text(path: pathlib.Path) -> pd.DataFrame:
  """Trial + test gold files of the official layout, one frame, with each headline's `text` from
  the XML files (stripped; a gold id without a headline gets no text)."""
  columns = ["id", "anger", "disgust", "fear", "joy", "sadness", "surprise"]
  frames, text_of = [], {}
  for split in ("trial", "test"):
    gold = path / f"AffectiveText.{split}" / f"affectivetext_{split}.emotions.gold"
    frames.append(pd.read_csv(gold, sep=" ", header=None, names=columns, dtype=str))
    for inst in ET.parse(path / f"AffectiveText.{split}" / f"affectivetext_{split}.xml").getroot():
      text_of[inst.get("id")] = (inst.text or "").strip()
  frame = pd.concat(frames, ignore_index=True)
  frame["text"] = [text_of.get(i) for i in frame["id"]]
  return frame


# ---------------------------------------------------------------------------------------------- BASS

def read_bass(path: pathlib.Path) -> pd.DataFrame:
  # Some numeric cells carry a trailing space ("944.3995 "): strip every cell.
  frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str, skipinitialspace=True)
  return frame.apply(lambda c: c.str.strip())


# --------------------------------------------------------------------------------------------- ISEAR

# make_splits.py of the paper's code: answers that describe no situation (compared lower-cased).
_NON_ANSWERS = {"forced to fill in a questionnaire.", "none.", "nothing.", "no response.",
                "not applicable to myself.", "doesn't apply.", "can't remember having had this feeling",
                "can't remember that feeling", "does not apply", 'the same as in "shame".',
                "not included on questionnaire", "not applicable."}


def is_non_answer(text: str) -> bool:
  """The paper's rule for ISEAR records without a situation (bracketed remarks, "Nothing.", ...);
  its split file leaves out exactly these records (a test checks they agree)."""
  t = text.strip().lower()
  return (t.startswith("[") and t.endswith("]")) or t in _NON_ANSWERS


def clean_isear(text: str) -> str:
  return re.sub(r"\s*á\n\s*", " ", text).strip()  # the .mdb export's line-continuation marker


def read_isear(path: pathlib.Path) -> tuple[list[str], list[str], list[str]]:
  """(MYKEY, situation text, class) of every record of the ISEAR CSV, texts as in the file. The CSV
  has quoted multi-line texts, so a real CSV parser reads it."""
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


def read_isear_table(path: pathlib.Path) -> pd.DataFrame:
  """ISEAR as a table: MYKEY (integer ids as strings), SIT (line-continuation markers read as
  spaces), Field1 (the class)."""
  keys, texts, labels = read_isear(path)
  return pd.DataFrame({"MYKEY": keys, "SIT": [clean_isear(t) for t in texts], "Field1": labels})


# ---------------------------------------------------------------------------------------- GoEmotions

GOEMOTIONS_PARTS = ("train", "dev", "test")  # the official files, one per split part


def goemotions_labels(root: pathlib.Path) -> list[str]:
  path = pathlib.Path(root) / "emotions.txt"
  names = path.read_text(encoding="utf-8").split("\n")
  names = [n.strip() for n in names if n.strip()]
  if len(names) != len(set(names)):
    raise ValueError(f"{path}: label names repeat")
  return names


def ekman_mapping(root: pathlib.Path) -> dict[str, str]:
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


def read_goemotions(part: str, root: pathlib.Path) -> tuple[list[str], list[str], list[list[str]]]:
  """(comment id, text, label names) of every line of `<part>.tsv` (tab-separated, no quoting)."""
  if part not in GOEMOTIONS_PARTS:
    raise ValueError(f"part must be one of {GOEMOTIONS_PARTS}, got {part!r}")
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


def ekman_classes(part: str, root: pathlib.Path) -> tuple[list[str], list[str], list[list[str]]]:
  """(comment ids, texts, Ekman class names) of a GoEmotions part. An item's classes are those its
  labels map to; "neutral" maps to none, so a neutral-only item has the empty set (a multi-label
  format can say "none of these")."""
  ids, texts, labels = read_goemotions(part, root)
  to_ekman = ekman_mapping(root)
  return ids, texts, [sorted({to_ekman[l] for l in ls if l in to_ekman}) for ls in labels]


def goemotions_ekman(part: str, root: pathlib.Path) -> tuple[list[str], list[str], np.ndarray]:
  """(comment ids, texts, ekman6 0/1 rows) of a GoEmotions part; neutral-only rows are all zero."""
  ids, texts, classes = ekman_classes(part, root)
  return ids, texts, class_vectors(classes, "ekman6")


def read_goemotions_ekman(root: pathlib.Path) -> pd.DataFrame:
  """GoEmotions in Ekman's six as one table: id, text, ekman (a list of class names), split (the
  official file the line is in), the files in train, dev, test order."""
  rows = []
  for part in GOEMOTIONS_PARTS:
    ids, texts, classes = ekman_classes(part, root)
    rows += [(i, t, c, part) for i, t, c in zip(ids, texts, classes)]
  return pd.DataFrame(rows, columns=["id", "text", "ekman", "split"])
