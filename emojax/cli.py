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
  emojax train words --workdir /tmp/words epochs=10    # any run from its config file (a checkout)
  emojax train texts --help                       # every field of configs/texts.py, its default and range

(`python launch/predict.py ...` is the same command, run from a checkout.) `--model` is a pretrained
model (codec, words, words_fast, texts, texts_fast, images) or the workdir of a model you trained;
by default free text goes to the pretrained texts model, `--images` to the images model,
`--dataset` to its modality's model.
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

`predict`, `embed` and `export` read, embed and write `--batch-size` items at a time (4096 words,
256 texts, 64 images): a `--file` of any length runs in bounded memory, with a progress line; it is
read once before any work to check every line (an empty, over-long or non-UTF-8 line is an error
naming it) and to count the items. Output is written to a temporary file renamed when the last
item is in, so it is still whole or absent. A terminal table shows at most 10,000 items (more
need `--output`). `train` runs `launch/train.py` of the checkout in a child process (training is
not part of the serving commands): `emojax train CONFIG --help` lists every field of that config.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import signal
import subprocess
import sys

import numpy as np

import emojax
from emojax import calibration, checkpoint, mesh, predict, pretrained, progress, retrieval

COMMANDS = ("predict", "embed", "export", "retrieve", "map", "models", "plot", "train")
EXAMPLES = {  # each subcommand's --help ends with these
    "predict": """examples:
  emojax predict "What a wonderful surprise party!" --format vad,be5   # pretrained texts model
  emojax predict --model words happy funeral war --format all
  emojax predict "This is disgusting" --calibrated                  # the strongest emotion, calibrated
  emojax predict --file posts.txt --calibrate-on more_posts.txt --output p.csv  # against your domain
  emojax predict --file headlines.txt --output p.csv                # streamed, any length
  emojax predict --model checkpoints/texts --file data.csv --column text --output p.json
  emojax predict --images my_photos/ --format va""",
    "embed": """examples:
  emojax embed --model words happy war                     # the first 6 of 100 dimensions
  emojax embed --file texts.txt --output e.npy             # .npy + index, or .csv / .json""",
    "export": """examples:
  emojax export --model images --dataset bass --output /tmp/bass.npy
  emojax export --model words --file words.txt --output /tmp/words.npy --oov skip""",
    "retrieve": """examples:
  emojax retrieve --index /tmp/bass.npy --model texts "I lost my dog"
  emojax retrieve --index /tmp/bass.npy --label be5:fear=1 --label vad:valence=1 -k 3""",
    "map": """examples:
  emojax map 0.8,0.3 -0.6,0.4 --from va --to be5
  emojax map --file ratings.csv --from vad --to all --output mapped.csv""",
    "plot": """examples:
  emojax plot predictions --model words happy funeral war --output words.png
  emojax plot heads --color vad:valence --output heads.png
  emojax plot overview --output two_stages.png""",
}
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
    q = sub.add_parser(name, epilog=EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter,
                       help={"predict": "label values in any format (default command)",
                                   "embed": "100-d emotion embeddings",
                                   "export": "embeddings to .npy + index, for retrieve or other tools"}[name])
    q.add_argument("--model", default=None,
                   help="a pretrained model (words, words_fast, texts, texts_fast, images) or a stage-2 "
                        "workdir (default: texts for words and texts, images for --images, a dataset's own modality)")
    q.add_argument("--dataset", help="a bundled dataset instead of items, e.g. bass, warriner_vad")
    q.add_argument("--output", required=name == "export",
                   help=".csv or .json" + (", or .npy (+ index)" if name != "predict" else ""))
    q.add_argument("--batch-size", type=int, default=None,
                   help="items read, embedded and written at a time (default 4096 words, 256 "
                        "texts, 64 images): memory holds one batch, whatever the input's length")
    if name == "predict":
      q.add_argument("--format", help="label format(s): vad, be5, 'vad,be5' or all (default: the "
                                      "format the encoder was trained on)")
      q.add_argument("--calibrated", action="store_true",
                     help="emotion formats (be5, be6, ...) as z-scores against the model's "
                          "predictions on its training items (texts: and unlabelled texts of "
                          "the bundled genres), plus the strongest emotion of each item")
      q.add_argument("--calibrate-on", metavar="FILE_OR_FOLDER",
                     help="--calibrated against the model's predictions on these unlabelled items "
                          "of your own domain instead (a text file, one item per line, or a CSV's "
                          "first column; images: a folder): a few hundred or more")
    _inputs(q)
  q = sub.add_parser("retrieve", help="nearest items of an exported collection to each query",
                     epilog=EXAMPLES["retrieve"], formatter_class=argparse.RawDescriptionHelpFormatter)
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
  q = sub.add_parser("map", help="translate labels from one format to others through the codec",
                     epilog=EXAMPLES["map"], formatter_class=argparse.RawDescriptionHelpFormatter)
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
  q = sub.add_parser("plot", help="pictures: head rows, predictions, the two stages (PNG)",
                     epilog=EXAMPLES["plot"], formatter_class=argparse.RawDescriptionHelpFormatter)
  kinds = q.add_subparsers(dest="picture", required=True)
  k = kinds.add_parser("heads", help="every head row of every format in 2-D, tied rows together")
  k.add_argument("--model", default="codec", help="a pretrained model or workdir (default: codec)")
  k.add_argument("--color", help="also the label embeddings of its mapping data, coloured by "
                                 "FORMAT:VARIABLE, e.g. vad:valence")
  k = kinds.add_parser("predictions", help="items placed by predicted valence and arousal, "
                                           "coloured by their strongest basic emotion")
  k.add_argument("items", nargs="*", help="words, texts or image files (default: a dozen examples)")
  k.add_argument("--model", default="texts", help="words, words_fast, texts, texts_fast, images or a workdir "
                                                  "(default: texts)")
  kinds.add_parser("overview", help="the two stages (docs/two_stages.png)")
  for k in kinds.choices.values():
    k.add_argument("--output", required=True, help="the .png to write")
    k.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  sub.add_parser("train", add_help=False,
                 help="train stage 1, stage 2 or a new format from a config file: emojax train "
                      "CONFIG [--workdir DIR] [--restart] [name=value ...] (--help: its fields)")
  p.add_argument("--version", action="version", version=f"emojax {emojax.__version__}")
  return p


