"""Using a trained model on your own input: read items, embed them, predict, write tables and files.

Items come from command-line arguments, a text file (one item per line), a CSV or TSV column, a
folder of images, or a bundled dataset (`dataset_items`); every reader checks its input and names
the file, line, byte offset or argument of a problem. A file larger than `max_file_bytes()` (1 GB,
env EMOJAX_MAX_FILE_BYTES) is refused before it is read, a line longer than `max_line_chars()`
(100,000 characters, env EMOJAX_MAX_LINE_CHARS) when it is reached, after reading that much of it.
How a file is read (`read_file_items`): a `.csv` file is comma-separated, a `.tsv` file or any other
file whose first line holds a tab is tab-separated (`happy<TAB>1` is the item "happy" in a table,
never the text "happy 1"), anything else is one item per line. A table's first row is a header when
`--header` says so, or (by default) when `--column` names a column or a cell of that row is a usual
column name (`HEADER_NAMES`: word, text, item, ...); `--no-header` reads it as data. Without a
header, the items are the first column (`--column 2` picks another, counting from 1). `embed_items`
runs a model's content encoder over them in chunks with a progress line; `predict_formats` applies
the frozen heads of any formats the codec knows (`"all"`: every one). Predictions go to a terminal
table (`format_table`), CSV or JSON (`write_predictions`); embeddings go to `.npy` plus an index
(`write_embeddings`: `<stem>.index.json` with the model, its stage-1 fingerprint and one entry per
row, and the same rows as `<stem>.index.csv`) that `emojax.retrieval` and code outside emojax can
read.

Long inputs stream: `item_source` gives the items as a `Source` whose `chunks()` is a generator of
Items of at most `chunk` rows (a file read a line at a time, `iter_file_items`), `embed_stream`
embeds chunk by chunk through `model.embed`, and `write_prediction_stream` /
`write_embedding_stream` write each chunk as it comes; memory holds one chunk (an export's index
keeps one small record per row). `read_items`, `embed_items`, `write_predictions` and
`write_embeddings` are the same on a whole list.

Every output is whole or absent (`atomic_files`): each file is written to a temporary name in its
directory and renamed once all are written. The three files of an export carry one id: the index
JSON records the sha256 of the .npy and the .index.csv (`parts`) and of itself (`meta_sha256`), so
a .npy from one export beside the index of another, or a flipped byte in any part, is refused by
`retrieval.load_index` naming the files. `check_output` validates an --output path (type, folder,
writability) before any work. The suffix is matched in any case and the file is written under the
exact name given: `--output e.NPY` writes `e.NPY`, `e.index.json` and `e.index.csv`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import hashlib
import itertools
import json
import os
import pathlib
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from emojax import api, checkpoint, datasets, image_data, progress
from emojax.encoders.word_vectors import quote

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHUNK = {"words": 4096, "texts": 256, "images": 64}  # items per encoder call (progress granularity)
TABLE_ROWS = 10_000  # most items a terminal table shows; more need --output (written as streamed)
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

  def chunks(self, size: int) -> Iterator["Items"]:
    """The items in consecutive parts of at most `size`."""
    for start in range(0, len(self), size):
      yield Items(self.ids[start:start + size], self.inputs[start:start + size], self.source,
                  self.kind, self.lexicon)

  @staticmethod
  def join(parts: Iterable["Items"], source: str) -> "Items":
    """Consecutive parts (`chunks`) as one Items."""
    parts = list(parts)
    return Items([i for p in parts for i in p.ids], [x for p in parts for x in p.inputs], source,
                 parts[0].kind if parts else "text", bool(parts) and parts[0].lexicon)

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
  _check_size(path)
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


def _file_lines(path: pathlib.Path) -> Iterator[tuple[int, str]]:
  """(line number, text with its line break) of every line of a UTF-8 file, read one line at a
  time: a line over max_line_chars() (4 bytes a character, so 4x the limit in bytes) stops after
  that many bytes, and bytes that are not UTF-8 raise naming the byte offset and the line. A
  leading byte-order mark is dropped."""
  limit, offset = 4 * max_line_chars(), 0
  with open(path, "rb") as f:
    for n in itertools.count(1):
      raw = f.readline(limit + 1)
      if not raw:
        return
      if len(raw) > limit and not raw.endswith(b"\n"):
        raise ValueError(f"{path}, line {n} is longer than {max_line_chars():,} characters "
                         f"(EMOJAX_MAX_LINE_CHARS); is it a text file with one item per line?")
      try:
        text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
      except UnicodeDecodeError as err:
        at = err.start + (3 if n == 1 and raw.startswith(codecs.BOM_UTF8) else 0)
        raise ValueError(f"{path} is not UTF-8 text: byte 0x{raw[at]:02x} at byte offset "
                         f"{offset + at} (line {n}) cannot be decoded ({err.reason}); save the file "
                         f"as UTF-8") from None
      offset += len(raw)
      yield n, text


def _check_size(path: pathlib.Path) -> None:
  """A missing file, or one over `max_file_bytes()`, is a ValueError naming it."""
  if not path.is_file():
    raise ValueError(f"input file {path} does not exist (or is not a file)")
  size, limit = path.stat().st_size, max_file_bytes()
  if size > limit:
    raise ValueError(f"input file {path} is {size:,} bytes, over the limit of {limit:,} "
                     f"(set EMOJAX_MAX_FILE_BYTES to read larger files)")


def _text_rows(path: pathlib.Path, header: bool | None) -> Iterator[tuple[str, str, str]]:
  """(id, text, where) of each line of a one-item-per-line file; `header=True` skips line 1."""
  any_line = False
  for n, line in _file_lines(path):
    if n == 1 and header:
      continue
    any_line = True
    text = line.rstrip("\r\n")
    yield text, text, f"{path}, line {n}"
  if not any_line:
    raise ValueError(f"{path} is empty: expected one item per line")


def _table_rows(path: pathlib.Path, column: str | None, id_column: str | None, header: bool | None,
                delimiter: str) -> Iterator[tuple[str, str, str]]:
  """(id, text, where) of each row of a CSV/TSV file, parsed as the lines are read (`csv_file`)."""
  kind = "TSV" if delimiter == "\t" else "CSV"
  # TSV has no quoting (a cell may start with a quote mark); CSV follows RFC 4180.
  quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
  rows = csv.reader((line for _, line in _file_lines(path)), delimiter=delimiter, quoting=quoting)
  first = next(rows, None)
  if not first:
    raise ValueError(f"{path} is empty: expected a {kind} table")
  if header is None:
    header = _is_header(first, column)
  if header:
    columns = [c.strip() for c in first]
    if column is None:
      if len(columns) != 1:
        raise ValueError(f"{path} has the columns {columns}: say which holds the items with --column")
      column = columns[0]
    for name in (column, id_column):
      if name is not None and name not in columns:
        raise ValueError(f"{path} has no column {name!r}; its columns are {columns}")
    at, first_line = columns.index(column), 2
    id_at = columns.index(id_column) if id_column else None
    label = repr(column)
    body = rows
  else:
    if id_column is not None:
      raise ValueError(f"--id-column {id_column!r} needs a header row")
    if column is not None and not column.strip().isdigit():
      raise ValueError(f"{path} is read without a header (--no-header): --column is a column "
                       f"number counted from 1, got {column!r}")
    at, id_at, first_line = (int(column) - 1 if column else 0), None, 1
    if at < 0:
      raise ValueError(f"--column counts from 1, got {column!r}")
    label = str(at + 1)
    body = itertools.chain([first], rows)
  any_row = False
  for n, row in enumerate(body, first_line):
    any_row = True
    if at >= len(row) and not (len(row) == 0 and at == 0):
      raise ValueError(f"{path}, row {n} has {len(row)} column(s); there is no column {label}")
    text = row[at] if at < len(row) else ""
    yield (row[id_at] if id_at is not None and id_at < len(row) else text), text, \
        f"{path}, line {n}, column {label}"
  if not any_row:
    raise ValueError(f"{path} has a header but no rows")


def _chunked(rows: Iterable[tuple[str, str, str]], source: str, chunk: int) -> Iterator[Items]:
  """Text rows (id, text, where) as Items of at most `chunk` rows, each row checked (`_check_texts`)."""
  ids, texts, where = [], [], []
  for item_id, text, place in rows:
    ids.append(item_id)
    texts.append(text)
    where.append(place)
    if len(ids) == chunk:
      _check_texts(texts, where)
      yield Items(ids, texts, source, "text")
      ids, texts, where = [], [], []
  if ids:
    _check_texts(texts, where)
    yield Items(ids, texts, source, "text")


def iter_file_items(path: str | pathlib.Path, column: str | None = None, header: bool | None = None,
                    *, chunk: int = CHUNK["words"]) -> Iterator[Items]:
  """A --file's items (`read_file_items`) as a generator of Items of at most `chunk` rows, read a
  line at a time: memory holds one chunk whatever the file's size, and each bad line raises as
  it is reached, naming it."""
  path = pathlib.Path(path)
  _check_size(path)
  kind = file_kind(path)
  if kind == "lines" and column is None:
    rows = _text_rows(path, header)
  else:
    rows = _table_rows(path, column, None, header, "," if kind == "csv" else "\t")
  yield from _chunked(rows, str(path), chunk)


def text_file(path: str | pathlib.Path, header: bool | None = None) -> Items:
  """One item per line of a UTF-8 text file (a line break inside an item is not possible here:
  use a CSV file); `header=True` skips the first line. Empty or whitespace-only lines are errors
  naming the line."""
  path = pathlib.Path(path)
  _check_size(path)
  return Items.join(_chunked(_text_rows(path, header), str(path), CHUNK["words"]), str(path))


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
  path = pathlib.Path(path)
  _check_size(path)
  rows = _table_rows(path, column, id_column, header, delimiter)
  return Items.join(_chunked(rows, str(path), CHUNK["words"]), str(path))


def read_file_items(path: str | pathlib.Path, column: str | None = None,
                    header: bool | None = None) -> Items:
  """A --file by its kind (`file_kind`): CSV, TSV or one item per line, whole (`iter_file_items`
  reads it in chunks)."""
  return Items.join(iter_file_items(path, column, header), str(path))

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


@dataclasses.dataclass
class Source:
  """Items to embed, read in chunks: `chunks()` starts a fresh generator of Items (at most `chunk`
  each) every time it is called, so a file can be read twice in bounded memory: once to check
  every line and count the items (`count`), then to embed them."""

  chunks: Callable[[], Iterator[Items]]
  name: str  # where the items come from (`Items.source`)

  def count(self) -> int:
    """Reads every item once (each bad line raises, naming it) and returns how many there are."""
    return sum(len(part) for part in self.chunks())


def item_source(modality: str, *, values: Sequence[str] = (), file: str | None = None,
                column: str | None = None, images: str | None = None, dataset: str | None = None,
                header: bool | None = None, chunk: int | None = None) -> Source:
  """Exactly one source of items: arguments, a text/CSV file, an image folder or a dataset. A file
  is streamed (`iter_file_items`); the others are lists already and are sliced. `chunk`: items
  per chunk (default CHUNK[modality])."""
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
  size = CHUNK[modality] if chunk is None else int(chunk)
  if size < 1:
    raise ValueError(f"--batch-size must be a positive number of items, got {chunk!r}")
  if file and modality == "images":
    raise ValueError("--file: an image model reads images; use --images FOLDER or image paths as "
                     "arguments")
  if file:
    return Source(lambda: iter_file_items(file, column, header, chunk=size), str(file))
  if dataset:
    items = dataset_items(dataset)
    if dataset_names()[dataset] != modality:
      raise ValueError(f"dataset {dataset!r} holds {dataset_names()[dataset]}, but this model's "
                       f"content encoder reads {modality}")
  elif images:
    if modality != "images":
      raise ValueError(f"--images: this model's content encoder reads {modality}, not images")
    items = image_folder(images)
  else:
    items = from_arguments(values, modality)
  return Source(lambda: items.chunks(size), items.source)


def read_items(modality: str, **source) -> Items:
  """Every item of `item_source(modality, **source)` at once."""
  stream = item_source(modality, **source)
  return Items.join(stream.chunks(), stream.name)

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


def embed_stream(model, chunks: Iterable[Items], *, oov: str = "error", aggregate: str | None = None,
                 bar: progress.Progress | None = None, counts: dict | None = None
                 ) -> Iterator[tuple[Items, np.ndarray]]:
  """(items, their emotion embeddings) per chunk, each chunk through `model.embed` as it is read:
  the whole input is never held at once. Words without a vector: oov="nan" keeps NaN rows, "skip"
  drops them, "error" raises once every chunk has been read, naming the first few (a consumer
  writing files must write them whole or not at all, `atomic_files`); if no item has a vector, a
  ValueError (nothing to write). `counts` (a dict) receives "given" and "kept" items."""
  oov = api.check_oov(oov)  # the API's vocabulary ("raise" warns and means "error")
  modality = require_content_model(model)
  counts = {} if counts is None else counts
  counts.update(given=0, kept=0)
  missing, source = [], "the input"
  for items in chunks:
    source = items.source
    if (items.kind == "image") != (modality == "images"):
      raise ValueError(f"{items.source}: these items are {'images' if items.kind == 'image' else 'text'}, "
                       f"but this model's content encoder reads {modality}")
    kwargs = {} if modality == "images" else {"aggregate": "lexicon" if items.lexicon else aggregate}
    e = model.embed(items.inputs, modality=modality, oov="nan", progress=False, **kwargs)
    counts["given"] += len(items)
    counts["dim"] = e.shape[1]
    if bar is not None:
      bar.update(counts["given"])
    found = np.isfinite(e).all(1)
    if not found.all() and oov != "nan":
      missing += [quote(items.ids[i]) for i in np.flatnonzero(~found)[:5 - len(missing)]]
      if oov == "error":
        counts["missing"] = counts.get("missing", 0) + int((~found).sum())
        continue
      e, items = e[found], items.select(found)
    counts["kept"] += len(items)
    if oov != "error" or not missing:
      yield items, e
  if not missing:
    return
  vectors = model.content_meta["feature"].get("vectors", "word")
  if oov == "error":
    raise ValueError(f"{counts['missing']} of {counts['given']} items from {source} have no "
                     f"{vectors} vector (out of vocabulary), e.g. [{', '.join(missing[:5])}]; "
                     f"--oov=skip drops them, --oov=nan keeps empty rows")
  if counts["kept"] == 0:
    raise ValueError(f"none of the {counts['given']} items from {source} has a {vectors} vector "
                     f"(out of vocabulary), e.g. [{', '.join(missing[:5])}]: nothing to write")


def embed_items(model, items: Items, *, oov: str = "error", show_progress: bool = True,
                aggregate: str | None = None) -> tuple[np.ndarray, Items]:
  """Emotion embeddings (N x 100) of the items, in chunks with a progress line (`embed_stream`,
  whose rules for words without a vector apply), and the items kept."""
  modality = require_content_model(model)
  chunk = CHUNK[modality]
  bar = progress.Progress(len(items), f"embedding {modality}", unit="item",
                          enabled=show_progress and len(items) > chunk)
  parts = list(embed_stream(model, items.chunks(chunk), oov=oov, aggregate=aggregate, bar=bar))
  e = np.concatenate([e for _, e in parts])
  return e, Items.join([i for i, _ in parts], items.source)

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

def _cell(value, digits: int = 3) -> str:
  """A number to `digits` decimals, NaN (or a missing label, None) as an empty cell, a label as is."""
  if value is None or isinstance(value, str):
    return value or ""
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
  write_prediction_stream(path, model, list(predictions), items.source, [(items, predictions)])


def write_prediction_stream(path: str | pathlib.Path, model, names: Sequence[str], source: str,
                            rows: Iterable[tuple[Items, dict[str, np.ndarray]]],
                            strongest: Sequence[str] = ()) -> int:
  """`write_predictions` chunk by chunk: each (items, {format: values}) is written as it comes to
  a temporary file, renamed onto `path` after the last one (an error in any chunk, or in the
  iterator, leaves no file and an old one as it was). Returns the number of rows written.
  `strongest`: formats whose predictions also hold "<format>.strongest" (a label per row, the
  calibrated reading): a `<format>:strongest` column, or a "strongest" record in JSON."""
  path = pathlib.Path(path)
  suffix = check_output(path, (".csv", ".json"))
  count = 0
  with atomic_files([path]) as (tmp,), tmp.open("w", newline="", encoding="utf-8") as out:
    if suffix == ".csv":
      writer = csv.writer(out)
      writer.writerow(["id"] + [f"{f}:{v}" for f in names for v in model.formats[f].variables]
                      + [f"{f}:strongest" for f in strongest])
    else:
      out.write("{\n" + f' "model": {json.dumps(str(model.workdir), ensure_ascii=False)},\n'
                f' "source": {json.dumps(source, ensure_ascii=False)},\n "items": [')
    for items, predictions in rows:
      for r, item_id in enumerate(items.ids):
        if suffix == ".csv":
          writer.writerow([item_id] + [_cell(v, 6) for f in names for v in predictions[f][r]]
                          + [_cell(predictions[f"{f}.strongest"][r]) for f in strongest])
          continue
        record = {"id": item_id, "predictions": {
            f: dict(zip(model.formats[f].variables, map(_json_value, predictions[f][r]))) for f in names}}
        if strongest:
          record["strongest"] = {f: predictions[f"{f}.strongest"][r] for f in strongest}
        out.write(("\n  " if count == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
        count += 1
      count += len(items) if suffix == ".csv" else 0
    if suffix == ".json":
      out.write("\n ]\n}\n")
  return count

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
  e = np.asarray(e_NxE, np.float32)
  if len(items) == 0 or len(e) != len(items):
    check_output(path, (".npy", ".csv", ".json"))
    raise ValueError(f"--output {path}: nothing to write ({len(items)} items, {len(e)} embeddings)")
  return write_embedding_stream(path, model, items.source, [(items, e)])


@contextlib.contextmanager
def _scratch(path: pathlib.Path):
  """A hidden temporary file beside `path`, removed when the block ends."""
  tmp = path.with_name(f".{path.name}.rows-{uuid.uuid4().hex[:8]}")
  try:
    yield tmp
  finally:
    tmp.unlink(missing_ok=True)


def _numbered(rows: Iterable[tuple[Items, np.ndarray]]) -> Iterator[tuple[int, Items, np.ndarray]]:
  """(row number of the chunk's first item, items, float32 embeddings) of each chunk."""
  start = 0
  for items, e in rows:
    yield start, items, np.asarray(e, np.float32)
    start += len(items)


def write_embedding_stream(path: str | pathlib.Path, model, source: str,
                           rows: Iterable[tuple[Items, np.ndarray]]) -> list[pathlib.Path]:
  """`write_embeddings` chunk by chunk: each (items, embeddings) is written as it comes. For an .npy
  export the rows go to a scratch file of raw float32 that becomes the .npy at the end, and the
  index, which holds one small record per row (id, text or path) and the checksums of the other
  parts, is written last. Whole or not at all; no rows at all is an error. Returns the files."""
  path = pathlib.Path(path)
  suffix = check_output(path, (".npy", ".csv", ".json"))
  meta = {"emojax_index": INDEX_VERSION, "model": str(pathlib.Path(model.workdir).resolve()),
          "modality": require_content_model(model), "stage1": stage1_of(model), "source": source}
  paths = index_paths(path) if suffix == ".npy" else (path,)
  count, dim, records = 0, 0, []
  with atomic_files(paths) as tmps, _scratch(path) as raw:
    if suffix == ".npy":
      with raw.open("wb") as out:
        for start, items, e in _numbered(rows):
          out.write(np.ascontiguousarray(e).tobytes())
          records += [{**r, "row": r["row"] + start} for r in items.records()]
          count, dim = start + len(items), e.shape[1]
    elif suffix == ".csv":
      with tmps[0].open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        for start, items, e in _numbered(rows):
          if start == 0:
            writer.writerow(["id"] + [f"e{j}" for j in range(e.shape[1])])
          writer.writerows([i] + [repr(float(v)) for v in row] for i, row in zip(items.ids, e))
          count, dim = start + len(items), e.shape[1]
    else:
      with tmps[0].open("w", encoding="utf-8") as out:
        out.write(json.dumps(meta, ensure_ascii=False)[:-1] + ', "items": [')
        for start, items, e in _numbered(rows):
          for k, (rec, row) in enumerate(zip(items.records(), e)):
            rec = {**rec, "row": start + k, "embedding": [_json_value(v) for v in row]}
            out.write(("" if start + k == 0 else ", ") + json.dumps(rec, ensure_ascii=False))
          count, dim = start + len(items), e.shape[1]
        out.write(f'], "count": {count}, "dim": {dim}}}\n')
    if count == 0:
      raise ValueError(f"--output {path}: nothing to write (no items)")
    if suffix == ".npy":
      npy, index_json, index_csv = tmps
      with npy.open("wb") as out:
        _write_npy(out, raw, count, dim)
      with index_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
      parts = {"npy": {"file": paths[0].name, "sha256": sha256_file(npy)},
               "csv": {"file": paths[2].name, "sha256": sha256_file(index_csv)}}
      full = {**meta, "count": count, "dim": dim, "export_id": uuid.uuid4().hex, "parts": parts,
              "items": records}
      full["meta_sha256"] = meta_sha256(full)
      index_json.write_text(json.dumps(full, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
  return list(paths)


def _write_npy(out, raw: pathlib.Path, rows: int, dim: int) -> None:
  """The .npy file np.save writes for a float32 rows x dim array whose data are the bytes of
  `raw`, copied in blocks."""
  header = np.lib.format.header_data_from_array_1_0(np.zeros((0, dim), np.float32))
  np.lib.format.write_array_header_1_0(out, {**header, "shape": (rows, dim)})
  with raw.open("rb") as f:
    shutil.copyfileobj(f, out, 1 << 20)
