"""Using a trained model on your own input: read items, embed them, predict, write tables and files.

Items come from command-line arguments, a text file (one item per line), a CSV or TSV column, a
folder of images, or a bundled dataset (`dataset_items`); every reader checks its input and names
the file, line, byte offset or argument of a problem. A file larger than `max_file_bytes()` (1 GB,
env EMOJAX_MAX_FILE_BYTES) or with a line longer than `max_line_chars()` (100,000 characters, env
EMOJAX_MAX_LINE_CHARS) is refused before it is read whole. How a file is read (`read_file_items`):
a `.csv` file is comma-separated, a `.tsv` file or any other file whose first line holds a tab is
tab-separated (`happy<TAB>1` is the item "happy" in a table, never the text "happy 1"), anything else
is one item per line. A table's first row is a header when `--header` says so, or (by default) when
`--column` names a column or a cell of that row is a usual column name (`HEADER_NAMES`: word, text,
item, ...); `--no-header` reads it as data. Without a header, the items are the first column
(`--column 2` picks another, counting from 1). `embed_items` runs a model's content encoder over them
in chunks with a progress line; `predict_formats` applies the frozen heads of any formats the codec
knows (`"all"`: every one). Predictions go to a terminal table (`format_table`), CSV or JSON
(`write_predictions`); embeddings go to `.npy` plus an index (`write_embeddings`: `<stem>.index.json`
with the model, its stage-1 fingerprint and one entry per row, and the same rows as
`<stem>.index.csv`) that `emojax.retrieval` and code outside emojax can read.

Every output is whole or absent (`atomic_files`): each file is written to a temporary name in its
directory and renamed once all are written. The three files of an export carry one id: the index
JSON records the sha256 of the .npy and the .index.csv (`parts`) and of itself (`meta_sha256`), so
a .npy from one export beside the index of another, or a flipped byte in any part, is refused by
`retrieval.load_index` naming the files. `check_output` validates an --output path (type, folder,
writability) before any work. The suffix is matched in any case and the file is written under the
exact name given: `--output e.NPY` writes `e.NPY`, `e.index.json` and `e.index.csv`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import uuid
from collections.abc import Sequence

import numpy as np

from emojax import api, checkpoint, datasets, image_data, progress
from emojax.encoders.word_vectors import quote

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHUNK = {"words": 4096, "texts": 256, "images": 64}  # items per encoder call (progress granularity)
INDEX_VERSION = 2  # 2: parts checksums and an export id (version 1 indexes load with a warning)
HEADER_NAMES = frozenset("word words text texts item items term terms lemma sentence sentences "
                         "headline headlines phrase content id key name stimulus".split())


def max_file_bytes() -> int:
  """Largest input file read (bytes): EMOJAX_MAX_FILE_BYTES, default 1 GB."""
  return int(os.environ.get("EMOJAX_MAX_FILE_BYTES", 1 << 30))


def max_line_chars() -> int:
  """Longest line of an input file (characters): EMOJAX_MAX_LINE_CHARS, default 100,000."""
  return int(os.environ.get("EMOJAX_MAX_LINE_CHARS", 100_000))


@dataclasses.dataclass
class Items:
  """What to embed, in row order: `ids` name the rows (tables, index), `inputs` are what the
  content encoder reads (strings, or image paths), `source` says where they came from."""

  ids: list[str]
  inputs: list
  source: str
  kind: str  # "text" (words and texts) or "image"
  lexicon: bool = False  # a bundled lexicon: its words are read as training reads them


  def __len__(self) -> int:
    return len(self.ids)

  def select(self, keep: np.ndarray) -> "Items":
    idx = np.flatnonzero(keep)
    return Items([self.ids[i] for i in idx], [self.inputs[i] for i in idx], self.source, self.kind,
                 self.lexicon)

  def records(self) -> list[dict]:
    """One dict per row for the index: the row, its id, and its text or image path."""
    key = "path" if self.kind == "image" else "text"
    return [{"row": i, "id": item_id, key: str(x)}
            for i, (item_id, x) in enumerate(zip(self.ids, self.inputs))]


# ------------------------------------------------------------------------------------------ input

def _check_texts(texts: Sequence[str], where: Sequence[str]) -> None:
  limit = max_line_chars()
  for text, place in zip(texts, where):
    if not text.strip():
      raise ValueError(f"{place} is empty or whitespace-only; every item needs some text")
    if len(text) > limit:
      raise ValueError(f"{place} is {len(text):,} characters long, over the limit of {limit:,} "
                       f"(EMOJAX_MAX_LINE_CHARS): {quote(text)}")
    if "\x00" in text:
      raise ValueError(f"{place} holds NUL characters (a binary file?): {quote(text)}")


def read_utf8(path: str | pathlib.Path) -> str:
  """A file's text; a missing file, a file over `max_file_bytes()`, a line over `max_line_chars()`
  or bytes that are not UTF-8 raise a ValueError naming the file, the byte offset and the line."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"input file {path} does not exist (or is not a file)")
  size, limit = path.stat().st_size, max_file_bytes()
  if size > limit:
    raise ValueError(f"input file {path} is {size:,} bytes, over the limit of {limit:,} "
                     f"(set EMOJAX_MAX_FILE_BYTES to read larger files)")
  _check_line_lengths(path)
  data = path.read_bytes()
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as err:
    line = data[:err.start].count(b"\n") + 1
    raise ValueError(f"{path} is not UTF-8 text: byte 0x{data[err.start]:02x} at byte offset "
                     f"{err.start} (line {line}) cannot be decoded ({err.reason}); save the file "
                     f"as UTF-8") from None