def parse(argv) -> argparse.Namespace:
  argv = list(argv)
  if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
    argv.insert(0, "predict")  # the default command
  if argv[0] == "map":  # labels such as -0.6,0.4 are values, not options: all go after "--", in order
    values = [a for a in argv[1:] if LABEL_VALUES.match(a)]
    argv = [a for a in argv if not LABEL_VALUES.match(a)] + (["--", *values] if values else [])
  if argv[0] == "train":  # every argument is launch/train.py's, --help included
    return argparse.Namespace(command="train", argv=argv[1:], accelerator=None)
  return build_parser().parse_args(argv)


def run(args) -> int:
  """Runs one parsed command; bad input prints `error: ...` (no stack trace) and returns 2."""
  try:
    if args.command == "models":
      return models()
    if args.command == "train":
      return train(args)
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
  """`predict`, `embed`, `export`: the items are read, embedded, predicted and written a chunk
  (`--batch-size`) at a time, so a file of any length runs in bounded memory; a file is read once
  first, to check every line and count the items for the progress line, before any work."""
  if args.command == "export" and pathlib.Path(args.output).suffix.lower() != ".npy":
    raise ValueError(f"export --output {args.output}: an export is a .npy file (plus its index)")
  if args.output:  # before any work: a bad path must not cost a model load and an embedding run
    predict.check_output(args.output, (".csv", ".json") if args.command == "predict"
                         else (".npy", ".csv", ".json"))
  args.model = default_model(args)
  model, modality = _load(args.model)
  source = predict.item_source(modality, values=args.items, file=args.file, column=args.column,
                               images=args.images, dataset=args.dataset, header=args.header,
                               chunk=args.batch_size)
  names = None
  calibrated = args.command == "predict" and (args.calibrated or bool(args.calibrate_on))
  if args.command == "predict":  # --calibrated alone: the formats the encoder was trained through
    names = (calibration.trained_formats(model) if calibrated and not args.format
             else predict.format_names(model, args.format))
  total = source.count()
  if not args.output and total > predict.TABLE_ROWS:
    raise ValueError(f"{source.name} holds {total:,} items, more than a terminal table shows "
                     f"({predict.TABLE_ROWS:,}): write them with --output FILE.csv or FILE.json "
                     f"(streamed, any number of items)")
  bar = progress.Progress(total, f"{args.command} {modality}", unit="item",
                          enabled=not args.quiet and total > (args.batch_size or predict.CHUNK[modality]))
  counts = {}
  rows = predict.embed_stream(model, source.chunks(), oov=args.oov, aggregate=args.aggregate,
                              bar=bar, counts=counts)
  if args.command == "predict":
    rows = ((items, predict.predict_formats(model, e, names)) for items, e in rows)
    strongest = []
    if calibrated:  # the record is checked before any work: --format vad is refused here
      record = (domain_calibration(model, modality, args.calibrate_on) if args.calibrate_on
                else calibration.for_model(model))
      strongest = calibration.calibrated_formats(record, names)
      calibration.check_trained(model, names)
      rows = ((items, with_strongest(*calibration.calibrated_predictions(p, record)))
              for items, p in rows)
    if args.output:
      predict.write_prediction_stream(args.output, model, names, source.name, rows, strongest)
    else:
      parts = list(rows)
      ids = [i for items, _ in parts for i in items.ids]
      joined = {f: np.concatenate([p[f] for _, p in parts]) for f in names}
      columns = predict.prediction_columns(model, joined)
      for f in strongest:  # a label column after the format's calibrated scores
        labels = [label for _, p in parts for label in p[f"{f}.strongest"]]
        columns[f"{f} strongest"] = (["emotion"], np.array(labels, dtype=object)[:, None])
      table = predict.format_table(ids, columns)
  elif args.output:
    written = predict.write_embedding_stream(args.output, model, source.name, rows)
  else:
    parts = list(rows)
    e = np.concatenate([e for _, e in parts])
    shown = {"embedding (first 6 of %d dims)" % e.shape[1]: ([f"e{j}" for j in range(6)], e[:, :6])}
    table = predict.format_table([i for items, _ in parts for i in items.ids], shown)
  if counts["kept"] < counts["given"] and args.oov == "skip":
    print(f"--oov=skip: left out {counts['given'] - counts['kept']} of {counts['given']} item(s) "
          f"without a vector", file=sys.stderr)
  if not args.output:
    print(table)
  elif args.command == "predict":
    print(f"{counts['kept']} item(s), formats {names}: {args.output}")
  else:
    print(f"{counts['kept']} embedding(s) of {source.name} ({counts['dim']}-d, {modality}, model "
          f"{args.model}): " + ", ".join(map(str, written)))
  return 0


