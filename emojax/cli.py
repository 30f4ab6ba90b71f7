"""The `emojax` command: predict, embed, export and retrieve words, texts or images in the emotion space.

  emojax "I lost my job today and my dog died" "What a wonderful surprise party!" --format vad,be5
  emojax predict happy funeral --model words --format all
  emojax predict --file headlines.txt --format be5 --output p.csv
  emojax predict --model checkpoints/texts --file data.csv --column text --output p.json
  emojax predict --images my_photos/ --format va
  emojax export --model images --dataset bass --output /tmp/bass.npy
  emojax retrieve --index /tmp/bass.npy --model texts "I lost my dog"
  emojax retrieve --index /tmp/bass.npy --label be5:fear=1 --label vad:valence=1 -k 3
  emojax map 0.8,0.3 -0.6,0.4 --from va --to be5        # labels through the pretrained codec
  emojax map --file ratings.csv --from vad --to all --output mapped.csv
  emojax models                                   # the pretrained models and their cards
  emojax plot predictions --model words happy funeral war --output words.png   # also: heads, overview

(`python launch/predict.py ...` is the same command, run from a checkout.) `--model` is a pretrained
model (codec, words, texts, images) or the workdir of a model you trained; by default free text goes
to the pretrained texts model, `--images` to the images model, `--dataset` to its modality's model.
`predict` (the default command) prints a table of each format's variables (canonical units: VA/VAD
in [-1, 1], basic emotions in [0, 1], class formats as probabilities) or writes CSV/JSON with
`--output`. `embed` writes embeddings to .npy (+ index), .csv or .json; `export` is `embed` into
.npy + `<stem>.index.json` + `<stem>.index.csv`. `retrieve` finds the nearest items of an exported
collection to each query (cosine, by default within the span of the head rows); the query model
must share the collection's stage-1 checkpoint, and a label query leaves unnamed variables at 0
(`emojax.retrieval`).

Input files: `.csv` is comma-separated, `.tsv` (or any file whose first line holds a tab) is
tab-separated, anything else is one item per line; `--header`/`--no-header` say whether a table's
first row names its columns (default: when --column names one, or a cell is a usual column name
such as word or text). Text is read after Unicode NFKC with invisible characters removed. Outputs are
checked before any work and written whole or not at all (docs/errors.md).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys

import numpy as np

import emojax
from emojax import checkpoint, mesh, predict, pretrained, retrieval

COMMANDS = ("predict", "embed", "export", "retrieve", "map", "models", "plot")
LABEL_VALUES = re.compile(r"^-?[0-9.][0-9.,eE+-]*$")  # a label of `map`: numbers and commas


def _inputs(p: argparse.ArgumentParser) -> None:
  p.add_argument("items", nargs="*", help="words, texts or image files/folders")
  p.add_argument("--file", help="text file (one item per line) or CSV file (with --column)")
  p.add_argument("--column", help="CSV/TSV column holding the items (a name, or with --no-header a "
                                  "number counted from 1)")
  p.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                 help="the file's first row names its columns (default: guessed, see above)")
  p.add_argument("--aggregate", choices=("mean",), default=None,
                 help="words model: read a multi-word item as the mean of its words' vectors "
                      "(default: refuse it; the texts model reads phrases)")
  p.add_argument("--images", help="folder of images (every image file in it, by name)")
  p.add_argument("--oov", choices=("error", "skip", "nan"), default="error",
                 help="words without a vector: stop with an error (default), drop them, or empty rows")
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  p.add_argument("--quiet", action="store_true", help="no progress line")


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="emojax", description=__doc__.splitlines()[0],
                              epilog=__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  for name in ("predict", "embed", "export"):
    q = sub.add_parser(name, help={"predict": "label values in any format (default command)",
                                   "embed": "100-d emotion embeddings",
                                   "export": "embeddings to .npy + index, for retrieve or other tools"}[name])
    q.add_argument("--model", default=None,
                   help="a pretrained model (words, texts, images) or a stage-2 workdir (default: "
                        "texts for words and texts, images for --images, a dataset's own modality)")
    q.add_argument("--dataset", help="a bundled dataset instead of items, e.g. bass, warriner_vad")
    q.add_argument("--output", required=name == "export",
                   help=".csv or .json" + (", or .npy (+ index)" if name != "predict" else ""))
    if name == "predict":
      q.add_argument("--format", help="label format(s): vad, be5, 'vad,be5' or all (default: the "
                                      "format the encoder was trained on)")
    _inputs(q)
  q = sub.add_parser("retrieve", help="nearest items of an exported collection to each query")
  q.add_argument("--index", required=True, help="the .npy of an export (with its .index.json)")
  q.add_argument("--model", help="stage-2 model embedding the query items (same stage-1 checkpoint "
                                 "as the collection); label queries default to the collection's model")
  q.add_argument("--label", action="append", default=[], help="e.g. be5:fear=1 or vad:valence=1,arousal=0.5")
  q.add_argument("-k", type=int, default=5, help="results per query (default 5)")
  q.add_argument("--space", choices=("heads", "full"), default="heads",
                 help="cosine in the span of the head rows, the part of the space the heads read "
                      "(default), or in the whole 100-d space (emojax.retrieval)")
  q.add_argument("--output", help="write the results as .csv or .json")
  _inputs(q)
  q = sub.add_parser("map", help="translate labels from one format to others through the codec")
  q.add_argument("values", nargs="*", help="one label per argument, its variables comma-separated in "
                                           "canonical units, e.g. 0.8,0.3 for va (valence, arousal)")
  q.add_argument("--from", dest="source", required=True, help="the labels' format, e.g. va")
  q.add_argument("--to", dest="targets", required=True, help="target format(s): be5, 'be5,vad' or all")
  q.add_argument("--file", help="CSV/TSV of labels, one column per variable named as in the format "
                                "(any order; an optional id column names the rows)")
  q.add_argument("--model", default="codec", help="the codec of any model (default: pretrained codec)")
  q.add_argument("--output", help="write .csv or .json instead of printing a table")
  q.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  sub.add_parser("models", help="the pretrained models of this installation and their cards")
  q = sub.add_parser("plot", help="pictures: head rows, predictions, the two stages (PNG)")
  kinds = q.add_subparsers(dest="picture", required=True)
  k = kinds.add_parser("heads", help="every head row of every format in 2-D, tied rows together")
  k.add_argument("--model", default="codec", help="a pretrained model or workdir (default: codec)")
  k.add_argument("--color", help="also the label embeddings of its mapping data, coloured by "
                                 "FORMAT:VARIABLE, e.g. vad:valence")
  k = kinds.add_parser("predictions", help="items placed by predicted valence and arousal, "
                                           "coloured by their strongest basic emotion")
  k.add_argument("items", nargs="*", help="words, texts or image files (default: a dozen examples)")
  k.add_argument("--model", default="texts", help="words, texts, images or a workdir (default: texts)")
  kinds.add_parser("overview", help="the two stages (docs/two_stages.png)")
  for k in kinds.choices.values():
    k.add_argument("--output", required=True, help="the .png to write")
    k.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  p.add_argument("--version", action="version", version=f"emojax {emojax.__version__}")
  return p


def parse(argv) -> argparse.Namespace:
  argv = list(argv)
  if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
    argv.insert(0, "predict")  # the default command
  if argv[0] == "map":  # labels such as -0.6,0.4 are values, not options: all go after "--", in order
    values = [a for a in argv[1:] if LABEL_VALUES.match(a)]
    argv = [a for a in argv if not LABEL_VALUES.match(a)] + (["--", *values] if values else [])
  return build_parser().parse_args(argv)


def run(args) -> int:
  """Runs one parsed command; bad input prints `error: ...` (no stack trace) and returns 2."""
  try:
    if args.command == "models":
      return models()
    if args.command == "plot":
      return plot(args)
    if args.command == "map":
      return map_labels(args)
    return retrieve(args) if args.command == "retrieve" else predict_or_embed(args)
  except (ValueError, KeyError, TypeError, checkpoint.CheckpointError) as err:
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    print(f"error: {message}", file=sys.stderr)
    return 2


def default_model(args) -> str:
  """The model a command names, else the pretrained one of its input: free text (words too: the
  texts model reads single words as well) goes to `texts`, `--images` to `images`, a bundled
  dataset to the model of its modality."""
  if args.model is not None:
    return args.model
  if args.images:
    return "images"
  if args.dataset:
    return predict.dataset_names().get(args.dataset, "texts")
  return "texts"


def _load(name: str):
  model = emojax.load(name)
  return model, predict.require_content_model(model)


def predict_or_embed(args) -> int:
  if args.command == "export" and pathlib.Path(args.output).suffix.lower() != ".npy":
    raise ValueError(f"export --output {args.output}: an export is a .npy file (plus its index)")
  if args.output:  # before any work: a bad path must not cost a model load and an embedding run
    predict.check_output(args.output, (".csv", ".json") if args.command == "predict"
                         else (".npy", ".csv", ".json"))
  args.model = default_model(args)
  model, modality = _load(args.model)
  items = predict.read_items(modality, values=args.items, file=args.file, column=args.column,
                             images=args.images, dataset=args.dataset, header=args.header)
  names = predict.format_names(model, args.format) if args.command == "predict" else None
  given = len(items)
  e, items = predict.embed_items(model, items, oov=args.oov, show_progress=not args.quiet,
                                 aggregate=args.aggregate)
  if len(items) < given:
    print(f"--oov=skip: left out {given - len(items)} of {given} item(s) without a vector",
          file=sys.stderr)
  if args.command == "predict":
    predictions = predict.predict_formats(model, e, names)
    if args.output:
      predict.write_predictions(args.output, items, model, predictions)
      print(f"{len(items)} item(s), formats {names}: {args.output}")
    else:
      print(predict.format_table(items.ids, predict.prediction_columns(model, predictions)))
    return 0
  if args.output:
    written = predict.write_embeddings(args.output, items, model, e)
    print(f"{len(items)} embedding(s) of {items.source} ({e.shape[1]}-d, {modality}, model "
          f"{args.model}): " + ", ".join(map(str, written)))
  else:
    shown = {"embedding (first 6 of %d dims)" % e.shape[1]: ([f"e{j}" for j in range(6)], e[:, :6])}
    print(predict.format_table(items.ids, shown))
  return 0


def retrieve(args) -> int:
  if args.output:
    predict.check_output(args.output, (".csv", ".json"))
  index = retrieval.load_index(args.index)
  has_items = bool(args.items or args.file or args.images)
  if not has_items and not args.label:
    raise ValueError("no query: give words/texts/images (with --model) or --label FORMAT:VAR=VALUE")
  if has_items and not args.model:
    labels = [x for x in args.items if retrieval.is_label_query(x)]
    hint = f"; {labels[0]!r} looks like a label query: pass it as --label {labels[0]}" if labels else ""
    raise ValueError(f"word, text or image queries need --model: the stage-2 model that embeds them{hint}")
  model = emojax.load(args.model or index.meta["model"])
  retrieval.check_same_space(index, model)
  queries, embedded = [], []
  if args.label:
    queries += args.label
    embedded.append(retrieval.embed_label_queries(model, args.label))
  if has_items:
    items = predict.read_items(predict.require_content_model(model), values=args.items,
                               file=args.file, column=args.column, images=args.images,
                               header=args.header)
    e, items = predict.embed_items(model, items, oov=args.oov, show_progress=not args.quiet,
                                   aggregate=args.aggregate)
    queries += items.ids
    embedded.append(e)
  basis = retrieval.head_basis(model) if args.space == "heads" else None
  rows, cos = retrieval.nearest(index.embeddings, np.concatenate(embedded), args.k, basis)
  if args.output:
    retrieval.write_results(args.output, index, queries, rows, cos)
    print(f"{len(queries)} query(ies) x {rows.shape[1]} results: {args.output}")
  else:
    print(retrieval.format_results(index, queries, rows, cos))
  return 0


def plot(args) -> int:
  """`emojax plot heads|predictions|overview --output FILE.png` (emojax.pictures)."""
  from emojax import pictures  # matplotlib only when drawing: every other command starts faster
  predict.check_output(args.output, (".png",))
  if args.picture == "overview":
    path = pictures.plot_overview(args.output)
  elif args.picture == "heads":
    path = pictures.plot_head_rows(emojax.load(args.model), args.output, args.color)
  else:
    model, modality = _load(args.model)
    items = args.items or pictures.DEFAULT_ITEMS.get(modality)
    if not items:
      raise ValueError(f"plot predictions --model {args.model}: give the {modality} to place")
    path = pictures.plot_predictions(model, items, args.output)
  print(path)
  return 0


def label_rows(args, model) -> tuple[list[str], object]:
  """(row names, labels) of `map`: the arguments as an N x V array, or `--file` as a DataFrame
  that `map_labels` reads by column name."""
  if args.file and args.values:
    raise ValueError("give labels as arguments or --file, not both")
  if args.file:
    path = pathlib.Path(args.file)
    if not path.is_file():
      raise ValueError(f"--file {path}: no such file")
    if path.stat().st_size > predict.max_file_bytes():
      raise ValueError(f"--file {path} is {path.stat().st_size:,} bytes, over the limit of "
                       f"{predict.max_file_bytes():,} (EMOJAX_MAX_FILE_BYTES)")
    import pandas as pd  # only `map --file` reads a table
    frame = pd.read_csv(path, sep="\t" if predict.file_kind(path) == "tsv" else ",")
    ids = [str(i) for i in frame.pop("id")] if "id" in frame else [f"row {i + 1}" for i in range(len(frame))]
    return ids, frame
  if not args.values:
    raise ValueError("no labels: give them as arguments (e.g. 0.8,0.3) or --file")
  rows = []
  for text in args.values:
    try:
      rows.append([float(v) for v in text.split(",")])
    except ValueError:
      raise ValueError(f"label {predict.shorten(text, 80)!r} is not a comma-separated list of "
                       f"numbers (e.g. 0.8,0.3 for va)") from None
  if len({len(r) for r in rows}) > 1:
    raise ValueError(f"labels of different lengths: {args.values}")
  return list(args.values), np.asarray(rows, np.float32)


def map_labels(args) -> int:
  if args.output:  # before any work
    predict.check_output(args.output, (".csv", ".json"))
  model = emojax.load(args.model)
  targets = list(model.layout.formats) if args.targets == "all" else args.targets.split(",")
  ids, labels = label_rows(args, model)
  mapped = {t: np.asarray(model.map_labels(labels, args.source, t)) for t in targets}
  if args.output:
    rows = predict.Items(ids=ids, inputs=ids, source=args.file or "arguments", kind="text")
    predict.write_predictions(args.output, rows, model, mapped)
    print(f"{len(ids)} label(s) {args.source} -> {targets}: {args.output}")
  else:
    print(predict.format_table(ids, predict.prediction_columns(model, mapped)))
  return 0


def models() -> int:
  for name in pretrained.NAMES:
    state = pretrained.ROOT / name / pretrained.CARD if name in pretrained.installed() else "not built"
    print(f"{name:7s} {state}")
  return 0


def main(argv=None) -> int:
  """The console command: offline, on the platform `--accelerator` names (default: JAX's best)."""
  args = parse(sys.argv[1:] if argv is None else argv)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the backbones come from installed packages
  mesh.start(getattr(args, "accelerator", None))
  return run(args)


if __name__ == "__main__":
  sys.exit(main())
