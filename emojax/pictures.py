"""Pictures of a trained space, each made by `emojax plot ...`: head rows, predictions, the two stages.

`plot_head_rows`: every head row (emotion variable) of every format in the first two principal
components of the unit-length head bank (the sharing loss ties *directions*; norms differ between
formats), one marker shape and colour per format; the rows of one equivalence class (`tied_groups`)
that lie close together are spread on a small ring and share one label, the others are joined by a
dashed line. Optionally the label embeddings of the model's mapping data, coloured by one variable.
`plot_predictions`: words, texts or images placed by predicted valence and arousal, coloured by their
strongest basic emotion (calibrated when the model ships its `calibration.json` and was trained
through be5, `emojax.calibration`; else the largest raw value). `plot_overview`: the README's
picture of the two stages (boxes and arrows only). Labels are placed by `place_labels`, a greedy
search for free room around each point (pure numpy), and joined to their point by a leader line
when they had to move away.

  emojax plot heads --model codec --output docs/head_rows.png [--color va:valence]
  emojax plot predictions --model words happy funeral war --output docs/predictions_words.png
  emojax plot overview --output docs/two_stages.png
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from emojax import calibration, checkpoint, formats, mapping_data, splits  # noqa: E402

DPI = 150
HEADS_INCHES = (9.0, 7.0)  # every picture has a fixed size (no tight bbox): tests and README rely on it
PREDICTIONS_INCHES = (9.0, 7.0)
OVERVIEW_INCHES = (13.0, 5.6)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")  # one per format, in the model's order
MARKER_AREA = 70  # points^2
BE5_COLORS = {"joy": "#e6a800", "anger": "#d62728", "sadness": "#1f77b4", "fear": "#7b3fa0",
              "disgust": "#2ca02c"}
DEFAULT_WORDS = ("happy", "love", "gift", "holiday", "kitten", "calm", "funeral", "boring", "cancer",
                 "war", "murder", "angry", "terror", "vomit")
DEFAULT_TEXTS = ("What a wonderful surprise party!", "She said yes! We are getting married",
                 "A quiet evening with a good book", "The meeting was moved to Tuesday",
                 "The dentist appointment is tomorrow", "Tax rates rise again",
                 "The soup was cold and full of hair", "My grandmother passed away",
                 "I lost my job today and my dog died", "I am so scared of the dark",
                 "He screamed at me in front of everyone", "Terrorists attacked the city centre")
DEFAULT_ITEMS = {"words": DEFAULT_WORDS, "texts": DEFAULT_TEXTS}  # `emojax plot predictions` alone


# ----------------------------------------------------------------------------- pure helpers

def pca_2d(x_NxE: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and the top-2 principal directions (2 x E) of the rows of x."""
  mean = x_NxE.mean(0)
  _, _, vt = np.linalg.svd(x_NxE - mean, full_matrices=False)
  return mean, vt[:2]


