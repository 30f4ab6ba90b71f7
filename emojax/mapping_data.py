"""Mapping datasets: items rated in two formats, the training material of the emotion codec.

A `MappingPair` joins two label tables on their item key (the Spanish word, the headline id) and
names where its split comes from: the 3:1:1 rule, another pair whose items it inherits (so one
language's words never change sides between pairs), or one of the paper's split files. Every real
two-format pair of the bundled data is declared in `PAIRS`. `load_pair` returns canonical labels
per split part, ready for the trainer.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np

from emojax import datasets, formats, splits


@dataclasses.dataclass(frozen=True)
class MappingPair:
  name: str
  table_a: str
  table_b: str
  split_from: str = "rule"  # "rule" | "pair:<name>" | "file:<path under emojax/data>"
  description: str = ""

  @property
  def formats(self) -> tuple[str, str]:
    return datasets.get_table(self.table_a).format, datasets.get_table(self.table_b).format


PAIRS: dict[str, MappingPair] = {p.name: p for p in [
    MappingPair("es_va_be5", "stadthagen_va", "stadthagen_be5",
                description="Spanish words, Stadthagen-González 2017 VA ∩ 2018 BE5"),
    MappingPair("pl_va_be5", "riegel_va", "wierzba_be5",
                description="Polish words (NAWL), Riegel 2015 VA ∩ Wierzba 2015 BE5"),
    MappingPair("pl_vad_be5", "imbir_vad", "wierzba_be5", split_from="pair:pl_va_be5",
                description="Polish words, Imbir 2016 VAD ∩ Wierzba 2015 BE5"),
    MappingPair("de_vad_be5", "schmidtke_vad", "briesemeister_be5",
                description="German words, Schmidtke 2014 VAD ∩ Briesemeister 2011 BE5 (case-insensitive)"),
    MappingPair("en_vad_be6", "emobank_vad", "afftext_be6",
                split_from="file:emotion_embeddings_splits/AffTextEB_splits.json",
                description="English headlines, EmoBank VAD ∩ SemEval-2007 Affective Text BE6"),
    # Stage 2 for texts only (BsZ mapping nets, siblings): the same headlines in the BE5 view.
    MappingPair("en_vad_be5", "emobank_vad", "afftext_be5", split_from="pair:en_vad_be6",
                description="English headlines, EmoBank VAD ∩ Affective Text BE5 (stage 2 only)"),
]}

STAGE2_ONLY = ("en_vad_be5",)  # same items as en_vad_be6: stage 1 would count them twice
DEFAULT_PAIRS = tuple(p for p in PAIRS if p not in STAGE2_ONLY)


def get_pair(name: str) -> MappingPair:
  if name not in PAIRS:
    raise KeyError(f"unknown mapping dataset {name!r}; known: {sorted(PAIRS)}")
  return PAIRS[name]


@functools.cache
def _labels(table: str) -> tuple[list[str], np.ndarray]:
  return datasets.read_labels(datasets.get_table(table))


def shared_items(pair: MappingPair) -> list[str]:
  keys_b = set(_labels(pair.table_b)[0])
  return sorted(k for k in _labels(pair.table_a)[0] if k in keys_b)


def compute_split(pair: MappingPair) -> dict[str, list[str]]:
  """The split by the pair's declared rule (what `python -m emojax.splits` writes to disk)."""
  items = shared_items(pair)
  kind, _, source = pair.split_from.partition(":")
  if kind == "rule":
    return splits.ratio_split(items)
  if kind == "pair":
    return splits.extend_split(compute_split(get_pair(source)), items)
  if kind == "file":
    ids = json.loads((datasets.DATA_DIR / source).read_text())
    prefix = datasets.get_table(pair.table_b).key_prefix
    known = set(items)
    return {p: [f"{prefix}{i}" for i in ids[p] if f"{prefix}{i}" in known] for p in splits.PARTS}
  raise ValueError(f"pair {pair.name!r}: unknown split source {pair.split_from!r}")


@dataclasses.dataclass(frozen=True)
class PairData:
  """Canonical labels of one mapping pair, per split part: items[part], a[part] (N x V_A), b[part]."""

  pair: MappingPair
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
  pair = get_pair(name)
  split = splits.load_split(pair.name)
  rows_a = {k: i for i, k in enumerate(_labels(pair.table_a)[0])}
  rows_b = {k: i for i, k in enumerate(_labels(pair.table_b)[0])}
  items, a, b = {}, {}, {}
  for part in splits.PARTS:
    unknown = [k for k in split[part] if k not in rows_a or k not in rows_b]
    if unknown:
      raise ValueError(f"split {pair.name}.json names items missing from the data: {unknown[:5]}")
    items[part] = list(split[part])
    a[part] = _labels(pair.table_a)[1][[rows_a[k] for k in split[part]]]
    b[part] = _labels(pair.table_b)[1][[rows_b[k] for k in split[part]]]
  return PairData(pair, items, a, b)
