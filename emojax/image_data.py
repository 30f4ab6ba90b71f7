"""Image datasets for stage 2: BASS silhouettes as cached MobileNetV2 features + VA labels.

BASS (Kawai, Lukács & Ansorge 2020; `emojax/data/bass/`, CC BY 4.0) has 583 black-and-white
silhouettes, each rated for valence and arousal by a US and a Chinese sample. The two rater
populations are two declarations of `emojax.datasets` (modality "images", format `va`, nominal
scale 1-9 of the BASS study, rescaled to [-1, 1]) of one `group`, so they share one split: 3:1:1 by
image name, committed as `emojax/data/splits/images/bass.json` (`emojax.splits`). They are no
mapping pair (same format), hence no zero-shot directions; Mlt trains one encoder on both
(`datasets.rater_groups`).

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

from emojax import content_data, datasets, splits

FEATURE_NAME = "mobilenet_v2_imagenet"  # what `content_results` reports as the features
FEATURE_DIM = 1280
FEATURE_BATCH = 32


def image_dir(name: str) -> pathlib.Path:
  """The folder holding an image dataset's files, one per item, named by its key."""
  return datasets.DATA_DIR / datasets.get_dataset(name, "images").files


IMAGE_DIR = image_dir(datasets.names("images")[0])  # the bundled BASS silhouettes


def image_labels(name: str) -> tuple[tuple[str, ...], np.ndarray]:
  """(image keys, labels on the canonical scale) of an image rating dataset."""
  table = datasets.read_table(datasets.get_dataset(name, "images"))
  return table.keys, table.y


def image_names(name: str = datasets.names("images")[0]) -> list[str]:
  """Every image of a dataset (the bundled BASS by default), by file name."""
  return sorted(image_labels(name)[0])


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


def cached_image_features(paths: Sequence[pathlib.Path], cache_dir, label: str = "bass") -> np.ndarray:
  """Features of image files, cached under the model's and every file's content hash."""
  key = [FEATURE_NAME, _weights_sha(), [(p.name, _sha256(p)) for p in paths]]
  return content_data.cached_features(cache_dir, f"{label}.{FEATURE_NAME}", key,
                                      lambda: {"x": image_features(paths)})["x"]


def load_images(name: str, cache_dir, max_items: int = 0) -> content_data.ContentData:
  """An image rating dataset as `ContentData`: cached features, labels in canonical units, its
  split (shared by the datasets of its group)."""
  keys, y_NxV = image_labels(name)
  row = {k: i for i, k in enumerate(keys)}
  split = subset(splits.split_of(name), max_items)
  names = [k for p in splits.PARTS for k in split[p]]
  ds = datasets.get_dataset(name)
  x_NxD = cached_image_features([image_dir(name) / k for k in names], cache_dir, ds.group or name)
  at = {k: i for i, k in enumerate(names)}
  x = {p: x_NxD[[at[k] for k in split[p]]] for p in splits.PARTS}
  y = {p: y_NxV[[row[k] for k in split[p]]] for p in splits.PARTS}
  return content_data.ContentData(name, ds.format, ds.language,
                                  {p: list(split[p]) for p in splits.PARTS}, x, y, {})  # none dropped

