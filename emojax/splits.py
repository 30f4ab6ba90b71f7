"""Deterministic train/dev/test splits that every stage shares, so nothing leaks between stages.

The rule (the one the reference numbers used): sort the items, permute them with
`numpy.random.RandomState(0).permutation(n)`, then the first round(3n/5) are train, the next
round(n/5) dev and the rest test. `extend_split` keeps every item that already has a part where it
is and splits only the new items by the same rule; this is how the Imbir∩Wierzba words inherit the
Riegel∩Wierzba split and how later content datasets inherit the mapping test words. The committed
split files under `emojax/data/splits/` are written by `python -m emojax.splits` and checked
against the rule by the tests.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Mapping

import numpy as np

PARTS = ("train", "dev", "test")
SPLIT_DIR = pathlib.Path(__file__).parent / "data" / "splits"


def ratio_split(items: Iterable[str], seed: int = 0) -> dict[str, list[str]]:
  ordered = sorted(set(items))
  n = len(ordered)
  permuted = [ordered[i] for i in np.random.RandomState(seed).permutation(n)]
  n_train, n_dev = round(3 * n / 5), round(n / 5)
  return {"train": permuted[:n_train], "dev": permuted[n_train:n_train + n_dev],
          "test": permuted[n_train + n_dev:]}


def part_of(split: Mapping[str, list[str]]) -> dict[str, str]:
  return {item: part for part in PARTS for item in split.get(part, [])}


def extend_split(existing: Mapping[str, list[str]], items: Iterable[str]) -> dict[str, list[str]]:
  """Split of `items`: items known to `existing` keep their part, the rest follow the rule."""
  items = sorted(set(items))
  known = part_of(existing)
  fresh = ratio_split([i for i in items if i not in known])
  out = {p: [i for i in items if known.get(i) == p] for p in PARTS}
  for p in PARTS:
    out[p] += fresh[p]
  return out


def load_split(name: str) -> dict[str, list[str]]:
  path = SPLIT_DIR / f"{name}.json"
  if not path.exists():
    raise FileNotFoundError(f"split file {path} is missing; regenerate with `python -m emojax.splits`")
  return json.loads(path.read_text())


def write_split(name: str, split: Mapping[str, list[str]]) -> pathlib.Path:
  SPLIT_DIR.mkdir(parents=True, exist_ok=True)
  path = SPLIT_DIR / f"{name}.json"
  path.write_text(json.dumps({p: list(split[p]) for p in PARTS}, ensure_ascii=False, indent=0) + "\n")
  return path


if __name__ == "__main__":
  from emojax import mapping_data
  for pair in mapping_data.PAIRS.values():
    print(write_split(pair.name, mapping_data.compute_split(pair)))
