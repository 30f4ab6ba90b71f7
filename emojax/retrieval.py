"""Cross-modal retrieval: nearest items of an exported collection to a query, by cosine in the space.

A collection is an index written by `emojax.predict.write_embeddings` (`x.npy` + `x.index.json` +
`x.index.csv`): embeddings of, say, the BASS images by the images model. `load_index` checks that
the parts belong together and are intact (the sha256 of each recorded in the index JSON, and of the
JSON itself) and refuses a mismatch naming the files. A query is a word, text or image embedded
by any stage-2 model trained against the *same* stage-1 checkpoint (their encoders then share one
space; a model of another stage-1 checkpoint is refused, `check_same_space`), or a label such as
`be5:fear=1` or `vad:valence=1,arousal=0.5` embedded by the codec's label encoder
(`EmotionModel.embed_labels`). A label names some variables of one format; the others take the
format's neutral value (`neutral_value`): 0 in canonical units, which is the midpoint of the
dimensional [-1, 1] scales (neither pleasant nor unpleasant, neither calm nor excited) and
"absent" for basic-emotion intensities and classes [0, 1]. So `be5:fear=1` is pure fear with no
joy, anger, sadness or disgust, and `vad:valence=1` is very pleasant at middle arousal and dominance.

Cosine is taken, by default, between the projections onto the span of the stage-1 head rows
(`head_basis`; 16 of 100 dimensions for va+be5+vad+be6). A content encoder is trained only through
the heads, so the rest of its embedding is unconstrained and differs from encoder to encoder; in the
full space it dominates the cosine (87% of a BASS image embedding's energy lies outside the span)
and cross-modal neighbours barely follow emotion (`scripts/retrieval_eval.py`: EmoBank texts ->
BASS images, r = .03 between a text's gold valence and its top-10 images' mean gold valence; .39
within the span). `nearest(..., basis_RxE=None)` gives the full-space cosine.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import re
import warnings

import numpy as np

from emojax import predict

LABEL_QUERY = re.compile(r"^\s*([A-Za-z][\w-]*)\s*:\s*(.*?)\s*$")


def neutral_value(fmt) -> float:
  """The value of a variable a label query leaves out: 0 clipped into the canonical range."""
  return float(np.clip(0.0, fmt.low, fmt.high))


def is_label_query(text: str) -> bool:
  m = LABEL_QUERY.match(text)
  return bool(m) and "=" in m.group(2)


def parse_label(query: str, model) -> tuple[str, np.ndarray]:
  """`"be5:joy=1,fear=0.2"` -> ("be5", [[1, 0, 0, 0.2, 0]]) in canonical units; unnamed variables
  take `neutral_value`. Unknown formats or variables, repeated variables, values that are no
  number or lie outside the format's range raise a ValueError naming them."""
  m = LABEL_QUERY.match(query)
  if not m or "=" not in m.group(2):
    raise ValueError(f"label query {query!r}: expected FORMAT:VARIABLE=VALUE[,VARIABLE=VALUE...], "
                     f"e.g. be5:fear=1 or vad:valence=1,arousal=0.5")
  name, body = m.group(1), m.group(2)
  if name not in model.formats:
    raise ValueError(f"label query {query!r}: unknown label format {name!r}; this model knows "
                     f"{list(model.formats)}")
  fmt = model.formats[name]
  values = np.full(fmt.size, neutral_value(fmt), np.float32)
  seen = set()
  for part in body.split(","):
    variable, eq, number = (s.strip() for s in part.partition("="))
    if not eq or not variable:
      raise ValueError(f"label query {query!r}: {part.strip()!r} is not VARIABLE=VALUE")
    if variable not in fmt.variables:
      raise ValueError(f"label query {query!r}: format {name!r} has no variable {variable!r}; its "
                       f"variables are {list(fmt.variables)}")
    if variable in seen:
      raise ValueError(f"label query {query!r}: {variable!r} is given twice")
    seen.add(variable)
    try:
      value = float(number)
    except ValueError:
      raise ValueError(f"label query {query!r}: {variable}={number!r} is not a number") from None
    if not np.isfinite(value) or not fmt.low <= value <= fmt.high:
      raise ValueError(f"label query {query!r}: {variable}={number} is outside the canonical range "
                       f"[{fmt.low:g}, {fmt.high:g}] of format {name!r}")
    values[fmt.variables.index(variable)] = value
  return name, values[None]


