"""Using a trained model on your own input: read items, embed them, predict, write tables and files.

Items come from command-line arguments, a text file (one item per line), a CSV column, a folder of
images, or a bundled dataset (`dataset_items`); every reader checks its input and names the file,
line, byte offset or argument of a problem. `embed_items` runs a model's content encoder over them
in chunks with a progress line; `predict_formats` applies the frozen heads of any formats the codec
knows (`"all"`: every one). Predictions go to a terminal table (`format_table`), CSV or JSON
(`write_predictions`); embeddings go to `.npy` plus an index (`write_embeddings`: `<stem>.index.json`
with the model, its stage-1 fingerprint and one entry per row, and the same rows as
`<stem>.index.csv`) that `emojax.retrieval` and code outside emojax can read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import pathlib
from collections.abc import Sequence

import numpy as np

from emojax import checkpoint, datasets, image_data, progress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHUNK = {"words": 4096, "texts": 256, "images": 64}  # items per encoder call (progress granularity)
INDEX_VERSION = 1


@dataclasses.dataclass
class Items:
  """What to embed, in row order: `ids` name the rows (tables, index), `inputs` are what the
  content encoder reads (strings, or image paths), `source` says where they came from."""

  ids: list[str]
  inputs: list
  source: str
  kind: str  # "text" (words and texts) or "image"

  def __len__(self) -> int:
    return len(self.ids)

  def select(self, keep: np.ndarray) -> "Items":
    idx = np.flatnonzero(keep)
    return Items([self.ids[i] for i in idx], [self.inputs[i] for i in idx], self.source, self.kind)

  def records(self) -> list[dict]:
    """One dict per row for the index: the row, its id, and its text or image path."""
    key = "path" if self.kind == "image" else "text"
    return [{"row": i, "id": item_id, key: str(x)}
            for i, (item_id, x) in enumerate(zip(self.ids, self.inputs))]


# ------------------------------------------------------------------------------------------ input

def _check_texts(texts: Sequence[str], where: Sequence[str]) -> None:
  for text, place in zip(texts, where):
    if not text.strip():
      raise ValueError(f"{place} is empty or whitespace-only; every item needs some text")


def read_utf8(path: str | pathlib.Path) -> str:
  """A file's text; a missing file or bytes that are not UTF-8 raise a ValueError naming the file,
  the byte offset and the line."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"input file {path} does not exist (or is not a file)")
  data = path.read_bytes()
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as err:
    line = data[:err.start].count(b"\n") + 1
    raise ValueError(f"{path} is not UTF-8 text: byte 0x{data[err.start]:02x} at byte offset "
                     f"{err.start} (line {line}) cannot be decoded ({err.reason}); save the file "
                     f"as UTF-8") from None


def from_arguments(values: Sequence[str], modality: str) -> Items:
  """Items given on the command line: strings, or (images) image files and folders."""
  if not values:
    raise ValueError("no items given: pass them as arguments, or use --file / --images / --dataset")
  if modality == "images":
    paths = []
    for value in values:
      p = pathlib.Path(value)
      paths += image_folder(p).inputs if p.is_dir() else [p]
    for p in paths:
      if not p.is_file():
        raise ValueError(f"image file {p} does not exist")
    return Items([str(p) for p in paths], paths, "arguments", "image")
  _check_texts(values, [f"argument {i + 1} ({v!r})" for i, v in enumerate(values)])
  return Items(list(values), list(values), "arguments", "text")


def text_file(path: str | pathlib.Path) -> Items:
  """One item per line of a UTF-8 text file (a line break inside an item is not possible here:
  use a CSV file). Empty or whitespace-only lines are errors naming the line."""
  lines = read_utf8(path).splitlines()
  if not lines:
    raise ValueError(f"{path} is empty: expected one item per line")
  _check_texts(lines, [f"{path}, line {i + 1}" for i in range(len(lines))])
  return Items(lines, lines, str(path), "text")