def tied_groups(layout: formats.HeadLayout) -> list[tuple[int, ...]]:
  """The equivalence classes of head rows (two or more rows the sharing loss ties), as sorted row
  tuples in row order: the connected components of `layout.tie_pairs`."""
  parent = list(range(layout.num_rows))

  def root(i):
    while parent[i] != i:
      parent[i] = parent[parent[i]]
      i = parent[i]
    return i

  for i, j in np.asarray(layout.tie_pairs).reshape(-1, 2).tolist():
    parent[root(i)] = root(j)
  groups: dict[int, list[int]] = {}
  for r in range(layout.num_rows):
    groups.setdefault(root(r), []).append(r)
  return sorted((tuple(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def boxes_overlap(a_4: np.ndarray, b_Mx4: np.ndarray, pad: float = 0.0) -> np.ndarray:
  """Whether box a (x0, y0, x1, y1) overlaps each of the boxes b, with `pad` room between them."""
  b = np.asarray(b_Mx4, np.float64).reshape(-1, 4)
  return ((a_4[0] < b[:, 2] + pad) & (b[:, 0] < a_4[2] + pad)
          & (a_4[1] < b[:, 3] + pad) & (b[:, 1] < a_4[3] + pad))


def place_labels(anchors_Nx2, sizes_Nx2, obstacles_Mx2=None, radius: float = 0.0,
                 bounds=None, pad: float = 2.0, step: float = 6.0, directions: int = 16,
                 rings: int = 60) -> np.ndarray:
  """Boxes (N x 4: x0, y0, x1, y1) for labels of the given sizes next to their anchors, no two
  overlapping (`pad` apart) and none covering an obstacle (circles of `radius` around each anchor
  and each obstacle point). Greedy, in display units: labels of crowded anchors are placed first,
  each at the nearest free spot on rings of growing distance around its anchor (right of the point
  first, then above, ...); spots outside `bounds` (x0, y0, x1, y1) are used only after `rings`
  rings found nothing, so a label always finds room."""
  anchors = np.asarray(anchors_Nx2, np.float64).reshape(-1, 2)
  sizes = np.asarray(sizes_Nx2, np.float64).reshape(-1, 2)
  points = anchors if obstacles_Mx2 is None else np.concatenate(
      [anchors, np.asarray(obstacles_Mx2, np.float64).reshape(-1, 2)])
  # The order of directions: right, upper right, up, ... alternating sides, so labels read naturally.
  angles = np.arange(directions) * 2 * np.pi / directions
  order_dir = np.argsort(np.minimum(angles, 2 * np.pi - angles) + 1e-3 * (angles > np.pi))
  dirs = np.stack([np.cos(angles[order_dir]), np.sin(angles[order_dir])], 1)
  dist = np.linalg.norm(anchors[:, None] - anchors[None], axis=-1)
  crowd = (dist < 4 * step + sizes[:, :1].T).sum(1)
  boxes = np.full((len(anchors), 4), np.nan)
  for i in np.argsort(-crowd, kind="stable"):
    w, h = sizes[i]
    placed = boxes[np.isfinite(boxes[:, 0])]
    k = 0
    while True:
      r = radius + pad + k * step
      for d in dirs:
        # The box sits on the side of direction d, its nearest edge about r from the anchor.
        cx = anchors[i, 0] + d[0] * (r + w / 2)
        cy = anchors[i, 1] + d[1] * (r + h / 2)
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        if bounds is not None and k < rings and (box[0] < bounds[0] or box[1] < bounds[1]
                                                 or box[2] > bounds[2] or box[3] > bounds[3]):
          continue
        if len(placed) and boxes_overlap(box, placed, pad).any():
          continue
        near = np.clip(points, box[:2], box[2:])  # nearest point of the box to each obstacle
        if (np.linalg.norm(near - points, axis=1) < radius + pad).any():
          continue
        boxes[i] = box
        break
      if np.isfinite(boxes[i, 0]):
        break
      k += 1
  return boxes


def shorten(text: str, width: int = 24, lines: int = 2) -> str:
  """The text on at most `lines` lines of about `width` characters, cut with an ellipsis."""
  words, out = " ".join(str(text).split()).split(" "), [""]
  for word in words:
    if out[-1] and len(out[-1]) + 1 + len(word) > width:
      if len(out) == lines:
        out[-1] = out[-1][:width - 1].rstrip() + "\u2026"
        return "\n".join(out)
      out.append("")
    out[-1] = f"{out[-1]} {word}".strip()
  if len(out[-1]) > width:
    out[-1] = out[-1][:width - 1] + "\u2026"
  return "\n".join(out)


# ----------------------------------------------------------------------------- drawing helpers

def _save(fig, path) -> pathlib.Path:
  """Writes the PNG whole or not at all (a temporary file beside it, then renamed)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_name(f".{path.name}.partial")
  try:
    fig.savefig(partial, dpi=DPI, facecolor="white", format="png")
    os.replace(partial, path)
  finally:
    plt.close(fig)
    partial.unlink(missing_ok=True)
  return path


def _draw_labels(ax, anchors_Nx2, texts: Sequence[str], colors: Sequence, *, radius_pt: float,
                 fontsize: float = 9.0, obstacles_Mx2=None) -> np.ndarray:
  """Places and draws one label per anchor (data coordinates) without overlaps, each joined to its
  anchor by a thin leader line when it sits away from it. The axes' limits must be final."""
  fig = ax.figure
  renderer = fig.canvas.get_renderer()
  to_px = ax.transData
  anchors_px = to_px.transform(np.asarray(anchors_Nx2, np.float64).reshape(-1, 2))
  obstacles_px = (None if obstacles_Mx2 is None
                  else to_px.transform(np.asarray(obstacles_Mx2).reshape(-1, 2)))
  sizes = []
  for text in texts:
    t = ax.text(0, 0, text, fontsize=fontsize)
    bb = t.get_window_extent(renderer)
    t.remove()
    sizes.append((bb.width + 2, bb.height + 1))
  frame = ax.get_window_extent(renderer)
  radius = radius_pt * fig.dpi / 72
  boxes = place_labels(anchors_px, sizes, obstacles_px, radius=radius,
                       bounds=(frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2),
                       step=max(4.0, radius / 2))
  back = to_px.inverted()
  for box, anchor, text, color in zip(boxes, anchors_px, texts, colors):
    centre = back.transform([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    side = ((box[0] + box[2]) / 2 - anchor[0]) / (box[2] - box[0])
    align = "left" if side > 0.25 else "right" if side < -0.25 else "center"  # lines lean to the point
    ax.text(*centre, text, fontsize=fontsize, color=color, ha="center", va="center",
            multialignment=align, zorder=5)
    near = np.clip(anchor, box[:2], box[2:])
    if np.linalg.norm(near - anchor) > radius + 12:  # moved away: show whose label it is
      start = anchor + (near - anchor) * radius / np.linalg.norm(near - anchor)
      ax.plot(*back.transform(np.stack([start, near])).T, color="0.55", lw=0.7, zorder=4)
  return boxes


def _limits(ax, xy_Nx2, margin: float = 0.18) -> None:
  lo, hi = xy_Nx2.min(0), xy_Nx2.max(0)
  span = np.maximum(hi - lo, 1e-3)
  ax.set_xlim(lo[0] - margin * span[0], hi[0] + margin * span[0])
  ax.set_ylim(lo[1] - margin * span[1], hi[1] + margin * span[1])


# ----------------------------------------------------------------------------- head rows

def plot_head_rows(model, path: str | pathlib.Path, color: str | None = None) -> pathlib.Path:
  """Every head row of `model` (a stage-1 codec or any model on one) in 2-D; see the module doc."""
  layout = model.layout
  bank = np.asarray(model.params["bank"], np.float64)
  unit = bank / np.linalg.norm(bank, axis=1, keepdims=True)
  mean, axes_2xE = pca_2d(unit)
  xy = (unit - mean) @ axes_2xE.T
  fmt_of = [f for f in layout.formats for _ in layout.format(f).variables]
  variable_of = [v for f in layout.formats for v in layout.format(f).variables]
  style = {f: (MARKERS[k % len(MARKERS)], plt.get_cmap("tab10")(k % 10))
           for k, f in enumerate(layout.formats)}

  if color is not None and (color.count(":") != 1 or (
      color.split(":")[0] in layout.formats
      and color.split(":")[1] not in layout.format(color.split(":")[0]).variables)):
    raise ValueError(f"--color {color}: give FORMAT:VARIABLE of this model, e.g. "
                     f"{layout.formats[0]}:{layout.format(layout.formats[0]).variables[0]}")

  fig, ax = plt.subplots(figsize=HEADS_INCHES)
  fig.subplots_adjust(left=0.08, right=0.8, top=0.9, bottom=0.08 if color is None else 0.2)
  seen = xy
  if color is not None:
    fmt_name, variable = color.split(":")
    try:
      cloud = _scatter_embeddings(fig, ax, model, fmt_name, variable, mean, axes_2xE, bank)
    except ValueError:
      plt.close(fig)
      raise
    seen = np.concatenate([xy, cloud])
  _limits(ax, seen, margin=0.22)
  fig.canvas.draw()
  px_of = ax.transData.transform
  back = ax.transData.inverted().transform
  ring_px = 8.0 * DPI / 72  # tied rows closer than this are drawn as one spread group

  drawn = xy.copy()  # where each row's marker is drawn
  labels = []  # (anchor xy, text)
  grouped = set()
  tie_lines = False
  for group in tied_groups(layout):
    px = px_of(xy[list(group)])
    centre = px.mean(0)
    if np.linalg.norm(px - centre, axis=1).max() <= ring_px:
      # Close together: spread the members on a small ring so every shape shows, one shared label.
      angles = np.pi / 2 + np.arange(len(group)) * 2 * np.pi / len(group)
      ring = centre + 0.5 * ring_px * np.stack([np.cos(angles), np.sin(angles)], 1)
      drawn[list(group)] = back(ring)
      names = list(dict.fromkeys(variable_of[r] for r in group))
      labels.append((back(centre), "/".join(names) + " (" + ", ".join(fmt_of[r] for r in group) + ")"))
      grouped.update(group)
    else:
      for a, b in zip(group[:-1], group[1:]):
        ax.plot(*xy[[a, b]].T, color="0.55", lw=1, ls="--", zorder=1)
      tie_lines = True
  for r in range(layout.num_rows):
    if r not in grouped:
      labels.append((xy[r], f"{variable_of[r]} ({fmt_of[r]})"))
  for f in layout.formats:
    rows = list(range(layout.rows(f).start, layout.rows(f).stop))
    marker, c = style[f]
    ax.scatter(drawn[rows, 0], drawn[rows, 1], marker=marker, color=c, s=MARKER_AREA * 0.8,
               edgecolors="white", linewidths=0.6, zorder=3)
  # Labels avoid every drawn marker, and anchor at the group centre or the row itself.
  _draw_labels(ax, [a for a, _ in labels], [t for _, t in labels], ["0.1"] * len(labels),
               radius_pt=8.0, fontsize=9.5, obstacles_Mx2=drawn)
  handles = [Line2D([], [], ls="", marker=style[f][0], color=style[f][1], markersize=8,
                    markeredgecolor="white", label=f"{f} ({layout.format(f).size} rows)")
             for f in layout.formats]
  if tie_lines:
    handles.append(Line2D([], [], color="0.55", ls="--", label="tied rows"))
  ax.legend(handles=handles, title="format", loc="upper left", bbox_to_anchor=(1.02, 1.0),
            frameon=False, fontsize=9, title_fontsize=10)
  ties = ("rows tied across formats (one emotion variable) drawn side by side, one label"
          if not tie_lines else "tied rows joined by a dashed line" if not grouped
          else "tied rows side by side with one label, or joined by a dashed line")
  ax.set_title(f"Head rows of every format (unit length), first two principal components;\n{ties}",
               fontsize=11)
  ax.set_xlabel("PC 1")
  ax.set_ylabel("PC 2")
  ax.grid(color="0.92", zorder=0)
  return _save(fig, path)


def _scatter_embeddings(fig, ax, model, fmt_name, variable, mean, axes_2xE, bank):
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
                      alpha=0.35, zorder=0)
  # A horizontal bar under the axes: the legend keeps the right margin.
  fig.colorbar(points, cax=fig.add_axes([0.08, 0.085, 0.72, 0.018]), orientation="horizontal",
               label=f"{fmt_name}:{variable} of each item (label embeddings of the mapping data)")
  return xy


# ----------------------------------------------------------------------------- predictions

def va_format(model) -> str:
  """The format whose head gives valence and arousal: `va`, else any with both variables."""
  names = list(model.layout.formats)
  for name in ["va"] + names:
    if name in names and {"valence", "arousal"} <= set(model.layout.format(name).variables):
      return name
  raise ValueError(f"model has no format with valence and arousal; it has {names}")


def strongest_be5(model, be5_NxV) -> tuple[list[str], str]:
  """(the strongest of the five basic emotions per row, how it was read): calibrated through the
  calibration.json beside the model when it has one and its encoder was trained through be5 (no
  statistics are computed here), else the largest raw value."""
  try:
    record = calibration.read(model.workdir, checkpoint.fingerprint(model.workdir))
  except ValueError:  # written for another export: the raw reading, as without one
    record = None
  if record is not None and "be5" in record["formats"] and "be5" in calibration.trained_formats(model):
    _, index = calibration.calibrate_rows(be5_NxV, record["formats"]["be5"])
    return [formats.BE5[k] for k in index], "calibrated"
  return [formats.BE5[k] for k in np.argmax(be5_NxV, 1)], "largest raw value"


def plot_predictions(model, items: Sequence, path: str | pathlib.Path, *, width: int = 24,
                     title: str | None = None) -> pathlib.Path:
  """Items (words, texts or image files, as the model reads them) at their predicted valence (x) and
  arousal (y), coloured by the strongest of the five basic emotions (`be5`, `strongest_be5`)."""
  modality = getattr(model, "modality", None)
  if modality is None:
    raise ValueError(f"{model.workdir} is a stage-1 codec (labels only): predictions need a words, "
                     f"texts or images model")
  if "be5" not in model.layout.formats:
    raise ValueError(f"plot predictions colours by be5; this model has {list(model.layout.formats)}")
  items = list(items)
  if not items:
    raise ValueError("no items to plot")
  e = model.embed(items, modality)
  fmt = va_format(model)
  va = model.decode_embeddings(e, fmt)
  variables = model.layout.format(fmt).variables
  xy = va[:, [variables.index("valence"), variables.index("arousal")]]
  strongest, reading = strongest_be5(model, model.decode_embeddings(e, "be5"))
  names = [shorten(pathlib.Path(x).name if modality == "images" else x, width) for x in items]

  fig, ax = plt.subplots(figsize=PREDICTIONS_INCHES)
  fig.subplots_adjust(left=0.09, right=0.97, top=0.93, bottom=0.15)
  _limits(ax, np.concatenate([xy, [[0.0, 0.0]]]), margin=0.3)
  ax.axhline(0, color="0.8", lw=0.8, zorder=0)
  ax.axvline(0, color="0.8", lw=0.8, zorder=0)
  ax.scatter(xy[:, 0], xy[:, 1], c=[BE5_COLORS[s] for s in strongest], s=MARKER_AREA,
             edgecolors="white", linewidths=0.6, zorder=3)
  fig.canvas.draw()
  _draw_labels(ax, xy, names, ["0.15"] * len(names), radius_pt=5.0, fontsize=8.5)
  present = [s for s in formats.BE5 if s in strongest]
  ax.legend(handles=[Line2D([], [], ls="", marker="o", color=BE5_COLORS[s], markersize=8, label=s)
                     for s in present], title=f"colour: strongest basic emotion (be5, {reading})",
            loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=5, frameon=False, fontsize=9,
            title_fontsize=9)
  ax.set_xlabel(f"predicted valence ({fmt}, canonical units, \u22121 \u2026 1)")
  ax.set_ylabel(f"predicted arousal ({fmt}, canonical units, \u22121 \u2026 1)")
  ax.set_title(title or f"{len(items)} {modality} in the valence\u2013arousal plane, model "
                        f"{pathlib.Path(model.workdir).name}", fontsize=11)
  ax.grid(color="0.94", zorder=0)
  return _save(fig, path)


# ----------------------------------------------------------------------------- the two stages

_LABEL, _SPACE, _CONTENT, _FROZEN = "#dbe9f6", "#fde8c8", "#dff0d8", "#e6e6e6"


def _box(ax, x, y, w, h, text, color, *, size=10, weight="normal"):
  ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06", fc=color,
                              ec="#444444", lw=1.1))
  ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)


def _arrow(ax, start, end, *, color="#333333", lw=1.3):
  ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=13, color=color, lw=lw,
                               shrinkA=2, shrinkB=2))