def _check_line_lengths(path: pathlib.Path) -> None:
  """Refuses a line longer than max_line_chars() bytes-wise (a UTF-8 character is 1-4 bytes, so
  4x the limit in bytes), reading in blocks: a 1 GB line of NULs stops after a few blocks."""
  limit, run, line = 4 * max_line_chars(), 0, 1
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      parts = block.split(b"\n")
      for k, part in enumerate(parts):
        run += len(part)
        if run > limit:
          raise ValueError(f"{path}, line {line} is longer than {max_line_chars():,} characters "
                           f"(EMOJAX_MAX_LINE_CHARS); is it a text file with one item per line?")
        if k < len(parts) - 1:
          run, line = 0, line + 1


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
  _check_texts(values, [f"argument {i + 1} ({quote(v)})" for i, v in enumerate(values)])
  return Items(list(values), list(values), "arguments", "text")


def text_file(path: str | pathlib.Path, header: bool | None = None) -> Items:
  """One item per line of a UTF-8 text file (a line break inside an item is not possible here:
  use a CSV file); `header=True` skips the first line. Empty or whitespace-only lines are errors
  naming the line."""
  lines = read_utf8(path).splitlines()
  first = 2 if header else 1
  lines = lines[1:] if header else lines
  if not lines:
    raise ValueError(f"{path} is empty: expected one item per line")
  _check_texts(lines, [f"{path}, line {i + first}" for i in range(len(lines))])
  return Items(lines, lines, str(path), "text")


def file_kind(path: str | pathlib.Path) -> str:
  """"csv", "tsv" or "lines": by suffix (.csv, .tsv), else a tab in the first line makes a TSV."""
  path = pathlib.Path(path)
  suffix = path.suffix.lower()
  if suffix in (".csv", ".tsv"):
    return suffix[1:]
  with open(path, "rb") as f:
    first = f.read(1 << 16).split(b"\n", 1)[0]
  return "tsv" if b"\t" in first else "lines"


def _is_header(row: Sequence[str], column: str | None) -> bool:
  """The default header rule: --column names a column (not a number), or a cell of the first row
  is a usual column name (HEADER_NAMES)."""
  if column is not None and not column.strip().isdigit():
    return True
  return any(cell.strip().lower() in HEADER_NAMES for cell in row)


