"""Content datasets for stage 2: cached feature matrices plus canonical labels per split part.

`ContentData` is what the stage-2 loop (`emojax.train_content`) consumes for any modality: for each
part an `N x D` float32 feature matrix, the `N x V` canonical labels and the item names, plus counts
of what was dropped and why. Features are cached under a directory keyed by a content hash of what
was looked up, so a rerun skips the lookup (`cached_features`).

Everything else here is specific to words. A `WordDataset` names a rated word table
(`emojax.datasets`), the column whose text is embedded, and where its split comes from:
- English Warriner VAD: the word itself; split = the paper's XANEW–NRC split file for the 9,001
  words it lists, the other words by the 3:1:1 rule.
- Non-English NoRaRe tables: the word's English concept gloss (`CONCEPTICON_GLOSS`, e.g. "TO PERMIT"),
  present in every NoRaRe table and identical for a word in every table of its language, so a word
  has one feature vector across its sibling datasets. The ENGLISH column (Imbir, Moors only) was as
  good in a ridge probe (valence-arousal-dominance mean r .637 vs .630, .569 vs .561 with GloVe).
  Consequence: the word encoder reads English only; at inference it takes English words.
- Splits are aligned with stage 1: a table in a mapping pair starts from that pair's split and
  extends it to its other words (`splits.extend_split`), so no test word's labels were codec
  training items and a word has the same part in every table of its language. Written to
  `emojax/data/splits/words/` by `python -m emojax.content_data`, checked by the tests.
Treatment of awkward items, counted per dataset and part in the results:
- out of vocabulary (no vector after the lookup rules of `emojax.encoders.word_vectors`): dropped;
- concept duplicates: different words of sibling tables can share a gloss, hence a feature vector
  (es 49, pl 17, de 13 glosses); a dev/test item whose gloss is a *training* gloss of a sibling
  table is dropped, else Mlt and zero-shot would be scored on inputs they were trained on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from emojax import datasets, formats, mapping_data, splits

FEATURE_VERSION = 1  # bump when the feature computation changes: invalidates every cache entry


@dataclasses.dataclass(frozen=True)
class ContentData:
  """One content dataset as features + canonical labels per split part (any modality)."""

  name: str  # the label table's name
  format: str
  language: str
  items: dict[str, list[str]]
  x: dict[str, np.ndarray]  # part -> N x D float32
  y: dict[str, np.ndarray]  # part -> N x V canonical units
  dropped: dict[str, dict[str, int]]  # reason -> part -> count

  @property
  def dim(self) -> int:
    return int(self.x["train"].shape[1])

  def sizes(self) -> dict[str, int]:
    return {p: len(self.items[p]) for p in splits.PARTS}


def cached_features(cache_dir: pathlib.Path, label: str, key: object,
                    compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """`compute()` once per content: the result is stored as `<label>.<hash of key>.npz`."""
  digest = hashlib.sha256(json.dumps([FEATURE_VERSION, key], ensure_ascii=False).encode()).hexdigest()
  path = pathlib.Path(cache_dir) / f"{label}.{digest[:16]}.npz"
  if path.exists():
    with np.load(path) as stored:
      return dict(stored)
  arrays = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # own name: hosts may race here
  np.savez(tmp, **arrays)
  tmp.rename(path)  # never a half-written cache entry; the same content whoever renames last
  return arrays


# ---------------------------------------------------------------------------------------------- words

GLOSS = "CONCEPTICON_GLOSS"
SPLIT_SUBDIR = "words"


@dataclasses.dataclass(frozen=True)
class WordDataset:
  table: str  # a `datasets.TABLES` name, also the dataset's name
  text: str | None  # column holding the English text to embed; None: the key (an English word)
  split_from: str  # "pair:<mapping pair>" | "file:<path under emojax/data>" | "rule"


WORD_DATASETS: dict[str, WordDataset] = {d.table: d for d in [
    WordDataset("warriner_vad", None, "file:xanew_warriner2013/XANEW-NRC_splits.json"),
    WordDataset("stadthagen_va", GLOSS, "pair:es_va_be5"),
    WordDataset("stadthagen_be5", GLOSS, "pair:es_va_be5"),
    WordDataset("riegel_va", GLOSS, "pair:pl_va_be5"),
    WordDataset("wierzba_be5", GLOSS, "pair:pl_va_be5"),
    WordDataset("imbir_vad", GLOSS, "pair:pl_vad_be5"),  # pl_vad_be5 inherits pl_va_be5's split
    WordDataset("schmidtke_vad", GLOSS, "pair:de_vad_be5"),
    WordDataset("briesemeister_be5", GLOSS, "pair:de_vad_be5"),
    WordDataset("moors_vad", GLOSS, "rule"),
    WordDataset("redondo_vad", GLOSS, "rule"),  # in no mapping pair: its own split, no siblings
]}


def get_word_dataset(name: str) -> WordDataset:
  if name not in WORD_DATASETS:
    raise KeyError(f"unknown word dataset {name!r}; known: {list(WORD_DATASETS)}")
  return WORD_DATASETS[name]


def sibling_pairs(names: Sequence[str]) -> list[mapping_data.MappingPair]:
  """Mapping pairs whose two tables are both among `names`: the zero-shot directions and the
  datasets one multi-dataset (Mlt) encoder trains on. Any modality: tables are the link."""
  chosen = set(names)
  return [p for p in mapping_data.PAIRS.values() if p.table_a in chosen and p.table_b in chosen]


def sibling_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
  """Connected components (size >= 2) of the sibling relation, in declaration order of `names`."""
  group_of = {n: {n} for n in names}
  for pair in sibling_pairs(names):
    merged = group_of[pair.table_a] | group_of[pair.table_b]
    for n in merged:
      group_of[n] = merged
  seen, out = set(), []
  for n in names:
    if len(group_of[n]) > 1 and n not in seen:
      out.append(tuple(m for m in names if m in group_of[n]))
      seen |= group_of[n]
  return out


@functools.cache
def word_table(name: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
  """(keys, canonical labels, text to embed per key) of a word table; first row per key wins."""
  ds, table = get_word_dataset(name), datasets.get_table(name)
  keys, y = datasets.read_labels(table)
  if ds.text is None:
    return tuple(keys), y, tuple(keys)
  frame = table.reader(datasets.DATA_DIR / table.path)
  text_of = {}
  for key, text in zip(frame[table.key], frame[ds.text]):
    text_of.setdefault(table.key_prefix + table.key_transform(key), text)
  missing = [k for k in keys if not isinstance(text_of.get(k), str) or not text_of[k].strip()]
  if missing:
    raise ValueError(f"table {name!r}: no {ds.text} for {missing[:5]}")
  return tuple(keys), y, tuple(text_of[k] for k in keys)


def compute_split(name: str) -> dict[str, list[str]]:
  """The dataset's split by its declared rule (what `python -m emojax.content_data` writes)."""
  ds = get_word_dataset(name)
  keys = word_table(name)[0]
  kind, _, source = ds.split_from.partition(":")
  if kind == "pair":
    return splits.extend_split(splits.load_split(source), keys)
  if kind == "file":
    listed = json.loads((datasets.DATA_DIR / source).read_text())
    known = set(keys)
    return splits.extend_split({p: [k for k in listed[p] if k in known] for p in splits.PARTS}, keys)
  if kind == "rule":
    return splits.ratio_split(keys)
  raise ValueError(f"word dataset {name!r}: unknown split source {ds.split_from!r}")


