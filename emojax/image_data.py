"""Image datasets for stage 2: BASS silhouettes as cached MobileNetV2 features + VA labels.

BASS (Kawai, Lukács & Ansorge 2020; `emojax/data/bass/`, CC BY 4.0) has 583 black-and-white
silhouettes, each rated for valence and arousal by a US and a Chinese sample. The two rater
populations are two `LabelTable`s of format `va` over the same images (nominal scale 1-9, the
scale of the BASS study, rescaled to [-1, 1]), so they share one split: 3:1:1 by image name
(`splits.ratio_split`), written to `emojax/data/splits/images/bass.json` by
`python -m emojax.image_data` and checked by the tests. They are no mapping pair (same format),
hence no zero-shot directions; Mlt trains one encoder on both (`MLT_GROUPS`).

Features are MobileNetV2's 1280-d globally pooled ImageNet features (`emojax.encoders.mobilenet`,
torchvision eval preprocessing at 224 px), computed once and cached by `content_data.cached_features`
under a key of the weights file's sha256 and every image file's sha256.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from emojax import content_data, datasets, splits

BASS_DIR = "bass"
IMAGE_DIR = datasets.DATA_DIR / BASS_DIR / "images"
SPLIT_NAME = "images/bass"
FEATURE_NAME = "mobilenet_v2_imagenet"  # what `content_results` reports as the features
FEATURE_DIM = 1280
FEATURE_BATCH = 32


def _read_bass(path: pathlib.Path) -> pd.DataFrame:
  # Some numeric cells carry a trailing space ("944.3995 "): strip every cell.
  frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str, skipinitialspace=True)
  return frame.apply(lambda c: c.str.strip())


def _bass_table(name: str, suffix: str, language: str) -> datasets.LabelTable:
  return datasets.LabelTable(name, f"{BASS_DIR}/BASS_data.csv", "file_name", "va",
                             (f"val_mean_{suffix}", f"aro_mean_{suffix}"), ((1, 9),) * 2, language,
                             reader=_read_bass)


# Rater population = the table; "language" is the raters' (US: en, China: zh).
IMAGE_TABLES: dict[str, datasets.LabelTable] = {t.name: t for t in [
    _bass_table("bass_us_va", "us", "en"),
    _bass_table("bass_ch_va", "ch", "zh"),
]}
IMAGE_DATASETS = tuple(IMAGE_TABLES)
MLT_GROUPS = (IMAGE_DATASETS,)  # one encoder on both rater populations (no mapping pair links them)


def get_table(name: str) -> datasets.LabelTable:
  if name not in IMAGE_TABLES:
    raise KeyError(f"unknown image dataset {name!r}; known: {list(IMAGE_TABLES)}")
  return IMAGE_TABLES[name]


@functools.cache
def image_labels(name: str) -> tuple[tuple[str, ...], np.ndarray]:
  """(image keys, labels on the canonical scale) of an image rating table."""
  keys, y = datasets.read_labels(get_table(name))
  return tuple(keys), y


def image_names() -> list[str]:
  """Every BASS image, by file name (identical for both rater tables)."""
  return sorted(image_labels(IMAGE_DATASETS[0])[0])


def compute_split() -> dict[str, list[str]]:
  return splits.ratio_split(image_names())


def load_split() -> dict[str, list[str]]:
  split = splits.load_split(SPLIT_NAME)
  listed = [k for p in splits.PARTS for k in split[p]]
  if sorted(listed) != image_names():
    raise ValueError(f"split {SPLIT_NAME}.json does not list every BASS image exactly once; "
                     f"regenerate with `python -m emojax.image_data`")
  return split


def subset(split: dict[str, list[str]], max_items: int) -> dict[str, list[str]]:
  """The first items of each part in proportion to its size (quick runs); 0 keeps everything."""
  total = sum(len(v) for v in split.values())
  if not max_items or max_items >= total:
    return split
  return {p: v[:max(2, round(max_items * len(v) / total))] for p, v in split.items()}


def _sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@functools.cache
def _weights_sha() -> str:
  from emojax.encoders import mobilenet
  return _sha256(mobilenet.default_weights_path())


@functools.cache
def _extractor():
  from emojax.encoders import mobilenet  # loads 14 MB of weights on first use
  return mobilenet.MobileNetFeatures()


def image_features(images: Sequence) -> np.ndarray:
  """MobileNetV2 pooled features (N x 1280 float32) of paths or arrays of any size and channels;
  an unreadable file raises a ValueError naming it. Batches of 8 for up to 24 images, else 32:
  two compiled shapes of the CNN at most, and little padding for a few images."""
  images = list(images)
  return _extractor().features(images, batch_size=8 if len(images) <= 24 else FEATURE_BATCH)


def cached_image_features(paths: Sequence[pathlib.Path], cache_dir) -> np.ndarray:
  """Features of image files, cached under the model's and every file's content hash."""
  key = [FEATURE_NAME, _weights_sha(), [(p.name, _sha256(p)) for p in paths]]
  return content_data.cached_features(cache_dir, f"bass.{FEATURE_NAME}", key,
                                      lambda: {"x": image_features(paths)})["x"]


def load_images(name: str, cache_dir, max_items: int = 0) -> content_data.ContentData:
  """A BASS rater table as `ContentData`: cached features, VA labels in [-1, 1], shared split."""
  keys, y_NxV = image_labels(name)
  row = {k: i for i, k in enumerate(keys)}
  split = subset(load_split(), max_items)
  names = [k for p in splits.PARTS for k in split[p]]
  x_NxD = cached_image_features([IMAGE_DIR / k for k in names], cache_dir)
  at = {k: i for i, k in enumerate(names)}
  x = {p: x_NxD[[at[k] for k in split[p]]] for p in splits.PARTS}
  y = {p: y_NxV[[row[k] for k in split[p]]] for p in splits.PARTS}
  table = get_table(name)
  return content_data.ContentData(name, table.format, table.language,
                                  {p: list(split[p]) for p in splits.PARTS}, x, y, {})  # none dropped


if __name__ == "__main__":
  (splits.SPLIT_DIR / "images").mkdir(parents=True, exist_ok=True)
  print(splits.write_split(SPLIT_NAME, compute_split()))