def csv_file(path: str | pathlib.Path, column: str | None, id_column: str | None = None, *,
             header: bool | None = None, delimiter: str = ",") -> Items:
  """The items of one column of a UTF-8 CSV (or, `delimiter="\\t"`, TSV) file. With a header row
  (`header`, default by `_is_header`) `column` names the column (needed when there are several) and
  `id_column` names the rows; without one the items are column `column` counted from 1 (default 1).
  Rows are named by the item itself unless `id_column` is given."""
  kind = "TSV" if delimiter == "\t" else "CSV"
  # TSV has no quoting (a cell may start with a quote mark); CSV follows RFC 4180.
  quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
  rows = list(csv.reader(io.StringIO(read_utf8(path), newline=""), delimiter=delimiter,
                         quoting=quoting))
  if not rows or not rows[0]:
    raise ValueError(f"{path} is empty: expected a {kind} table")
  if header is None:
    header = _is_header(rows[0], column)
  if header:
    columns = [c.strip() for c in rows[0]]
    if column is None:
      if len(columns) != 1:
        raise ValueError(f"{path} has the columns {columns}: say which holds the items with --column")
      column = columns[0]
    for name in (column, id_column):
      if name is not None and name not in columns:
        raise ValueError(f"{path} has no column {name!r}; its columns are {columns}")
    at, body, first_line = columns.index(column), rows[1:], 2
    id_at = columns.index(id_column) if id_column else None
    label = repr(column)
  else:
    if id_column is not None:
      raise ValueError(f"--id-column {id_column!r} needs a header row")
    if column is not None and not column.strip().isdigit():
      raise ValueError(f"{path} is read without a header (--no-header): --column is a column "
                       f"number counted from 1, got {column!r}")
    at, id_at, body, first_line = (int(column) - 1 if column else 0), None, rows, 1
    if at < 0:
      raise ValueError(f"--column counts from 1, got {column!r}")
    label = str(at + 1)
  if not body:
    raise ValueError(f"{path} has a header but no rows")
  ids, texts, where = [], [], []
  for n, row in enumerate(body, first_line):
    if at >= len(row) and not (len(row) == 0 and at == 0):
      raise ValueError(f"{path}, row {n} has {len(row)} column(s); there is no column {label}")
    text = row[at] if at < len(row) else ""
    texts.append(text)
    ids.append(row[id_at] if id_at is not None and id_at < len(row) else text)
    where.append(f"{path}, line {n}, column {label}")
  _check_texts(texts, where)
  return Items(ids, texts, str(path), "text")


