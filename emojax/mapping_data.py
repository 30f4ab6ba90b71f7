"""Mapping datasets: items rated in two formats, the training material of the emotion codec.

A mapping pair is a `datasets.Pair` declaration: two datasets joined on their item key (the
Spanish word, the headline id) and its split rule (`emojax.splits`). `load_pair` returns canonical
labels per split part in the committed split's order, ready for the trainer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from emojax import datasets, formats, splits

DEFAULT_PAIRS = datasets.pair_names(stage1=True)  # stage-2-only pairs would count items twice


@dataclasses.dataclass(frozen=True)
class PairData:
  """Canonical labels of one mapping pair, per split part: items[part], a[part] (N x V_A), b[part]."""

  pair: datasets.Pair
  items: dict[str, list[str]]
  a: dict[str, np.ndarray]
  b: dict[str, np.ndarray]

  @property
  def format_a(self) -> formats.LabelFormat:
    return formats.get_format(self.pair.formats[0])

  @property
  def format_b(self) -> formats.LabelFormat:
    return formats.get_format(self.pair.formats[1])


def load_pair(name: str) -> PairData:
  pair = datasets.get_pair(name)
  split = splits.split_of(pair)
  table_a, table_b = datasets.read_table(pair.a), datasets.read_table(pair.b)
  rows_a = {k: i for i, k in enumerate(table_a.keys)}
  rows_b = {k: i for i, k in enumerate(table_b.keys)}
  items, a, b = {}, {}, {}
  for part in splits.PARTS:
    items[part] = list(split[part])
    a[part] = table_a.y[[rows_a[k] for k in split[part]]]
    b[part] = table_b.y[[rows_b[k] for k in split[part]]]
  return PairData(pair, items, a, b)
