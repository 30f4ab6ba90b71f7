"""Pictures of the space: every head row (emotion variable) of every format in 2-D, tied rows joined.

The first two principal components of the head bank; each row is a labelled point, coloured by
format, and rows tied by the soft-sharing loss are joined by a line. Rows are L2-normalised first
because the sharing loss ties *directions* (norms differ between formats). Optionally, label
embeddings of a mapping dataset are drawn in the same projection, coloured by one variable.

  .venv/bin/python -m emojax.pictures checkpoints/mapping docs/head_rows.png [--color=va:valence]
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emojax import mapping_data, splits  # noqa: E402


def pca_2d(x_NxE: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and the top-2 principal directions (2 x E) of the rows of x."""
  mean = x_NxE.mean(0)
  _, _, vt = np.linalg.svd(x_NxE - mean, full_matrices=False)
  return mean, vt[:2]


def plot_head_rows(model, path: str | pathlib.Path, color: str | None = None) -> pathlib.Path:
  bank = np.asarray(model.params["bank"], np.float64)
  unit = bank / np.linalg.norm(bank, axis=1, keepdims=True)
  mean, axes_2xE = pca_2d(unit)
  xy = (unit - mean) @ axes_2xE.T
  names = model.layout.row_names()
  fig, ax = plt.subplots(figsize=(8, 7))
  if color is not None:
    fmt_name, variable = color.split(":")
    _scatter_embeddings(ax, model, fmt_name, variable, mean, axes_2xE, bank)
  for i, j in model.layout.tie_pairs:
    ax.plot(*xy[[i, j]].T, color="0.6", lw=1, zorder=1)
  cmap = plt.get_cmap("tab10")
  for k, fmt in enumerate(model.layout.formats):
    rows = range(model.layout.rows(fmt).start, model.layout.rows(fmt).stop)
    ax.scatter(xy[list(rows), 0], xy[list(rows), 1], color=cmap(k), s=50, zorder=3, label=fmt)
    for r in rows:
      ax.annotate(names[r].split(":")[1], xy[r], textcoords="offset points", xytext=(4, 4),
                  fontsize=9, color=cmap(k))
  ax.set_title("Head rows of every format (unit length), first two principal components;\n"
               "tied rows joined by a line")
  ax.legend(title="format")
  ax.set_xlabel("PC 1")
  ax.set_ylabel("PC 2")
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def _scatter_embeddings(ax, model, fmt_name, variable, mean, axes_2xE, bank):
  """Label embeddings of every mapping pair with `fmt_name`, projected like the (unit) head rows."""
  values, embeddings = [], []
  for name in model.meta["config"]["pairs"]:
    data = mapping_data.load_pair(name)
    for side, fmt in (("a", data.format_a), ("b", data.format_b)):
      if fmt.name != fmt_name:
        continue
      y = np.concatenate([getattr(data, side)[p] for p in splits.PARTS])
      embeddings.append(model.embed_labels(y, fmt_name))
      values.append(y[:, fmt.variables.index(variable)])
  if not embeddings:
    raise ValueError(f"no mapping dataset of this model has format {fmt_name!r}")
  e = np.concatenate(embeddings)
  # Scale embeddings onto the unit-row picture by the mean row norm.
  xy = (e / np.linalg.norm(bank, axis=1).mean() - mean) @ axes_2xE.T
  points = ax.scatter(xy[:, 0], xy[:, 1], c=np.concatenate(values), cmap="coolwarm", s=6,
                      alpha=0.5, zorder=0)
  plt.colorbar(points, ax=ax, label=f"{fmt_name}:{variable} of each item")


if __name__ == "__main__":
  import emojax
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("workdir")
  p.add_argument("out")
  p.add_argument("--color", default=None, help="format:variable, e.g. va:valence")
  args = p.parse_args()
  print(plot_head_rows(emojax.load(args.workdir), args.out, args.color))
