"""Is the space psychologically plausible? Measured, not pictured.

For every pair of head rows (emotion variables) whose variables were rated on the same items in
the mapping data, compare the cosine of the two rows with the Pearson correlation of the two
variables over those items (all split parts). If related variables lie close together, the two
agree: `plausibility` returns the table and the Spearman rank correlation between them. Pairs of
the same variable in two formats (tied rows) are left out: their closeness is trained directly.

  .venv/bin/python -m emojax.plausibility checkpoints/mapping
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from emojax import losses, mapping_data, splits


def _rank(x: np.ndarray) -> np.ndarray:
  """Ranks from 0, tied values sharing the mean of their ranks (as Spearman's correlation needs)."""
  _, group, counts = np.unique(x, return_inverse=True, return_counts=True)
  return (np.cumsum(counts) - (counts + 1) / 2)[group]


def plausibility(model) -> dict:
  """Rows: (variable a, variable b, cosine of head rows, Pearson r over items, n items)."""
  names = model.layout.row_names()
  tied = {tuple(sorted(p)) for p in model.layout.tie_pairs.tolist()}
  bank = np.asarray(model.params["bank"])
  rows = []
  for pair_name in model.meta["config"]["pairs"]:
    data = mapping_data.load_pair(pair_name)
    fa, fb = data.format_a, data.format_b
    y = np.concatenate([np.concatenate([data.a[p], data.b[p]], 1) for p in splits.PARTS])
    labels = [f"{fa.name}:{v}" for v in fa.variables] + [f"{fb.name}:{v}" for v in fb.variables]
    for i, j in itertools.combinations(range(len(labels)), 2):
      ri, rj = names.index(labels[i]), names.index(labels[j])
      if tuple(sorted((ri, rj))) in tied:
        continue
      cos = float(losses.cosine_rows(bank, np.array([[ri, rj]], np.int32))[0])
      r = float(np.corrcoef(y[:, i], y[:, j])[0, 1])
      rows.append({"a": labels[i], "b": labels[j], "dataset": pair_name, "cosine": cos,
                   "pearson": r, "n": int(len(y))})
  cos = np.array([r["cosine"] for r in rows])
  pear = np.array([r["pearson"] for r in rows])
  spearman = float(np.corrcoef(_rank(cos), _rank(pear))[0, 1])
  return {"rows": rows, "spearman": spearman, "pearson_of_cosines": float(np.corrcoef(cos, pear)[0, 1])}


def markdown(result: dict) -> str:
  lines = [f"Spearman rank correlation between head-row cosine and item-level Pearson r: "
           f"**{result['spearman']:.3f}** over {len(result['rows'])} variable pairs "
           f"(Pearson {result['pearson_of_cosines']:.3f}).", "",
           "| variable a | variable b | dataset | cosine of head rows | Pearson r over items | n |",
           "|---|---|---|---|---|---|"]
  for r in sorted(result["rows"], key=lambda r: -r["pearson"]):
    lines.append(f"| {r['a']} | {r['b']} | {r['dataset']} | {r['cosine']:.3f} | {r['pearson']:.3f} | {r['n']} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  import emojax
  print(markdown(plausibility(emojax.load(sys.argv[1] if len(sys.argv) > 1 else "checkpoints/mapping"))))
