"""Deterministic train/dev/test splits that every stage shares, so nothing leaks between stages.

A declaration's `split` (`emojax.datasets`) is one of:
- `"rule"`: sort the items, permute them with `numpy.random.RandomState(0).permutation(n)`, then the
  first round(3n/5) are train, the next round(n/5) dev and the rest test (the reference numbers' rule);
- `"column:<name>"`: a column of the file names each item's part (train/dev/test), items in file order;
- `"file:<path>"`: the parts a JSON file under `emojax/data/` lists, in its order, its entries written
  as the raw file writes keys (a pair's: as its second dataset's file does); items it does not list
  are left out;
- `"pair:<name>"`: a mapping pair's split, for the items the pair has; others are left out;
  `"pair:<a>,<b>,..."` takes each item's part from every listed declaration that has it (pairs, or
  word tables declared before: they must agree);
- `"<file or pair>+rule"`: items listed keep their part, the other items follow the rule
  (`extend_split`). This is how the Imbir∩Wierzba words inherit the Riegel∩Wierzba split, how
  each later Spanish or Dutch pair extends every earlier pair of its language (so no word is on
  two sides of any two pairs) and how the word and text datasets inherit the mapping pairs' test items.
A dataset in a mapping pair must put the pair's items where the pair does (checked when computed).
The committed split files under `emojax/data/splits/` (a declaration's `split_file`) are written by
`python -m emojax.splits`, the one writer, and checked against their rule by the tests. Your own
data's split files (`datasets.declare`) live in the run's workdir, `<workdir>/splits/<name>.json`:
computed by the rule and written there when first used, read back (and checked) by a rerun.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable, Mapping

import numpy as np

from emojax import datasets

PARTS = ("train", "dev", "test")
SPLIT_DIR = pathlib.Path(__file__).parent / "data" / "splits"
SOURCES = ("file", "pair", "column")


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


def parse(rule: str) -> tuple[str, str, bool]:
  """A split rule as (kind, argument, extended by the rule)."""
  base, plus, rest = rule.partition("+")
  kind, _, arg = base.partition(":")
  ok = (kind == "rule" and not arg and not plus) or (
      kind in SOURCES and arg and (not plus or (rest == "rule" and kind != "column")))
  if not ok:
    raise ValueError(f"split rule {rule!r} is not one of 'rule', 'column:<name>', 'file:<path>', "
                     f"'pair:<name>', 'file:<path>+rule', 'pair:<name>+rule'")
  return kind, arg, bool(plus)


def split_path(name: str) -> pathlib.Path:
  """The file of a `split_file`: a name under emojax/data/splits, or an absolute path (your own)."""
  return SPLIT_DIR / f"{name}.json"  # an absolute name stays as it is


def is_committed(name: str) -> bool:
  return split_path(name).resolve().is_relative_to(SPLIT_DIR.resolve())


def load_split(name: str) -> dict[str, list[str]]:
  """A split file by its name under emojax/data/splits (e.g. "es_va_be5", "words/riegel_va"), or by
  its absolute path without `.json`."""
  path = split_path(name)
  if not path.exists():
    raise FileNotFoundError(f"split file {path} is missing; regenerate with `python -m emojax.splits`")
  return json.loads(path.read_text())


def write_split(name: str, split: Mapping[str, list[str]]) -> pathlib.Path:
  path = split_path(name)
  path.parent.mkdir(parents=True, exist_ok=True)
  # Written whole or not at all (another process of a multi-host run may write the same file).
  tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  tmp.write_text(json.dumps({p: list(split[p]) for p in PARTS}, ensure_ascii=False, indent=0) + "\n")
  os.replace(tmp, path)
  return path


def _declaration(name) -> datasets.Dataset | datasets.Pair:
  return datasets.get(name) if isinstance(name, str) else name


def _from_file(decl, path: str, items: tuple[str, ...]) -> dict[str, list[str]]:
  listed = json.loads((datasets.DATA_DIR / path).read_text())
  keyed = datasets.get_dataset(decl.b) if isinstance(decl, datasets.Pair) else decl
  known = set(items)
  out = {}
  for p in PARTS:
    keys = (keyed.key_prefix + keyed.key_transform(str(i)) for i in listed[p])
    out[p] = [k for k in keys if k in known]
  return out


def compute(name: str | datasets.Dataset | datasets.Pair) -> dict[str, list[str]]:
  """The split of a declaration by its rule, from the data (what the writer writes)."""
  decl = _declaration(name)
  kind, arg, extended = parse(decl.split)
  items = datasets.item_keys(decl)
  if kind == "rule":
    split = ratio_split(items)
  elif kind == "column":
    if isinstance(decl, datasets.Pair):
      raise ValueError(f"pair {decl.name!r}: a pair has no file of its own; use 'file:' or 'pair:'")
    parts = datasets.read_table(decl).parts
    odd = sorted({p for p in parts.values() if p not in PARTS})
    if odd:
      raise ValueError(f"dataset {decl.name!r}: column {arg!r} holds {odd}, not only {list(PARTS)}")
    split = {p: [k for k in items if parts[k] == p] for p in PARTS}
  else:
    base = _from_file(decl, arg, items) if kind == "file" else merged_pair_splits(arg.split(","))
    known = set(items)
    split = extend_split(base, items) if extended else {p: [k for k in base[p] if k in known]
                                                        for p in PARTS}
  if isinstance(decl, datasets.Dataset):
    _check_pairs(decl, split)
  return split


def merged_pair_splits(pair_names) -> dict[str, list[str]]:
  """The parts of every item of the named declarations' splits (pairs, or tables whose split is
  settled); an item two of them put on different sides is an error (a test word would leak)."""
  part, origin = {}, {}
  for name in pair_names:
    for item, p in part_of(split_of(name)).items():
      if part.setdefault(item, p) != p:
        raise ValueError(f"{origin[item]} and {name} put {item!r} in {part[item]} and {p}: split "
                         f"the later one with 'pair:{origin[item]},...+rule'")
      origin.setdefault(item, name)
  return {p: [i for i, q in part.items() if q == p] for p in PARTS}


def _check_pairs(ds: datasets.Dataset, split: Mapping[str, list[str]]) -> None:
  """A test item of a mapping pair never lands in a member dataset's train part (or vice versa)."""
  mine = part_of(split)
  for pair in map(datasets.get_pair, datasets.pair_names()):
    if ds.name not in (pair.a, pair.b):
      continue
    moved = [k for k, p in part_of(split_of(pair)).items() if k in mine and mine[k] != p]
    if moved:
      raise ValueError(f"{ds.name}: its split ({ds.split}) puts {len(moved)} items of mapping pair "
                       f"{pair.name} on another side than the pair does, e.g. {moved[:3]}")