def embed_label_queries(model, queries: list[str]) -> np.ndarray:
  rows = [model.embed_labels(values, name) for name, values in (parse_label(q, model) for q in queries)]
  return np.concatenate(rows)


@dataclasses.dataclass
class Index:
  """An exported collection: embeddings (N x E) in row order, the index's metadata and records."""

  path: pathlib.Path
  embeddings: np.ndarray
  meta: dict
  items: list[dict]

  def describe(self, row: int) -> str:
    item = self.items[row]
    extra = item.get("text") if item.get("text") not in (None, item["id"]) else None
    return item["id"] if extra is None else f"{item['id']}: {extra}"


def load_index(path: str | pathlib.Path) -> Index:
  """Reads `x.npy` and `x.index.json` (and checks `x.index.csv`); missing files, parts of different
  exports, a changed byte in any part, a row-count mismatch, an empty index or non-finite rows raise
  a ValueError naming the file. An index written before checksums existed (version 1) loads with a
  warning."""
  npy, index_json, index_csv = predict.index_paths(path)
  if npy.suffix.lower() != ".npy":
    raise ValueError(f"--index {npy}: expected the .npy file of an export (x.npy + x.index.json)")
  for p in (npy, index_json):
    if not p.is_file():
      raise ValueError(f"index file {p} does not exist; write an index with "
                       f"`python launch/predict.py export --model DIR ... --output {npy}`")
  try:
    meta = json.loads(predict.read_utf8(index_json))
  except json.JSONDecodeError as err:
    raise ValueError(f"{index_json} is not valid JSON (corrupted?): {err}") from None
  if not isinstance(meta, dict) or meta.get("emojax_index") not in (1, predict.INDEX_VERSION) \
      or not isinstance(meta.get("items"), list):
    raise ValueError(f"{index_json} is not an emojax index (version {predict.INDEX_VERSION})")
  if meta["emojax_index"] == 1:
    warnings.warn(f"{index_json} is an index of version 1 (no checksums): its parts cannot be "
                  f"checked against each other; export it again", stacklevel=2)
  else:
    _check_parts(meta, npy, index_json, index_csv)
  try:
    e = np.load(npy, allow_pickle=False)
  except (ValueError, OSError, EOFError) as err:
    raise ValueError(f"{npy} is not a readable .npy file (corrupted?): {err}") from None
  if e.ndim != 2 or len(e) != len(meta["items"]):
    raise ValueError(f"{npy} has shape {e.shape}, but {index_json} lists {len(meta['items'])} rows")
  if len(e) == 0:
    raise ValueError(f"{npy} holds no rows: an empty collection cannot be searched")
  bad = ~np.isfinite(e).all(1)
  if bad.any():
    raise ValueError(f"{npy}: row {int(np.argmax(bad))} is not finite (NaN rows cannot be searched; "
                     f"export with --oov=skip)")
  return Index(npy, e.astype(np.float32), {k: v for k, v in meta.items() if k != "items"},
               meta["items"])


def _check_parts(meta: dict, npy: pathlib.Path, index_json: pathlib.Path,
                 index_csv: pathlib.Path) -> None:
  """The index JSON's own checksum, then each part's against the one the JSON records."""
  if meta.get("meta_sha256") != predict.meta_sha256(meta):
    raise ValueError(f"{index_json} is corrupted: its content does not match its recorded checksum "
                     f"(meta_sha256); export the collection again")
  parts = meta.get("parts")
  if not isinstance(parts, dict) or set(parts) != {"npy", "csv"}:
    raise ValueError(f"{index_json} is corrupted: it records no checksums of its parts")
  for key, part in (("npy", npy), ("csv", index_csv)):
    if not part.is_file():
      raise ValueError(f"index file {part} does not exist; {index_json} (export "
                       f"{meta.get('export_id', '?')[:12]}) expects it beside it")
    if predict.sha256_file(part) != parts[key]["sha256"]:
      raise ValueError(f"{part} does not belong to {index_json}: its checksum differs from the one "
                       f"export {meta.get('export_id', '?')[:12]} recorded (a file of another export, "
                       f"an interrupted export, or a corrupted file); export the collection again")