def read_file_items(path: str | pathlib.Path, column: str | None = None,
                    header: bool | None = None) -> Items:
  """A --file by its kind (`file_kind`): CSV, TSV or one item per line."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"input file {path} does not exist (or is not a file)")
  kind = file_kind(path)
  if kind == "lines" and column is None:
    return text_file(path, header)
  return csv_file(path, column, header=header, delimiter="," if kind == "csv" else "\t")


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
    return Items(list(table.keys), list(table.content), name, "text", lexicon=modality == "words")
  names = image_data.image_names()
  return Items(names, [image_data.IMAGE_DIR / n for n in names], name, "image")


def read_items(modality: str, *, values: Sequence[str] = (), file: str | None = None,
               column: str | None = None, images: str | None = None,
               dataset: str | None = None, header: bool | None = None) -> Items:
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
  if header is not None and not file:
    raise ValueError("--header/--no-header need --file")
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
    return read_file_items(file, column, header)
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


def embed_items(model, items: Items, *, oov: str = "error", show_progress: bool = True,
                aggregate: str | None = None) -> tuple[np.ndarray, Items]:
  """Emotion embeddings (N x 100) of the items, in chunks with a progress line. Words without a
  vector: oov="error" raises naming them, "skip" drops their rows, "nan" keeps NaN rows; if no
  item has a vector, a ValueError (nothing to write). `aggregate`: see ContentModel.embed (a
  bundled lexicon is read as training reads it)."""
  oov = api.check_oov(oov)  # the API's vocabulary ("raise" warns and means "error")
  modality = require_content_model(model)
  if (items.kind == "image") != (modality == "images"):
    raise ValueError(f"{items.source}: these items are {'images' if items.kind == 'image' else 'text'}, "
                     f"but this model's content encoder reads {modality}")
  chunk = CHUNK[modality]
  bar = progress.Progress(len(items), f"embedding {modality}", unit="item",
                          enabled=show_progress and len(items) > chunk)
  parts = []
  for start in range(0, len(items), chunk):
    kwargs = {} if modality == "images" else {"aggregate": "lexicon" if items.lexicon else aggregate}
    parts.append(model.embed(items.inputs[start:start + chunk], modality=modality, oov="nan",
                             progress=False, **kwargs))
    bar.update(min(start + chunk, len(items)))
  e = np.concatenate(parts)
  found = np.isfinite(e).all(1)
  if found.all() or oov == "nan":
    return e, items
  missing = [quote(items.ids[i]) for i in np.flatnonzero(~found)]
  vectors = model.content_meta["feature"].get("vectors", "word")
  if oov == "error":
    raise ValueError(f"{len(missing)} of {len(items)} items from {items.source} have no {vectors} "
                     f"vector (out of vocabulary), e.g. [{', '.join(missing[:5])}]; --oov=skip "
                     f"drops them, --oov=nan keeps empty rows")
  if not found.any():
    raise ValueError(f"none of the {len(items)} items from {items.source} has a {vectors} vector "
                     f"(out of vocabulary), e.g. [{', '.join(missing[:5])}]: nothing to write")
  return e[found], items.select(found)


def format_names(model, spec: str | None) -> list[str]:
  """"all" -> every format the model knows; "vad,be5" -> those; None -> the format the exported
  encoder was trained on. Unknown names raise listing the known ones (`ContentModel.format_names`,
  the rule `model.predict(items, formats=...)` follows)."""
  return model.format_names(spec)


def default_format(model) -> str:
  """The format of the dataset the exported encoder was trained on (e.g. vad for Aug/warriner_vad)."""
  return model.default_format


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
  suffix = pathlib.Path(path).suffix.lower()
  if suffix not in allowed:
    raise ValueError(f"--output {path}: unknown file type {suffix or '(none)'!r}; use "
                     f"{' or '.join(allowed)}")
  return suffix


def output_paths(path: str | pathlib.Path) -> list[pathlib.Path]:
  """The files an --output path stands for: an .npy export is three files, anything else one."""
  path = pathlib.Path(path)
  return list(index_paths(path)) if path.suffix.lower() == ".npy" else [path]


def check_output(path: str | pathlib.Path, allowed: Sequence[str]) -> str:
  """Validates an --output path before any work: a known file type, no folder in the way of any
  file it stands for, and a folder that exists (or can be made below the nearest one that does)
  and can be written (probed by creating and removing a file). Returns the lower-case suffix."""
  path = pathlib.Path(path)
  suffix = output_suffix(path, allowed)
  for p in output_paths(path):
    if p.is_dir():
      raise ValueError(f"--output {path}: {p} is a folder; give a file name")
  folder = path.parent
  while not folder.exists():
    folder = folder.parent
  if not folder.is_dir():
    raise ValueError(f"--output {path}: {folder} is a file, not a folder")
  probe = folder / f".emojax-probe-{uuid.uuid4().hex[:8]}"
  try:
    probe.write_bytes(b"")
    probe.unlink()
  except OSError as err:
    raise ValueError(f"--output {path}: cannot write in {folder} ({err.strerror or err})") from None
  return suffix


@contextlib.contextmanager
def atomic_files(paths: Sequence[pathlib.Path]):
  """Yields a temporary path (same folder, hidden name) for each of `paths`; once the block ends
  without an error each is renamed onto its path, else every temporary file is removed. So the
  group appears whole or the old files stay: a reader sees no half-written file, and a kill can
  at most leave a new part beside an old one, which the export's checksums (`parts`) expose."""
  paths = [pathlib.Path(p) for p in paths]
  token = uuid.uuid4().hex[:8]
  tmps = [p.with_name(f".{p.name}.tmp-{token}") for p in paths]
  if paths:
    paths[0].parent.mkdir(parents=True, exist_ok=True)
  try:
    yield tmps
    for tmp, path in zip(tmps, paths):
      os.replace(tmp, path)
  finally:
    for tmp in tmps:
      if tmp.exists():
        tmp.unlink()


