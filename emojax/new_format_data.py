"""Texts labelled in formats no stage-1 model was trained on: ISEAR (isear7) and GoEmotions (ekman6).

The material `emojax.new_format` learns a new format's head and label encoder from, as
`content_data.ContentData` (cached MiniLM features, canonical labels, items per split part). The
datasets are the class-format declarations of `emojax.datasets` (`datasets.names(classes=True)`),
their files read by `emojax.readers`:
- **ISEAR** (`emojax/data/isear/isear.csv`, CC BY-NC-SA 3.0): 7,666 self-reported situations, one
  of seven classes each. The CSV has quoted multi-line texts (a real CSV parser is needed); the
  .mdb conversion ended every wrapped line with "á" + newline, which is read as a space. Items and
  split are the paper's `ISEAR_splits.json` (MYKEY values, 5,960 / 745 / 746): the 215 records
  it leaves out are the non-answers ("[ No response.]", "Nothing.", ...) its `make_splits.py`
  dropped (`readers.is_non_answer` is that rule; a test checks they agree).
- **GoEmotions** (`emojax/data/goemotions/`, Apache-2.0): Reddit comments with any subset of 27
  emotions + neutral, official train/dev/test files (tab-separated, no quoting). `ekman_mapping.json`
  folds the 27 emotions into Ekman's six: an item's ekman6 vector has a 1 for every class one of its
  labels maps to. "neutral" maps to no class, so an item labelled only neutral keeps the empty
  label set (all zeros) in every part: a multi-label format can say "none of these", and macro F1
  then also asks the model not to fire on neutral comments.
`train_items` > 0 keeps a documented deterministic subset of train: the first that many of
`numpy.random.RandomState(0).permutation(n)` over the part's rows (dev/test stay complete).
"""

from __future__ import annotations

import pathlib

import numpy as np

from emojax import content_data, datasets, splits, text_data


def train_subset(n: int, keep: int) -> np.ndarray:
  """Rows of a deterministic train subset: the first `keep` of RandomState(0).permutation(n), in
  file order; keep <= 0 or >= n keeps everything."""
  if keep <= 0 or keep >= n:
    return np.arange(n)
  return np.sort(np.random.RandomState(0).permutation(n)[:keep])


def parts(name: str, *, train_items: int = 0) -> tuple[dict[str, tuple], dict[str, dict[str, int]]]:
  """part -> (keys, texts, 0/1 labels) of a class-format text dataset, and what was left out."""
  ds = datasets.get_dataset(name, "texts", classes=True)
  table = datasets.read_table(ds)
  split = splits.split_of(name)
  row = {k: i for i, k in enumerate(table.keys)}
  dropped = {}
  unsplit = len(table.keys) - sum(len(v) for v in split.values())
  if unsplit:
    dropped[f"not in its split ({ds.split})"] = {"all": unsplit}
  out = {}
  for p in splits.PARTS:
    rows = np.asarray([row[k] for k in split[p]], np.int64)
    if p == "train":
      keep = train_subset(len(rows), train_items)
      if len(keep) < len(rows):
        dropped["not in the train subset"] = {"train": len(rows) - len(keep)}
      rows = rows[keep]
    out[p] = ([table.keys[r] for r in rows], [table.content[r] for r in rows], table.y[rows])
  return out, dropped


# -------------------------------------------------------------------------------------- as features

def load(name: str, cache_dir: str | pathlib.Path, *, max_length: int, encoder: str = "minilm",
         pooling: str = "last", max_items: int = 0, train_items: int = 0,
         show_progress: bool = True) -> content_data.ContentData:
  """A dataset as `ContentData` with sentence-encoder features (the settings of the frozen text encoder).
  `max_items` > 0 keeps the first that many items of each part (tests); `train_items` applies to
  the train part (see the module docstring). Features are cached per part."""
  ds = datasets.get_dataset(name, "texts", classes=True)
  by_part, dropped = parts(name, train_items=train_items)
  items, x, y = {}, {}, {}
  for p in splits.PARTS:
    keys, texts, yy = by_part[p]
    if max_items:
      keys, texts, yy = keys[:max_items], texts[:max_items], yy[:max_items]
    items[p], y[p] = list(keys), np.asarray(yy, np.float32)
    x[p] = text_data.cached_text_features(f"{name}_{p}", texts, max_length, cache_dir,
                                          encoder=encoder, pooling=pooling, show_progress=show_progress)
  return content_data.ContentData(name, ds.format, ds.language, items, x, y, dropped)