def plot_overview(path: str | pathlib.Path) -> pathlib.Path:
  """The two stages: label encoders and heads of stage 1, content encoders of stage 2 trained
  through the frozen heads. Boxes and arrows only; no model or data is read."""
  fig = plt.figure(figsize=OVERVIEW_INCHES)
  ax = fig.add_axes([0.005, 0.01, 0.99, 0.98])
  ax.set_xlim(0, 26)
  ax.set_ylim(0, 11.2)
  ax.axis("off")

  # Stage 1 panel.
  ax.add_patch(FancyBboxPatch((0.2, 0.3), 12.4, 9.6, boxstyle="round,pad=0.05,rounding_size=0.2",
                              fc="white", ec="#8aa9c8", lw=1.5, ls="--"))
  ax.text(6.4, 10.55, "Stage 1: the emotion codec", ha="center", fontsize=13, weight="bold")
  ax.text(6.4, 9.4, "trained on mapping data: the same items rated in two formats",
          ha="center", fontsize=8.5, style="italic", color="#333333")
  fmts = [("VA", "valence, arousal"), ("VAD", "+ dominance"), ("BE5", "5 basic emotions"),
          ("BE6", "BE5 + surprise")]
  ys = [7.6, 5.9, 4.2, 2.5]
  mid = 5.05  # vertical centre of the space box
  for (name, what), y in zip(fmts, ys):
    ax.text(0.6, y + 0.58, f"{name} labels", fontsize=9.5, weight="bold", va="center")
    ax.text(0.6, y + 0.12, what, fontsize=7.5, va="center", color="#444444")
    _box(ax, 3.9, y, 2.3, 0.85, f"label\nencoder {name}", _LABEL, size=8.5)
    _arrow(ax, (3.35, y + 0.42), (3.9, y + 0.42))
    _arrow(ax, (6.2, y + 0.42), (7.3, mid + (y + 0.42 - mid) * 0.3))
  _box(ax, 7.3, 3.4, 1.9, 3.3, "one\nshared\n100-d\nemotion\nspace", _SPACE, size=10, weight="bold")
  for (name, _), y in zip(fmts, ys):
    _arrow(ax, (9.2, mid + (y + 0.42 - mid) * 0.3), (10.0, y + 0.42))
    _box(ax, 10.0, y, 2.2, 0.85, f"head {name}\n(linear)", _LABEL, size=8.5)
  ax.text(6.4, 1.05, "losses: reconstruct each label, map A \u2192 B and B \u2192 A, put both labels of an\n"
                     "item at one point, and pull tied head rows together (valence in VA and\n"
                     "VAD, joy in BE5 and BE6): every head row is one emotion variable",
          ha="center", va="center", fontsize=7.8, color="#333333")

  # The hand-off.
  _arrow(ax, (12.7, mid), (13.6, mid), lw=2.4, color="#b06a00")
  ax.text(13.15, mid + 0.45, "freeze", ha="center", fontsize=9, weight="bold", color="#b06a00")

  # Stage 2 panel.
  ax.add_patch(FancyBboxPatch((13.7, 0.3), 12.1, 9.6, boxstyle="round,pad=0.05,rounding_size=0.2",
                              fc="white", ec="#8fbf7f", lw=1.5, ls="--"))
  ax.text(19.75, 10.55, "Stage 2: content into the frozen space", ha="center", fontsize=13, weight="bold")
  ax.text(19.75, 9.4, "trained on items rated in one format, through that format's frozen head",
          ha="center", fontsize=8.5, style="italic", color="#333333")
  content = [("words", "GloVe vector \u2192 MLP"), ("texts", "MiniLM \u2192 Dense"),
             ("images", "MobileNetV2 \u2192 Dense")]
  cys = [7.1, 4.6, 2.1]
  for (name, what), y in zip(content, cys):
    ax.text(13.95, y + 0.5, name, fontsize=9.5, weight="bold", va="center")
    _box(ax, 15.9, y, 3.3, 1.0, f"content encoder\n{what}", _CONTENT, size=7.6)
    _arrow(ax, (15.45, y + 0.5), (15.9, y + 0.5))
    _arrow(ax, (19.2, y + 0.5), (19.9, mid + (y + 0.5 - mid) * 0.3))
  _box(ax, 19.9, 3.4, 2.0, 3.3, "the same\n100-d\nspace", _SPACE, size=10, weight="bold")
  _box(ax, 22.6, 2.9, 2.9, 4.3, "frozen heads\nof every format\n\nVA   VAD\nBE5   BE6\n(+ formats\nadded later)",
       _FROZEN, size=9)
  _arrow(ax, (21.9, mid), (22.6, mid))
  ax.text(19.75, 1.05, "a words, texts or images model predicts every format, also\n"
                       "formats its training data never had (zero-shot), and the\n"
                       "embeddings of all three modalities live in one space",
          ha="center", va="center", fontsize=7.8, color="#333333")
  return _save(fig, path)
