"""The pretrained models shipped inside the package, opened by name: `emojax.load("texts")`.

`NAMES` are the stage-1 codec (`"codec"`) and the exported stage-2 encoder of each modality
(`"words"`, `"texts"`, `"images"`; `"words_fast"` and `"texts_fast"` are the words and texts
models on MiniLM-L6 instead of all-mpnet-base-v2: 12x and 7x faster on a CPU, less accurate), built from the bundled data by `python
scripts/build_pretrained.py` into `emojax/pretrained/<name>/` (model/, model.json and
`MODEL_CARD.md`: data, licences, config, seed, test scores, the command and machine that built it).
`resolve` turns a name given as a string into its directory (a `pathlib.Path`, or a string with a
separator such as `./texts`, is always a directory). A stage-2 model records its stage-1 model by
fingerprint; `locate` finds the shipped model with that fingerprint, so a pretrained model (or one a
user trained against the pretrained codec) loads wherever the package is installed. `test_scores`
recomputes a model's test scores on the bundled test splits: the numbers its card shows.
"""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np

from emojax import checkpoint, content_data, datasets, formats, image_data, mapping_data, metrics
from emojax import splits, text_data

NAMES = ("codec", "words", "words_fast", "texts", "texts_fast", "images")
ROOT = pathlib.Path(__file__).resolve().parent / "pretrained"
CARD = "MODEL_CARD.md"
BUILD_COMMAND = "python scripts/build_pretrained.py"


def is_name(workdir) -> bool:
  """Whether `load(workdir)` means a pretrained model: one of NAMES, given as a plain string."""
  return isinstance(workdir, str) and workdir in NAMES


def path(name: str) -> pathlib.Path:
  """The directory of the pretrained model `name`; a CheckpointError if it is not installed."""
  if name not in NAMES:
    raise ValueError(f"no pretrained model {name!r}; the pretrained models are {list(NAMES)}")
  where = ROOT / name
  if not (where / checkpoint.MODEL_JSON).is_file():
    raise checkpoint.CheckpointError(
        f"the pretrained model {name!r} is not in this installation ({where} holds no "
        f"{checkpoint.MODEL_JSON}); build the pretrained models in a checkout with `{BUILD_COMMAND}`")
  return where


def resolve(workdir: str | pathlib.Path) -> pathlib.Path:
  """The directory `emojax.load(workdir)` opens: the pretrained model's for a name of NAMES given
  as a string, else `workdir` itself (a user's directory called `texts` is `./texts`)."""
  return path(workdir) if is_name(workdir) else pathlib.Path(workdir)


def installed() -> list[str]:
  return [n for n in NAMES if (ROOT / n / checkpoint.MODEL_JSON).is_file()]


def find(fingerprint: str) -> pathlib.Path | None:
  """The shipped pretrained model with this fingerprint, if there is one."""
  for name in installed():
    if checkpoint.fingerprint(ROOT / name) == fingerprint:
      return ROOT / name
  return None


def locate(recorded: dict) -> pathlib.Path | None:
  """Where the model a workdir recorded ({"path", "fingerprint"}: its stage-1 model, or the base
  of new formats) lives when that is a shipped pretrained model: recorded by a pretrained name
  (what the shipped models record: they hold no absolute path), or by a path that no longer holds
  a model. None leaves it to the recorded path (and its error message)."""
  recorded_path = pathlib.Path(recorded["path"])
  if not is_name(recorded["path"]) and (recorded_path / checkpoint.MODEL_JSON).is_file():
    return None
  return find(recorded["fingerprint"])


# ------------------------------------------------------------------------------- test scores

def _scores(fmt: formats.LabelFormat, pred_NxW, y_NxW) -> dict:
  """The paper's metric per variable (Pearson r; accuracy / macro F1 for class formats)."""
  s = np.asarray(metrics.format_scores(fmt, np.asarray(pred_NxW)[:, :fmt.size],
                                       np.asarray(y_NxW)[:, :fmt.size]), np.float64)
  names = fmt.variables if len(s) == fmt.size else ("score",)
  return {"variables": {v: float(x) for v, x in zip(names, s)}, "mean": float(s.mean())}


def codec_scores(model) -> dict:
  """Every direction of every stage-1 mapping pair on its test split, through `map_labels`:
  without naming the dataset, and (a model trained with dataset conditioning) naming it."""
  out = {"directions": {}, "directions_conditioned": {}}
  for pair in model.config.pairs:
    data = mapping_data.load_pair(pair)
    fa, fb = data.format_a, data.format_b
    for src, tgt, x, y in ((fa, fb, data.a["test"], data.b["test"]),
                           (fb, fa, data.b["test"], data.a["test"])):
      name = f"{pair}:{src.name}->{tgt.name}"
      out["directions"][name] = {"n": len(x), **_scores(tgt, model.map_labels(x, src.name, tgt.name), y)}
      if pair in model.packing.conditions:
        pred = model.map_labels(x, src.name, tgt.name, dataset=pair)
        out["directions_conditioned"][name] = {"n": len(x), **_scores(tgt, pred, y)}
  out["mean"] = float(np.mean([d["mean"] for d in out["directions"].values()]))
  if out["directions_conditioned"]:
    out["mean_conditioned"] = float(np.mean([d["mean"] for d in out["directions_conditioned"].values()]))
  return out


def _test_features(model, name: str) -> tuple[np.ndarray, np.ndarray]:
  """(features, canonical labels) of a dataset's test split, as the model's encoder reads them:
  words as stage 2 evaluated them (out-of-vocabulary words and glosses seen in a sibling's
  training split left out), texts and images computed for the test split only."""
  split = splits.split_of(name)["test"]
  if model.modality == "words":
    with tempfile.TemporaryDirectory() as cache:
      data = content_data.load_words(name, model.content_meta["feature"]["vectors"], cache)
    return data.x["test"], data.y["test"]
  if model.modality == "texts":
    keys, y, texts, _ = text_data.text_table(name)
    rows = [{k: i for i, k in enumerate(keys)}[k] for k in split]
    x = text_data.text_features([texts[r] for r in rows], **text_data.settings(model.content_meta["feature"]))
    return x, y[rows]
  keys, y = image_data.image_labels(name)
  row = {k: i for i, k in enumerate(keys)}
  x = image_data.image_features([image_data.image_dir(name) / k for k in split])
  return x, y[[row[k] for k in split]]


def content_scores(model, names=None) -> dict:
  """The exported stage-2 encoder on the test split of every dataset of its modality (those of
  its run by default): its own dataset, and the others zero-shot through their formats' heads."""
  out = {"datasets": {}}
  for name in names or model.content_config.datasets:
    fmt = model.layout.format(datasets.get_dataset(name).format)
    x, y = _test_features(model, name)
    pred = model.decode_embeddings(model.embed_features(x), fmt.name)
    out["datasets"][name] = {"format": fmt.name, "n": len(x), **_scores(fmt, pred, y)}
  out["mean"] = float(np.mean([d["mean"] for d in out["datasets"].values()]))
  return out


def test_scores(model) -> dict:
  """What a pretrained model's card reports: `codec_scores` for a stage-1 model, else
  `content_scores`."""
  return content_scores(model) if hasattr(model, "modality") else codec_scores(model)