def load_split(name: str) -> dict[str, list[str]]:
  split = splits.load_split(f"{SPLIT_SUBDIR}/{name}")
  keys = set(word_table(name)[0])
  listed = [k for p in splits.PARTS for k in split[p]]
  if set(listed) != keys or len(listed) != len(keys):
    raise ValueError(f"split words/{name}.json does not list every word of table {name!r} exactly "
                     f"once; regenerate with `python -m emojax.content_data`")
  return split


def word_features(vectors: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Word vectors (N x D float32) and found mask for any English strings (OOV rows are zero)."""
  from emojax.encoders.word_vectors import load_word_vectors  # loads ~1 s of vectors on first use
  return load_word_vectors(vectors).lookup(list(texts))


def _cached_word_features(vectors: str, label: str, texts: Sequence[str], cache_dir) -> tuple:
  def compute():
    x, found = word_features(vectors, texts)
    return {"x": x, "found": found}
  arrays = cached_features(cache_dir, f"{label}.{vectors}", [vectors, list(texts)], compute)
  return arrays["x"], arrays["found"].astype(bool)


def _sibling_train_texts(name: str) -> set[str]:
  """Texts of the training words of every other table in `name`'s declared sibling group."""
  out = set()
  for group in sibling_groups(list(WORD_DATASETS)):
    if name in group:
      for other in group:
        if other != name:
          keys, _, texts = word_table(other)
          train = set(load_split(other)["train"])
          out |= {t for k, t in zip(keys, texts) if k in train}
  return out


def load_words(name: str, vectors: str, cache_dir: str | pathlib.Path) -> ContentData:
  """A word dataset as `ContentData`: features of `vectors` ("glove50" | "spacy300"), labels, split."""
  keys, y_NxV, texts = word_table(name)
  x_NxD, found_N = _cached_word_features(vectors, name, texts, cache_dir)
  row = {k: i for i, k in enumerate(keys)}
  split = load_split(name)
  leaky = _sibling_train_texts(name)
  items, x, y = {}, {}, {}
  dropped = {"oov": {}, "gloss_in_sibling_train": {}}
  for part in splits.PARTS:
    rows = np.asarray([row[k] for k in split[part]], np.int64)
    keep = found_N[rows]
    dropped["oov"][part] = int((~keep).sum())
    dup = np.asarray([part != "train" and texts[r] in leaky for r in rows], bool)
    dropped["gloss_in_sibling_train"][part] = int((keep & dup).sum())
    rows = rows[keep & ~dup]
    items[part] = [keys[r] for r in rows]
    x[part], y[part] = x_NxD[rows], y_NxV[rows]
  table = datasets.get_table(name)
  return ContentData(name, table.format, table.language, items, x, y, dropped)


# ---------------------------------------------------------------------------------------------- VADER

VADER_PATH = "vader_lexicon/vader_lexicon.txt"


def read_vader() -> tuple[list[str], np.ndarray]:
  """VADER lexicon entries and their mean valence rescaled from [-4, 4] to [-1, 1]."""
  path = datasets.DATA_DIR / VADER_PATH
  frame = pd.read_csv(path, sep="\t", header=None, quoting=3, keep_default_na=False, dtype=str,
                      names=["token", "mean", "sd", "ratings"])
  valence = pd.to_numeric(frame["mean"], errors="coerce").to_numpy(np.float64)[:, None]
  datasets.check_in_scale(valence, ((-4, 4),), source=str(path), variables=("mean",),
                          row_names=[f"{i + 1} (line)" for i in range(len(frame))])
  return frame["token"].tolist(), datasets.rescale(valence, ((-4, 4),), formats.get_format("va"))[:, 0]


def vader_set(vectors: str, cache_dir, exclude: set[str]) -> dict:
  """VADER entries not in `exclude` (lower-cased words), with features; OOV entries dropped."""
  tokens, valence = read_vader()
  kept = [i for i, t in enumerate(tokens) if t.lower() not in exclude]
  x, found = _cached_word_features(vectors, "vader", tokens, cache_dir)
  use = np.asarray([i for i in kept if found[i]], np.int64)
  return {"x": x[use], "valence": valence[use], "n": len(use), "total": len(tokens),
          "excluded": len(tokens) - len(kept), "oov": len(kept) - len(use)}


if __name__ == "__main__":
  for dataset in WORD_DATASETS:
    print(splits.write_split(f"{SPLIT_SUBDIR}/{dataset}", compute_split(dataset)))
