"""Compares two trained workdirs: exported parameters bit for bit, results.json numbers to a tolerance.

  .venv/bin/python scripts/compare_runs.py /tmp/before/mapping /tmp/after/mapping
  .venv/bin/python scripts/compare_runs.py /tmp/before/words /tmp/after/words --atol=1e-5

For refactors that must not change what a run computes: two runs of the same config and seed, made
by two revisions of emojax, are compared array by array (`model/`, read with Orbax without a target,
so the comparison does not depend on either revision's code) and number by number (every numeric
leaf of `results.json` except wall-clock timings). Prints one line per difference and a summary;
exits 1 when parameters differ or a number differs by more than `--atol`.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

TIMING_KEYS = ("timing", "wall_s", "seconds", "steps_per_s", "rate")


def parameters(workdir: pathlib.Path) -> dict[str, np.ndarray]:
  checkpointer = ocp.StandardCheckpointer()
  try:
    tree = checkpointer.restore((workdir / "model").resolve())
  finally:
    checkpointer.close()
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def numbers(tree, prefix: str = "") -> dict[str, float]:
  out = {}
  if isinstance(tree, dict):
    for key, value in tree.items():
      if not any(t in str(key) for t in TIMING_KEYS):
        out.update(numbers(value, f"{prefix}.{key}" if prefix else str(key)))
  elif isinstance(tree, list):
    for i, value in enumerate(tree):
      out.update(numbers(value, f"{prefix}[{i}]"))
  elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
    out[prefix] = float(tree)
  return out


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("before", type=pathlib.Path)
  p.add_argument("after", type=pathlib.Path)
  p.add_argument("--atol", type=float, default=0.0, help="largest accepted |difference| of a number")
  args = p.parse_args()
  failed = False

  pa, pb = parameters(args.before), parameters(args.after)
  if pa.keys() != pb.keys():
    print(f"parameter trees differ: only before {sorted(pa.keys() - pb.keys())}, "
          f"only after {sorted(pb.keys() - pa.keys())}")
    failed = True
  same = [k for k in pa.keys() & pb.keys() if pa[k].shape == pb[k].shape and np.array_equal(pa[k], pb[k])]
  for k in sorted((pa.keys() & pb.keys()) - set(same)):
    diff = np.max(np.abs(pa[k] - pb[k])) if pa[k].shape == pb[k].shape else "shape"
    print(f"parameter {k}: differs (max |diff| {diff})")
    failed = True
  print(f"parameters: {len(same)} of {len(pa)} arrays bit-identical")

  na = numbers(json.loads((args.before / "results.json").read_text()))
  nb = numbers(json.loads((args.after / "results.json").read_text()))
  worst = 0.0
  for k in sorted(na.keys() | nb.keys()):
    if k not in na or k not in nb:
      print(f"results {k}: only in {'before' if k in na else 'after'}")
      failed = True
      continue
    a, b = na[k], nb[k]
    if math.isnan(a) and math.isnan(b):
      continue
    d = abs(a - b)
    worst = max(worst, d)
    if d > args.atol:
      print(f"results {k}: {a!r} -> {b!r}")
      failed = True
  print(f"results.json: {len(na)} numbers, largest |difference| {worst:.3g} (tolerance {args.atol:g})")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