def check_same_space(index: Index, model) -> None:
  """Refuses a query model that embeds into another space than the collection's: both must have
  been trained against the same stage-1 checkpoint (same fingerprint)."""
  ours, theirs = predict.stage1_of(model), index.meta["stage1"]
  if ours["fingerprint"] != theirs["fingerprint"]:
    raise ValueError(
        f"the query model {model.workdir} was trained against the stage-1 checkpoint {ours['path']} "
        f"(fingerprint {ours['fingerprint'][:12]}), but the collection {index.path} was embedded by "
        f"{index.meta['model']} against {theirs['path']} ({theirs['fingerprint'][:12]}): different "
        f"spaces, so the distances would mean nothing. Use models trained against one stage-1 "
        f"checkpoint")


def head_basis(model) -> np.ndarray:
  """Orthonormal basis (R x E) of the span of every stage-1 head row: the part of the space that
  some head reads. A content encoder is trained only through the heads, so the rest of its
  embedding is unconstrained; projecting onto this span leaves out that part."""
  bank = np.asarray(model.params["bank"], np.float64)  # a ContentModel holds its stage-1 params
  _, s, vt = np.linalg.svd(bank, full_matrices=False)
  return vt[:int((s > 1e-6 * s[0]).sum())]


def nearest(collection_NxE: np.ndarray, queries_QxE: np.ndarray, k: int,
            basis_RxE: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Rows (Q x k) of the k most cosine-similar collection items per query, and their cosines;
  with `basis_RxE`, cosine between the projections onto that basis (`head_basis`)."""
  if k < 1:
    raise ValueError(f"k must be at least 1, got {k}")
  def unit(x):
    x = np.asarray(x, np.float64)
    x = x if basis_RxE is None else x @ basis_RxE.T
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  cos = unit(queries_QxE) @ unit(collection_NxE).T
  k = min(k, cos.shape[1])
  rows = np.argsort(-cos, axis=1, kind="stable")[:, :k]
  return rows, np.take_along_axis(cos, rows, 1)


def result_records(index: Index, queries: list[str], rows: np.ndarray, cos: np.ndarray) -> list[dict]:
  """One record per (query, rank): the collection row, its id, text or path, and the cosine."""
  out = []
  for q, query in enumerate(queries):
    for rank, (row, c) in enumerate(zip(rows[q], cos[q]), 1):
      out.append({"query": query, "rank": rank, "cosine": round(float(c), 6),
                  **{k: v for k, v in index.items[row].items()}})
  return out


def format_results(index: Index, queries: list[str], rows: np.ndarray, cos: np.ndarray,
                   width: int = 70) -> str:
  """A block per query: rank, cosine and the item (id, and its text where the id is a key)."""
  lines = [f"collection: {index.path} ({index.meta['count']} {index.meta['modality']} of "
           f"{index.meta['source']}, model {index.meta['model']})"]
  for q, query in enumerate(queries):
    lines += ["", f"query: {query}", "rank  cosine  item"]
    for rank, (row, c) in enumerate(zip(rows[q], cos[q]), 1):
      lines.append(f"{rank:>4}  {c:6.3f}  {predict.shorten(index.describe(row), width)}")
  return "\n".join(lines)


def write_results(path: str | pathlib.Path, index: Index, queries: list[str], rows: np.ndarray,
                  cos: np.ndarray) -> None:
  """CSV (one line per query and rank) or JSON (with the collection's metadata)."""
  path = pathlib.Path(path)
  suffix = predict.check_output(path, (".csv", ".json"))
  records = result_records(index, queries, rows, cos)
  with predict.atomic_files([path]) as (tmp,):
    if suffix == ".json":
      tmp.write_text(json.dumps({"collection": {**index.meta, "path": str(index.path)},
                                 "results": records}, indent=1, ensure_ascii=False) + "\n",
                     encoding="utf-8")
      return
    with tmp.open("w", newline="", encoding="utf-8") as out:
      writer = csv.DictWriter(out, fieldnames=list(records[0]))
      writer.writeheader()
      writer.writerows(records)