def sha256_file(path: pathlib.Path) -> str:
  return checkpoint.file_sha256(path)


def meta_sha256(meta: dict) -> str:
  """sha256 of an index's JSON content (without this field), key order and spacing aside."""
  body = {k: v for k, v in meta.items() if k != "meta_sha256"}
  return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _json_value(v: float):
  return None if not np.isfinite(v) else round(float(v), 6)


def write_predictions(path: str | pathlib.Path, items: Items, model,
                      predictions: dict[str, np.ndarray]) -> None:
  """CSV (one column per format:variable) or JSON (one record per item, nested by format),
  written whole or not at all."""
  path = pathlib.Path(path)
  suffix = check_output(path, (".csv", ".json"))
  with atomic_files([path]) as (tmp,):
    if suffix == ".csv":
      header = ["id"] + [f"{f}:{v}" for f in predictions for v in model.formats[f].variables]
      with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for r, item_id in enumerate(items.ids):
          writer.writerow([item_id] + [_cell(v, 6) for f in predictions for v in predictions[f][r]])
      return
    records = [{"id": item_id, "predictions": {
        f: dict(zip(model.formats[f].variables, map(_json_value, predictions[f][r])))
        for f in predictions}} for r, item_id in enumerate(items.ids)]
    meta = {"model": str(model.workdir), "source": items.source, "items": records}
    tmp.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def index_paths(npy: str | pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
  """`x.npy` -> (x.npy, x.index.json, x.index.csv) (`x.NPY` -> x.NPY, x.index.json, ...)."""
  npy = pathlib.Path(npy)
  stem = npy.with_suffix("")
  return npy, stem.with_name(stem.name + ".index.json"), stem.with_name(stem.name + ".index.csv")


def write_embeddings(path: str | pathlib.Path, items: Items, model, e_NxE: np.ndarray) -> list[pathlib.Path]:
  """`.npy` (float32 N x 100) plus the index `<stem>.index.json` (model, stage-1 fingerprint,
  source, one record per row, and the sha256 of every part) and `<stem>.index.csv` (row, id, text
  or path); or all in one `.csv` (id, e0..e99) or `.json`. Written whole or not at all (the .npy
  under the exact name given). Returns the files written."""
  path = pathlib.Path(path)
  suffix = check_output(path, (".npy", ".csv", ".json"))
  e = np.asarray(e_NxE, np.float32)
  if len(items) == 0 or len(e) != len(items):
    raise ValueError(f"--output {path}: nothing to write ({len(items)} items, {len(e)} embeddings)")
  meta = {"emojax_index": INDEX_VERSION, "model": str(pathlib.Path(model.workdir).resolve()),
          "modality": require_content_model(model), "stage1": stage1_of(model),
          "source": items.source, "count": len(items), "dim": int(e.shape[1])}
  if suffix == ".npy":
    paths = index_paths(path)
    records = items.records()
    with atomic_files(paths) as (npy, index_json, index_csv):
      with npy.open("wb") as out:
        np.save(out, e)
      with index_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
      parts = {"npy": {"file": paths[0].name, "sha256": sha256_file(npy)},
               "csv": {"file": paths[2].name, "sha256": sha256_file(index_csv)}}
      full = {**meta, "export_id": uuid.uuid4().hex, "parts": parts, "items": records}
      full["meta_sha256"] = meta_sha256(full)
      index_json.write_text(json.dumps(full, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return list(paths)
  with atomic_files([path]) as (tmp,):
    if suffix == ".csv":
      with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id"] + [f"e{j}" for j in range(e.shape[1])])
        for item_id, row in zip(items.ids, e):
          writer.writerow([item_id] + [repr(float(v)) for v in row])
    else:
      records = [{**rec, "embedding": [_json_value(v) for v in row]}
                 for rec, row in zip(items.records(), e)]
      tmp.write_text(json.dumps({**meta, "items": records}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
  return [path]
