"""Content datasets for stage 2: cached feature matrices plus canonical labels per split part.

`ContentData` is what the stage-2 loop (`emojax.train_content`) consumes for any modality: for each
part an `N x D` float32 feature matrix, the `N x V` canonical labels and the item names, plus counts
of what was dropped and why. Features are cached under a directory keyed by a content hash of what
was looked up, so a rerun skips the lookup (`cached_features`).

Everything else here is specific to words (declared in `emojax.datasets`, modality "words"):
- English Warriner VAD is embedded by the word itself; the non-English NoRaRe tables by the word's
  English concept gloss (`CONCEPTICON_GLOSS`, e.g. "TO PERMIT"), present in every NoRaRe table and
  identical for a word in every table of its language, so a word has one feature vector across its
  sibling datasets. The ENGLISH column (Imbir, Moors only) was as good in a ridge probe
  (valence-arousal-dominance mean r .637 vs .630, .569 vs .561 with GloVe). Consequence: the word
  encoder reads English only; at inference it takes English words.
- Splits are aligned with stage 1: a table in a mapping pair extends that pair's split to its other
  words, so no test word's labels were codec training items and a word has the same part in every
  table of its language (`emojax.splits`, committed under `emojax/data/splits/words/`).
Treatment of awkward items, counted per dataset and part in the results:
- out of vocabulary (no vector after the lookup rules of `emojax.encoders.word_vectors`): dropped;
- concept duplicates: different words of sibling tables can share a gloss, hence a feature vector
  (es 49, pl 17, de 13 glosses); a dev/test item whose gloss is a *training* gloss of a sibling
  table is dropped, else Mlt and zero-shot would be scored on inputs they were trained on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from emojax import datasets, formats, splits
from emojax.encoders import word_encoder

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

def word_table(name: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
  """(keys, canonical labels, English text to embed per key) of a word dataset."""
  table = datasets.read_table(datasets.get_dataset(name, "words"))
  return table.keys, table.y, table.content


def word_features(vectors: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Word features (N x D float32) and found mask for any English strings (OOV rows are zero).
  `vectors`: word vectors ("glove50", "spacy300"), a sentence encoder reading the word alone
  ("minilm_l4", `encoders.word_encoder`), or several joined by "+" (concatenated; an item is
  found when every word-vector part has it)."""
  from emojax.encoders.word_vectors import load_word_vectors  # loads ~1 s of vectors on first use
  texts = list(texts)
  looked_up, found = {}, np.ones(len(texts), bool)
  for part in word_encoder.parts_of(vectors):
    if not word_encoder.is_encoder_name(part):
      looked_up[part], found_part = load_word_vectors(part).lookup(texts)
      found &= found_part
  x = word_encoder.join(vectors, texts, looked_up)  # the encoder parts read every item
  return np.where(found[:, None], x, 0.0).astype(np.float32), found


def _cached_word_features(vectors: str, label: str, texts: Sequence[str], cache_dir) -> tuple:
  def compute():
    x, found = word_features(vectors, texts)
    return {"x": x, "found": found}
  arrays = cached_features(cache_dir, f"{label}.{vectors}", [vectors, list(texts)], compute)
  return arrays["x"], arrays["found"].astype(bool)


def sibling_train_texts(name: str) -> set[str]:
  """Texts of the training words of every other table in `name`'s declared sibling group."""
  out = set()
  for group in datasets.sibling_groups(datasets.names("words")):
    if name in group:
      for other in group:
        if other != name:
          keys, _, texts = word_table(other)
          train = set(splits.split_of(other)["train"])
          out |= {t for k, t in zip(keys, texts) if k in train}
  return out


def sibling_train_leaks(name: str, split: dict[str, list[str]], text_of: dict[str, str]) -> dict[str, set[str]]:
  """Per part, the dev and test keys of `name` whose text is a training word's of a sibling table
  (`sibling_train_texts`): left out, so that no gloss is trained on in one table and scored in
  another. `text_of`: the text each key is read as."""
  leaky = sibling_train_texts(name)
  return {p: {k for k in keys if p != "train" and text_of[k] in leaky} for p, keys in split.items()}


def load_words(name: str, vectors: str, cache_dir: str | pathlib.Path) -> ContentData:
  """A word dataset as `ContentData`: features of `vectors` (`word_features`), labels, split."""
  keys, y_NxV, texts = word_table(name)
  x_NxD, found_N = _cached_word_features(vectors, name, texts, cache_dir)
  row = {k: i for i, k in enumerate(keys)}
  split = splits.split_of(name)
  leaks = sibling_train_leaks(name, split, dict(zip(keys, texts)))
  items, x, y = {}, {}, {}
  dropped = {"oov": {}, "gloss_in_sibling_train": {}}
  for part in splits.PARTS:
    rows = np.asarray([row[k] for k in split[part]], np.int64)
    keep = found_N[rows]
    dropped["oov"][part] = int((~keep).sum())
    dup = np.asarray([keys[r] in leaks[part] for r in rows], bool)
    dropped["gloss_in_sibling_train"][part] = int((keep & dup).sum())
    rows = rows[keep & ~dup]
    items[part] = [keys[r] for r in rows]
    x[part], y[part] = x_NxD[rows], y_NxV[rows]
  ds = datasets.get_dataset(name)
  return ContentData(name, ds.format, ds.language, items, x, y, dropped)


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