def split_of(name: str | datasets.Dataset | datasets.Pair) -> dict[str, list[str]]:
  """The split consumers use: the committed file if the declaration has one (checked against the
  data), else computed by the rule. Your own data's file (outside the package) is computed and
  written when missing."""
  decl = _declaration(name)
  if not decl.split_file:
    return compute(decl)
  if not is_committed(decl.split_file) and not split_path(decl.split_file).exists():
    split = compute(decl)
    write_split(decl.split_file, split)
    return split
  split = load_split(decl.split_file)
  listed = [k for p in PARTS for k in split[p]]
  items = set(datasets.item_keys(decl))
  unknown = [k for k in listed if k not in items]
  kind, _, extended = parse(decl.split)
  complete = kind in ("rule", "column") or extended
  if unknown or len(set(listed)) != len(listed) or (complete and len(listed) != len(items)):
    remedy = ("regenerate with `python -m emojax.splits`" if is_committed(decl.split_file) else
              "the data changed since it was written: delete it (or use another workdir) to split anew")
    raise ValueError(f"split {decl.split_file}.json does not list {'every' if complete else 'only'} "
                     f"item of {decl.name!r} exactly once (e.g. unknown {unknown[:5]}); {remedy}")
  return split


def write_all() -> list[pathlib.Path]:
  """Writes every committed split: pairs first (datasets extend them), then datasets; datasets of
  one group share one file, so their rules must agree."""
  decls = sorted(datasets.BUNDLED, key=lambda d: not isinstance(d, datasets.Pair))
  written, paths = {}, []
  for d in (d for d in decls if d.split_file):
    split = compute(d)  # after the splits it extends are written
    if d.split_file not in written:
      written[d.split_file] = split
      paths.append(write_split(d.split_file, split))
    elif written[d.split_file] != split:
      raise ValueError(f"{d.name}: its split differs from another one's written to {d.split_file}.json")
  return paths


if __name__ == "__main__":
  for written in write_all():
    print(written)