def domain_calibration(model, modality: str, where: str) -> dict:
  """`calibration.from_items` on the items of `--calibrate-on` (a file; an image folder)."""
  try:
    items = predict.read_items(modality, **({"images": where} if modality == "images" else {"file": where}))
    return calibration.from_items(model, items.inputs)
  except ValueError as err:
    raise ValueError(f"--calibrate-on {where}: {err}") from None


def with_strongest(values: dict, top: dict) -> dict:
  """`calibration.calibrated_predictions`' (scores, strongest labels) as one mapping: each
  format's scores, and "<format>.strongest" for each calibrated format."""
  return {**values, **{f"{f}.strongest": labels for f, labels in top.items()}}


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


def train(args) -> int:
  """`emojax train ...` is `python launch/train.py ...` of the checkout, in a child process: the
  trainers are the training layer, which no serving module imports (tests/test_import_graph.py),
  and the launcher owns the flags, overrides and workdir rules (launch/common.py). Ctrl-C reaches
  the child, which saves its step in flight; its exit status is the command's."""
  script = pathlib.Path(emojax.__file__).resolve().parent.parent / "launch" / "train.py"
  if not script.is_file():
    raise ValueError(f"emojax train runs launch/train.py of a checkout, and this installation "
                     f"({pathlib.Path(emojax.__file__).parent}) has none: install emojax from a "
                     f"checkout (pip install -e .), or train from Python (docs/own_data.md)")
  proc = subprocess.Popen([sys.executable, str(script), *args.argv])
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child stops itself cleanly
  try:
    status = proc.wait()
  finally:
    signal.signal(signal.SIGINT, previous)
  return status if status >= 0 else 128 - status


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
    print(f"{name:10s} {state}")
  return 0


def main(argv=None) -> int:
  """The console command: offline, on the platform `--accelerator` names (default: JAX's best)."""
  args = parse(sys.argv[1:] if argv is None else argv)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the backbones come from installed packages
  if args.command != "train":  # training picks its platform in its own process
    mesh.start(getattr(args, "accelerator", None))
  return run(args)


if __name__ == "__main__":
  sys.exit(main())
