"""Use a trained model: predict, embed/export and retrieve words, texts or images in the emotion space.

  python launch/predict.py --model checkpoints/words happy funeral --format all
  python launch/predict.py --model checkpoints/texts --file headlines.txt --format be5 --output p.csv
  python launch/predict.py --model checkpoints/texts --file data.csv --column text --output p.json
  python launch/predict.py --model checkpoints/images --images my_photos/ --format va
  python launch/predict.py export --model checkpoints/images --dataset bass --output /tmp/bass.npy
  python launch/predict.py retrieve --index /tmp/bass.npy --model checkpoints/texts "I lost my dog"
  python launch/predict.py retrieve --index /tmp/bass.npy --label be5:fear=1 --label vad:valence=1 -k 3

`predict` (the default command) prints a table of each format's variables (canonical units: VA/VAD
in [-1, 1], basic emotions in [0, 1], class formats as probabilities) or writes CSV/JSON with
`--output`. `embed` writes embeddings to .npy (+ index), .csv or .json; `export` is `embed` into
.npy + `<stem>.index.json` + `<stem>.index.csv`. `retrieve` finds the nearest items of an exported
collection to each query (cosine, by default within the span of the head rows); the query model
must share the collection's stage-1 checkpoint, and a label query leaves unnamed variables at 0
(`emojax.retrieval`).
"""

import argparse
import pathlib
import sys

import common

COMMANDS = ("predict", "embed", "export", "retrieve")


def _inputs(p: argparse.ArgumentParser) -> None:
  p.add_argument("items", nargs="*", help="words, texts or image files/folders")
  p.add_argument("--file", help="text file (one item per line) or CSV file (with --column)")
  p.add_argument("--column", help="CSV column holding the items")
  p.add_argument("--images", help="folder of images (every image file in it, by name)")
  p.add_argument("--oov", choices=("error", "skip", "nan"), default="error",
                 help="words without a vector: stop with an error (default), drop them, or empty rows")
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  p.add_argument("--quiet", action="store_true", help="no progress line")


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  for name in ("predict", "embed", "export"):
    q = sub.add_parser(name, help={"predict": "label values in any format (default command)",
                                   "embed": "100-d emotion embeddings",
                                   "export": "embeddings to .npy + index, for retrieve or other tools"}[name])
    q.add_argument("--model", default=str(common.ROOT / "checkpoints" / "words"),
                   help="stage-2 workdir (default checkpoints/words)")
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
  return p


def parse(argv) -> argparse.Namespace:
  argv = list(argv)
  if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
    argv.insert(0, "predict")  # the default command
  return build_parser().parse_args(argv)


def run(args) -> int:
  """Runs one parsed command; bad input prints `error: ...` (no stack trace) and returns 2."""
  from emojax import checkpoint
  try:
    return retrieve(args) if args.command == "retrieve" else predict_or_embed(args)
  except (ValueError, KeyError, TypeError, checkpoint.CheckpointError) as err:
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    print(f"error: {message}", file=sys.stderr)
    return 2


def main() -> int:
  args = parse(sys.argv[1:])
  common.setup(args)
  return run(args)


def _load(workdir: str):
  import emojax
  from emojax import predict
  model = emojax.load(workdir)
  return model, predict.require_content_model(model)


def predict_or_embed(args) -> int:
  from emojax import predict
  model, modality = _load(args.model)
  items = predict.read_items(modality, values=args.items, file=args.file, column=args.column,
                             images=args.images, dataset=args.dataset)
  if args.command == "export" and pathlib.Path(args.output).suffix.lower() != ".npy":
    raise ValueError(f"export --output {args.output}: an export is a .npy file (plus its index)")
  names = predict.format_names(model, args.format) if args.command == "predict" else None
  given = len(items)
  e, items = predict.embed_items(model, items, oov=args.oov, show_progress=not args.quiet)
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
  import numpy as np
  import emojax
  from emojax import predict, retrieval
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
                               file=args.file, column=args.column, images=args.images)
    e, items = predict.embed_items(model, items, oov=args.oov, show_progress=not args.quiet)
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


if __name__ == "__main__":
  sys.exit(main())