def csv_file(path: str | pathlib.Path, column: str | None, id_column: str | None = None) -> Items:
  """The items of one column of a UTF-8 CSV file with a header row (`id_column` names the rows,
  else the item itself does)."""
  reader = csv.DictReader(io.StringIO(read_utf8(path), newline=""))
  columns = reader.fieldnames or []
  if not columns:
    raise ValueError(f"{path} has no header row: a CSV input needs column names")
  if column is None:
    if len(columns) != 1:
      raise ValueError(f"{path} has the columns {columns}: say which holds the items with --column")
    column = columns[0]
  for name in (column, id_column):
    if name is not None and name not in columns:
      raise ValueError(f"{path} has no column {name!r}; its columns are {columns}")
  ids, texts, where = [], [], []
  for row in reader:
    text = row[column] or ""
    texts.append(text)
    ids.append(row[id_column] if id_column else text)
    where.append(f"{path}, line {reader.line_num}, column {column!r}")
  if not texts:
    raise ValueError(f"{path} has a header but no rows")
  _check_texts(texts, where)
  return Items(ids, texts, str(path), "text")


def image_folder(path: str | pathlib.Path) -> Items:
  """Every image file directly in a folder (by suffix: IMAGE_SUFFIXES), sorted by name; rows are
  named by file name. Unreadable files raise when they are embedded, naming the file."""
  path = pathlib.Path(path)
  if not path.is_dir():
    raise ValueError(f"image folder {path} does not exist (or is not a folder)")
  files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
  if not files:
    raise ValueError(f"image folder {path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
  return Items([p.name for p in files], files, str(path), "image")


def dataset_names() -> dict[str, str]:
  """Bundled datasets that can be embedded, with the modality that reads them."""
  return {d.group or d.name: d.modality for d in map(datasets.get_dataset, datasets.names())}


def dataset_items(name: str) -> Items:
  """Every item of a bundled dataset in its table's order: words (ids are the table's keys, the
  input its English text), texts (ids are item keys) or the BASS images (ids are file names)."""
  modality = dataset_names().get(name)
  if modality is None:
    raise ValueError(f"unknown dataset {name!r}; bundled: {sorted(dataset_names())}")
  if modality != "images":
    table = datasets.read_table(name)
    return Items(list(table.keys), list(table.content), name, "text")
  names = image_data.image_names()
  return Items(names, [image_data.IMAGE_DIR / n for n in names], name, "image")


def read_items(modality: str, *, values: Sequence[str] = (), file: str | None = None,
               column: str | None = None, images: str | None = None,
               dataset: str | None = None) -> Items:
  """Exactly one source of items: arguments, a text/CSV file, an image folder or a dataset."""
  given = [n for n, v in (("arguments", values), ("--file", file), ("--images", images),
                          ("--dataset", dataset)) if v]
  if not given:
    raise ValueError("no items given: pass them as arguments, or use --file, --images or --dataset")
  if len(given) > 1:
    raise ValueError(f"give the items one way: arguments, --file, --images or --dataset (got "
                     f"{', '.join(given)})")
  if column is not None and not file:
    raise ValueError("--column needs --file (a CSV file)")
  if dataset:
    items = dataset_items(dataset)
    if dataset_names()[dataset] != modality:
      raise ValueError(f"dataset {dataset!r} holds {dataset_names()[dataset]}, but this model's "
                       f"content encoder reads {modality}")
    return items
  if file and modality == "images":
    raise ValueError("--file: an image model reads images; use --images FOLDER or image paths as "
                     "arguments")
  if images:
    if modality != "images":
      raise ValueError(f"--images: this model's content encoder reads {modality}, not images")
    return image_folder(images)
  if file:
    is_csv = column is not None or pathlib.Path(file).suffix.lower() == ".csv"
    return csv_file(file, column) if is_csv else text_file(file)
  return from_arguments(values, modality)


# ------------------------------------------------------------------------------ embed and predict

def stage1_of(model) -> dict:
  """{"path", "fingerprint"} of the stage-1 checkpoint whose space a model embeds into."""
  meta = getattr(model, "content_meta", None)
  if meta is not None:
    return {"path": meta["stage1"]["path"], "fingerprint": meta["stage1"]["fingerprint"]}
  return {"path": str(pathlib.Path(model.workdir).resolve()),
          "fingerprint": checkpoint.fingerprint(model.workdir)}


def require_content_model(model) -> str:
  """The modality of a stage-2 model; a stage-1 codec has no content encoder."""
  modality = getattr(model, "modality", None)
  if modality is None:
    raise ValueError(f"{model.workdir} is a stage-1 codec (labels only): embedding words, texts or "
                     f"images needs a stage-2 workdir such as checkpoints/words, texts or images")
  return modality


def embed_items(model, items: Items, *, oov: str = "error", show_progress: bool = True
                ) -> tuple[np.ndarray, Items]:
  """Emotion embeddings (N x 100) of the items, in chunks with a progress line. Words without a
  vector: oov="error" raises naming them, "skip" drops their rows, "nan" keeps NaN rows."""
  if oov not in ("error", "skip", "nan"):
    raise ValueError(f"oov must be 'error', 'skip' or 'nan', got {oov!r}")
  modality = require_content_model(model)
  if (items.kind == "image") != (modality == "images"):
    raise ValueError(f"{items.source}: these items are {'images' if items.kind == 'image' else 'text'}, "
                     f"but this model's content encoder reads {modality}")
  chunk = CHUNK[modality]
  bar = progress.Progress(len(items), f"embedding {modality}", unit="item",
                          enabled=show_progress and len(items) > chunk)
  parts = []
  for start in range(0, len(items), chunk):
    parts.append(model.embed(items.inputs[start:start + chunk], modality=modality, oov="nan"))
    bar.update(min(start + chunk, len(items)))
  e = np.concatenate(parts)
  found = np.isfinite(e).all(1)
  if found.all() or oov == "nan":
    return e, items
  missing = [items.ids[i] for i in np.flatnonzero(~found)]
  if oov == "error":
    vectors = model.content_meta["feature"].get("vectors", "word")
    raise ValueError(f"{len(missing)} of {len(items)} items from {items.source} have no {vectors} "
                     f"vector (out of vocabulary), e.g. {missing[:5]}; --oov=skip drops them, "
                     f"--oov=nan keeps empty rows")
  return e[found], items.select(found)


def format_names(model, spec: str | None) -> list[str]:
  """"all" -> every format the model knows; "vad,be5" -> those; None -> the format the exported
  encoder was trained on. Unknown names raise listing the known ones."""
  known = list(model.formats)
  if spec is None:
    return [default_format(model)]
  names = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
  unknown = [n for n in names if n not in known]
  if unknown or not names:
    raise ValueError(f"unknown label format {', '.join(map(repr, unknown)) or repr(spec)}; this model "
                     f"knows {known} (or 'all')")
  return names


def default_format(model) -> str:
  """The format of the dataset the exported encoder was trained on (e.g. vad for Aug/warriner_vad)."""
  run = getattr(model, "content_meta", {}).get("encoder", {}).get("run", "")
  first = run.partition("/")[2].split("+")[0]
  table = datasets.REGISTRY.get(first)
  if isinstance(table, datasets.Dataset) and table.format in model.formats:
    return table.format
  return list(model.formats)[0]


def predict_formats(model, e_NxE: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
  """Each format's head on the embeddings (canonical units; class formats: probabilities); NaN
  rows (words without a vector) stay NaN."""
  ok = np.isfinite(e_NxE).all(1)
  out = {}
  for name in names:
    values = np.full((len(e_NxE), model.formats[name].size), np.nan, np.float32)
    if ok.any():
      values[ok] = model.decode_embeddings(e_NxE[ok], name)
    out[name] = values
  return out


# ----------------------------------------------------------------------------------------- output

def _cell(value: float, digits: int = 3) -> str:
  return "" if not np.isfinite(value) else f"{value:.{digits}f}"


def shorten(text: str, width: int) -> str:
  """One line of at most `width` characters (whitespace collapsed, an ellipsis where cut)."""
  text = " ".join(str(text).split())
  return text if len(text) <= width else text[:width - 1] + "…"


def format_table(ids: Sequence[str], columns: dict[str, tuple[Sequence[str], np.ndarray]],
                 *, first: str = "item", item_width: int = 40) -> str:
  """A plain-text table: one row per item, column groups (e.g. one per format) each with its own
  names, values to 3 decimals; NaN prints as an empty cell."""
  id_cells = [shorten(i, item_width) for i in ids]
  w0 = max([len(first)] + [len(c) for c in id_cells])
  groups, widths = [], []
  for group, (names, values) in columns.items():
    cols = [max(len(n), 6) for n in names]
    groups.append((group, names, values, cols))
    widths.append(sum(cols) + 2 * (len(cols) - 1))
  for g, (group, names, values, cols) in enumerate(groups):  # a long group name widens its columns
    if len(group) > widths[g]:
      cols[-1] += len(group) - widths[g]
      widths[g] = len(group)
  top = " " * w0 + "".join(f" | {group:<{w}}" for (group, *_), w in zip(groups, widths))
  head = f"{first:<{w0}}" + "".join(
      " | " + "  ".join(f"{n:>{c}}" for n, c in zip(names, cols)) for _, names, _, cols in groups)
  lines = [top.rstrip(), head, "-" * len(head)]
  for r, cell in enumerate(id_cells):
    lines.append((f"{cell:<{w0}}" + "".join(
        " | " + "  ".join(f"{_cell(v):>{c}}" for v, c in zip(values[r], cols))
        for _, _, values, cols in groups)).rstrip())
  return "\n".join(lines)


def prediction_columns(model, predictions: dict[str, np.ndarray]) -> dict:
  return {name: (model.formats[name].variables, values) for name, values in predictions.items()}


def output_suffix(path: pathlib.Path, allowed: Sequence[str]) -> str:
  """The lower-case file type of an --output path, refused unless it is one of `allowed`."""
  suffix = path.suffix.lower()
  if suffix not in allowed:
    raise ValueError(f"--output {path}: unknown file type {suffix or '(none)'!r}; use "
                     f"{' or '.join(allowed)}")
  return suffix


def _json_value(v: float):
  return None if not np.isfinite(v) else round(float(v), 6)


def write_predictions(path: str | pathlib.Path, items: Items, model,
                      predictions: dict[str, np.ndarray]) -> None:
  """CSV (one column per format:variable) or JSON (one record per item, nested by format)."""
  path = pathlib.Path(path)
  suffix = output_suffix(path, (".csv", ".json"))
  path.parent.mkdir(parents=True, exist_ok=True)
  if suffix == ".csv":
    header = ["id"] + [f"{f}:{v}" for f in predictions for v in model.formats[f].variables]
    with path.open("w", newline="", encoding="utf-8") as out:
      writer = csv.writer(out)
      writer.writerow(header)
      for r, item_id in enumerate(items.ids):
        writer.writerow([item_id] + [_cell(v, 6) for f in predictions for v in predictions[f][r]])
    return
  records = [{"id": item_id, "predictions": {
      f: dict(zip(model.formats[f].variables, map(_json_value, predictions[f][r])))
      for f in predictions}} for r, item_id in enumerate(items.ids)]
  meta = {"model": str(model.workdir), "source": items.source, "items": records}
  path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def index_paths(npy: str | pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
  """`x.npy` -> (x.npy, x.index.json, x.index.csv)."""
  npy = pathlib.Path(npy)
  stem = npy.with_suffix("")
  return npy, stem.with_name(stem.name + ".index.json"), stem.with_name(stem.name + ".index.csv")


def write_embeddings(path: str | pathlib.Path, items: Items, model, e_NxE: np.ndarray) -> list[pathlib.Path]:
  """`.npy` (float32 N x 100) plus the index `<stem>.index.json` (model, stage-1 fingerprint,
  source, one record per row) and `<stem>.index.csv` (row, id, text or path); or all in one
  `.csv` (id, e0..e99) or `.json`. Returns the files written."""
  path = pathlib.Path(path)
  suffix = output_suffix(path, (".npy", ".csv", ".json"))
  path.parent.mkdir(parents=True, exist_ok=True)
  e = np.asarray(e_NxE, np.float32)
  meta = {"emojax_index": INDEX_VERSION, "model": str(pathlib.Path(model.workdir).resolve()),
          "modality": require_content_model(model), "stage1": stage1_of(model),
          "source": items.source, "count": len(items), "dim": int(e.shape[1])}
  if suffix == ".npy":
    npy, index_json, index_csv = index_paths(path)
    np.save(npy, e)
    records = items.records()
    index_json.write_text(json.dumps({**meta, "items": records}, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    with index_csv.open("w", newline="", encoding="utf-8") as out:
      writer = csv.DictWriter(out, fieldnames=list(records[0]))
      writer.writeheader()
      writer.writerows(records)
    return [npy, index_json, index_csv]
  if suffix == ".csv":
    with path.open("w", newline="", encoding="utf-8") as out:
      writer = csv.writer(out)
      writer.writerow(["id"] + [f"e{j}" for j in range(e.shape[1])])
      for item_id, row in zip(items.ids, e):
        writer.writerow([item_id] + [repr(float(v)) for v in row])
    return [path]
  records = [{**rec, "embedding": [_json_value(v) for v in row]}
             for rec, row in zip(items.records(), e)]
  path.write_text(json.dumps({**meta, "items": records}, ensure_ascii=False) + "\n", encoding="utf-8")
  return [path]
