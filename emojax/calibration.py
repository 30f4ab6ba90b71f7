"""The calibrated strongest emotion: each emotion variable read against the model's predictions on many texts.

A head's emotion variables (BE5 joy, anger, sadness, fear, disgust; BE6 adds surprise) each have
their own baseline level: in the shipped texts model fear and joy sit well above anger, so the
argmax of the raw values says "fear" or "joy" for almost every text. Calibration reads each
variable against the distribution of the model's own predictions on a pool of unlabelled items:
`zscore` = (value - mean) / sd of that variable over those predictions (the default), `center`
subtracts the mean only, `quantile` is the value's percentile among them. The pool is the
training split of the datasets the model's encoder was trained on and, for a text model, the
training texts of each bundled genre of English text it was not trained on (`TEXT_POOL`: mixed-genre
sentences, news headlines, Reddit comments; up to `POOL_ITEMS` of each). The model's own training
items together weigh as much as each added genre, so the reading does not lean on whichever corpus
is largest. Statistics use items only, never labels and never the items a model is evaluated on
(`scripts/strongest_emotion.py` measures the effect on the test items of ISEAR, a genre outside
the pool, and of GoEmotions, whose unlabelled training comments are in it).

A model's statistics (`compute`) are one small JSON record, written by `write` as
`calibration.json` beside its `model.json` (outside `model/`, so the model's fingerprint does not
change) and read by `for_model`, which checks the fingerprint it records and, for a model without
one, computes the record and stores it there for the next load (a stage-2 run of the user's own
data writes the file at export, while the data is declared: a later process knows only bundled
data by name; the formats its encoder was trained through come from `model.json`).
`calibrated_frame` turns a `predict` DataFrame into the calibrated reading: z-scores for every
emotion-category format and a `<format>.strongest` column naming the strongest emotion;
`calibrated_predictions` does the same for the per-format arrays of the command line
(`emojax.predict.predict_formats`). `from_items` calibrates against a
user's own unlabelled items instead. Everything but the functions that read a model (`compute`,
`from_items`, `write`, `for_model` and the item readers above them) is a pure numpy function
(tests/test_calibration.py checks them on hand-computed values).
"""

from __future__ import annotations

import json
import pathlib
import tempfile
import warnings

import numpy as np

from emojax import checkpoint, content_data, datasets, formats, image_data, run_configs, splits, text_data

CALIBRATION_JSON = "calibration.json"
VERSION = 2  # 2: statistics over the weighted pool (1: the training split alone)
METHODS = ("raw", "center", "zscore", "quantile")
DEFAULT_METHOD = "zscore"
N_QUANTILES = 101  # percentiles 0, 1, ..., 100 of each variable
DIMENSIONS = ("valence", "arousal", "dominance")  # variables that are no emotion category
MIN_SD = 1e-6
# Bundled English text corpora, one per genre; a text model's pool adds those it was not trained on.
# Not ISEAR: its licence (CC BY-NC-SA) keeps it out of anything shipped, statistics included.
TEXT_POOL = ("emobank_vad", "afftext_be5", "goemotions_ekman")
POOL_ITEMS = 1000  # texts of each added genre (a RandomState(0) subset of its training split)
_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent


# ------------------------------------------------------------------------------- pure functions

def weighted_quantiles(x_N, w_N, levels_Q) -> np.ndarray:
  """Quantiles of values with weights, linear between the midpoints of each value's share of the
  total weight (the lowest and highest level give the smallest and largest value)."""
  order = np.argsort(x_N, kind="stable")
  x, w = np.asarray(x_N, np.float64)[order], np.asarray(w_N, np.float64)[order]
  at = (np.cumsum(w) - w / 2.0) / w.sum()
  return np.interp(levels_Q, at, x)


def fit(pred_NxV, n_quantiles: int = N_QUANTILES, weights_N=None) -> dict:
  """Per-variable statistics of predictions on calibration items: n, mean, sd (population) and
  `n_quantiles` evenly spaced quantiles (0 to 1, linear interpolation), as plain lists; with
  `weights_N` (non-negative, any scale) each item counts by its weight (equal weights are none)."""
  x = np.asarray(pred_NxV, np.float64)
  if x.ndim != 2 or len(x) < 2:
    raise ValueError(f"calibration needs predictions of shape (N >= 2, V); got {x.shape}")
  if not np.isfinite(x).all():
    raise ValueError("calibration predictions hold NaN/Inf")
  if n_quantiles < 2:
    raise ValueError(f"n_quantiles must be at least 2, got {n_quantiles}")
  levels = np.linspace(0.0, 1.0, n_quantiles)
  w = None
  if weights_N is not None:
    w = np.asarray(weights_N, np.float64)
    if w.shape != (len(x),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
      raise ValueError(f"calibration weights must be {len(x)} finite non-negative numbers, not all 0")
    w = None if (w == w[0]).all() else w / w.sum()
  if w is None:
    mean, sd, q_QxV = x.mean(0), x.std(0), np.quantile(x, levels, axis=0)
  else:
    mean = w @ x
    sd = np.sqrt(w @ (x - mean) ** 2)
    q_QxV = np.stack([weighted_quantiles(x[:, v], w, levels) for v in range(x.shape[1])], 1)
  return {"n": int(len(x)), "mean": mean.tolist(), "sd": sd.tolist(), "quantiles": q_QxV.T.tolist()}


def _check(pred_NxV, stats: dict) -> np.ndarray:
  x = np.asarray(pred_NxV, np.float64)
  if x.ndim != 2 or x.shape[1] != len(stats["mean"]):
    raise ValueError(f"predictions of shape {x.shape} do not fit calibration statistics of "
                     f"{len(stats['mean'])} variables")
  return x


def part_weights(sizes) -> np.ndarray:
  """Weights of the items of parts of the given sizes, in order, so that every part weighs the same
  and, within a part, every item: 1 / (parts x size) each; they sum to 1."""
  sizes = [int(n) for n in sizes]
  if not sizes or min(sizes) < 1:
    raise ValueError(f"every part needs at least one item; got sizes {sizes}")
  return np.concatenate([np.full(n, 1.0 / (len(sizes) * n)) for n in sizes])


def percentile(x_N, q_Q) -> np.ndarray:
  """Where each value falls among a variable's training quantiles `q_Q` (ascending), in [0, 1]:
  linear between quantiles; a run of equal quantiles gives the middle of the run; values outside
  the training range clip to 0 or 1."""
  q = np.asarray(q_Q, np.float64)
  levels = np.linspace(0.0, 1.0, len(q))
  lo = np.interp(x_N, q, levels)  # np.interp takes one end of a flat run: average both ends
  hi = 1.0 - np.interp(-np.asarray(x_N, np.float64), -q[::-1], levels)
  return (lo + hi) / 2.0


def calibrate(pred_NxV, stats: dict, method: str = DEFAULT_METHOD) -> np.ndarray:
  """Calibrated scores (N x V, float64) of raw predictions, by `method` (METHODS): raw values,
  value - mean, (value - mean) / sd, or the value's percentile among the training predictions."""
  x = _check(pred_NxV, stats)
  if method == "raw":
    return x
  mean = np.asarray(stats["mean"], np.float64)
  if method == "center":
    return x - mean
  if method == "zscore":
    return (x - mean) / np.maximum(np.asarray(stats["sd"], np.float64), MIN_SD)
  if method == "quantile":
    return np.stack([percentile(x[:, v], q) for v, q in enumerate(stats["quantiles"])], 1)
  raise ValueError(f"unknown calibration method {method!r}; one of {METHODS}")


def strongest(scores_NxV, tiebreak_NxV=None) -> np.ndarray:
  """Index of each row's largest score (the first on a tie, or the largest `tiebreak` among the
  tied, e.g. z-scores behind clipped percentiles); -1 for a row holding NaN."""
  s = np.asarray(scores_NxV, np.float64)
  out = np.argmax(s, 1)
  if tiebreak_NxV is not None:
    tied = s == s.max(1, keepdims=True)
    out = np.argmax(np.where(tied, np.asarray(tiebreak_NxV, np.float64), -np.inf), 1)
  return np.where(np.isfinite(s).all(1), out, -1)


def balanced_accuracy(gold_N, pred_N, n_classes: int) -> float:
  """Mean over the classes 0..n_classes-1 that occur in `gold_N` of the share of their items
  predicted as that class (recall); a prediction outside the classes is simply wrong."""
  gold, pred = np.asarray(gold_N), np.asarray(pred_N)
  if gold.shape != pred.shape or gold.ndim != 1 or not len(gold):
    raise ValueError(f"gold and predicted classes must be two equal non-empty vectors; got "
                     f"{gold.shape} and {pred.shape}")
  if gold.min() < 0 or gold.max() >= n_classes:
    raise ValueError(f"gold classes must lie in 0..{n_classes - 1}")
  recalls = [np.mean(pred[gold == c] == c) for c in range(n_classes) if (gold == c).any()]
  return float(np.mean(recalls))


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
  """n_boot x n row indices drawn with replacement (RandomState(seed)): one resample per row."""
  return np.random.RandomState(seed).randint(0, n, size=(n_boot, n))


def bootstrap_interval(gold_N, pred_N, n_classes: int, idx_BxN, pred_base_N=None,
                       level: float = 0.95) -> tuple[float, float]:
  """Percentile interval of balanced accuracy over resamples of the items (`idx_BxN`), or of its
  difference from `pred_base_N` on the same resamples (paired) when that is given."""
  gold, pred = np.asarray(gold_N), np.asarray(pred_N)
  stats = []
  for rows in idx_BxN:
    s = balanced_accuracy(gold[rows], pred[rows], n_classes)
    if pred_base_N is not None:
      s -= balanced_accuracy(gold[rows], np.asarray(pred_base_N)[rows], n_classes)
    stats.append(s)
  a = (1.0 - level) / 2.0
  lo, hi = np.quantile(stats, [a, 1.0 - a])
  return float(lo), float(hi)


def is_emotion_format(fmt: formats.LabelFormat) -> bool:
  """Whether "the strongest emotion" of a format means something: a regression format of two or
  more emotion categories (BE5, BE6), not dimensions (valence, arousal, dominance)."""
  return (fmt.kind == formats.REGRESSION and len(fmt.variables) > 1
          and not set(fmt.variables) & set(DIMENSIONS))


def trained_formats(model) -> list[str]:
  """The formats whose heads the model's exported encoder was trained through: the format of each
  dataset of its run (and of the datasets it was `also_trained_on`, `mlt_with`) and, for an Aug
  encoder, the targets of the augment rules from those formats (`Aug/emobank_vad` with `vad:be5`
  -> vad, be5). Any other head reads the encoder zero-shot (the
  codec's mapping of the trained readings with `readout="region"`, untrained directions with
  "raw"): its z-scores were never checked against data, and raw they amplify noise."""
  encoder = model.content_meta.get("encoder", {})
  condition = encoder.get("run", "").partition("/")[0]
  own = encoder.get("formats")  # recorded at export; before that, read from the declarations
  if own is None:
    also = [n for n in encoder.get("also_trained_on", ()) if n in datasets.REGISTRY]  # `mlt_with`
    own = [datasets.get_dataset(n).format for n in training_datasets(model) + also]
  rules = getattr(model.content_config, "augment", ())  # a fine-tuned model's config has none
  return [f for f in run_configs.trained_formats(rules, condition, own) if f in model.formats]


def check_trained(model, names) -> None:
  """A warning naming each emotion format of `names` the encoder was never trained through."""
  trained = trained_formats(model)
  untrained = [n for n in names if n not in trained and is_emotion_format(model.formats[n])]
  if untrained:
    run = model.content_meta.get("encoder", {}).get("run", "?")
    warnings.warn(f"{', '.join(untrained)}: this model's encoder ({run}) was never trained through "
                  f"the {' or '.join(untrained)} head(s), so their calibrated reading is zero-shot and "
                  f"unreliable; the formats it was trained through: {', '.join(trained)}", stacklevel=3)


def calibrated_formats(record: dict, names) -> list[str]:
  """The formats of `names` the record calibrates; a ValueError if there is none (e.g. only vad)."""
  names = list(names)
  chosen = [n for n in names if n in record["formats"]]
  if not chosen:
    raise ValueError(f"the calibrated reading is for emotion-category formats "
                     f"({', '.join(record['formats'])}); none of {names} is one")
  return chosen


def calibrate_rows(values_NxV, stats: dict, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
  """(calibrated scores, index of the strongest variable) of one format's predictions; rows
  holding NaN (items without a vector) stay NaN and get index -1. Ties of clipped percentiles
  are broken by z-score."""
  raw = np.asarray(values_NxV, np.float64)
  ok = np.isfinite(raw).all(1)
  scores, top = np.full(raw.shape, np.nan), np.full(len(raw), -1)
  if ok.any():
    scores[ok] = calibrate(raw[ok], stats, method)
    tiebreak = calibrate(raw[ok], stats, "zscore") if method == "quantile" else None
    top[ok] = strongest(scores[ok], tiebreak)
  return scores, top


def calibrated_predictions(predictions: dict, record: dict, method: str = DEFAULT_METHOD) -> tuple[dict, dict]:
  """`{format: N x V array}` (as `emojax.predict.predict_formats` gives) read through a
  calibration record: (the same dict with every calibrated format's values replaced by its
  calibrated scores, {format: the strongest variable's name per row, None for a NaN row}). At
  least one format must be calibrated by the record (a ValueError names them otherwise)."""
  out, top = dict(predictions), {}
  for name in calibrated_formats(record, predictions):
    stats = record["formats"][name]
    values = np.asarray(predictions[name])
    if values.ndim != 2 or values.shape[1] != len(stats["variables"]):
      raise ValueError(f"calibration of format {name!r} is for {len(stats['variables'])} variables "
                       f"{stats['variables']}; got predictions of shape {values.shape}")
    out[name], index = calibrate_rows(values, stats, method)
    top[name] = [stats["variables"][i] if i >= 0 else None for i in index]
  return out, top


def calibrated_frame(frame, record: dict, names, method: str = DEFAULT_METHOD):
  """A `predict` DataFrame (columns `format.variable`) read through a calibration record: for
  each format of `names` the record calibrates, its columns become calibrated scores and a
  `<format>.strongest` column after them names the strongest emotion (missing for a NaN row);
  other formats' columns are unchanged. The record's variables must match the frame's, and at
  least one of `names` must be calibrated, or a ValueError says so."""
  out = frame.copy()
  for name in calibrated_formats(record, names):
    stats = record["formats"][name]
    columns = [f"{name}.{v}" for v in stats["variables"]]
    missing = [c for c in columns if c not in out.columns]
    if missing:
      raise ValueError(f"calibration of format {name!r} is for variables {stats['variables']}; "
                       f"the predictions lack the column(s) {missing}")
    scores, top = calibrate_rows(out[columns].to_numpy(np.float64), stats, method)
    out[columns] = scores
    out.insert(out.columns.get_loc(columns[-1]) + 1, f"{name}.strongest",
               [stats["variables"][i] if i >= 0 else None for i in top])
  return out


# ------------------------------------------------------------------------ a model's statistics

def training_datasets(model) -> list[str]:
  """The datasets whose training split the model's encoder was trained on: those named in its
  exported run (`Aug/emobank_vad` -> emobank_vad; several joined by "+"), else its config's."""
  run = model.content_meta.get("encoder", {}).get("run", "")
  names = [n for n in run.partition("/")[2].split("+") if n in datasets.REGISTRY]
  if not names:
    names = [n for n in getattr(model.content_config, "datasets", ())[:1] if n in datasets.REGISTRY]
  if not names:
    unknown = [n for n in run.partition("/")[2].split("+") if n]
    raise ValueError(
        f"{model.workdir}: its encoder was trained on {unknown or run!r}, not declared in this process; "
        f"calibration reads the model on that data's training split. A run of your own data writes "
        f"its calibration.json at export; to write it again, declare the data first "
        f"(emojax.datasets.declare(emojax.config.load_file(<config>).DATASETS, base=<its folder>)), "
        f"then emojax.calibration.write(model)")
  return names


def _texts_of(name: str, keys) -> list[str]:
  """The texts (table content) of a dataset's items, by key."""
  table = datasets.read_table(datasets.get_dataset(name))
  row = {k: i for i, k in enumerate(table.keys)}
  return [table.content[row[k]] for k in keys]


def _frozen_text_features(model, name: str, cache_dir) -> np.ndarray:
  """Sentence-encoder features of a text dataset's training split through the feature cache of
  stage 2 (frozen-feature text models only: the same features `embed` computes)."""
  data = text_data.load_texts(name, cache_dir, **text_data.settings(model.content_meta["feature"]),
                              show_progress=True)
  return data.x["train"]


def training_embeddings(model, cache_dir=None) -> tuple[np.ndarray, dict]:
  """The model's embeddings of the training items of `training_datasets(model)` and where they
  came from. Frozen-feature text models read cached features when `cache_dir` is given (one
  MiniLM pass over ~8k sentences otherwise: minutes on a laptop CPU); words are read as training
  reads the lexicons."""
  parts, source = [], []
  for name in training_datasets(model):
    train = splits.split_of(name)["train"]
    if model.modality == "texts" and text_data.is_text_feature(model.content_meta["feature"]) and cache_dir:
      e = model.embed_features(_frozen_text_features(model, name, cache_dir))
    elif model.modality == "words":
      with tempfile.TemporaryDirectory() as tmp:  # no cache: GloVe a second, MiniLM word features ~30 s
        data = content_data.load_words(name, model.content_meta["feature"]["vectors"],
                                       cache_dir or tmp)
      e = model.embed_features(data.x["train"])
    elif model.modality == "images":
      e = model.embed([str(image_data.image_dir(name) / k) for k in train], oov="skip")
    else:
      e = model.embed(_texts_of(name, train), oov="skip")
    parts.append(e)
    source.append({"dataset": name, "part": "train", "n": int(len(e))})
  return np.concatenate(parts), {"datasets": source}


def pool_datasets(model, leave_out=()) -> list[str]:
  """The bundled genres a model's pool adds (`TEXT_POOL`, text models only): those whose texts the
  encoder was not trained on (another dataset of the same texts counts as trained on), less the
  datasets named in `leave_out` (the evaluated dataset, when measuring a genre the pool lacks)."""
  if model.modality != "texts":
    return []
  own = {datasets.get_dataset(n).path for n in training_datasets(model)}
  return [n for n in TEXT_POOL if datasets.get_dataset(n).path not in own and n not in leave_out]


def pool_embeddings(model, name: str, cache_dir=None) -> np.ndarray:
  """The model's embeddings of up to POOL_ITEMS training texts of a bundled dataset (a
  RandomState(0) subset, in split order), through the feature cache for a frozen-feature model."""
  train = splits.split_of(name)["train"]
  keep = np.sort(np.random.RandomState(0).permutation(len(train))[:POOL_ITEMS])
  texts = _texts_of(name, [train[i] for i in keep])
  feature = model.content_meta["feature"]
  if text_data.is_text_feature(feature) and cache_dir:
    return model.embed_features(text_data.cached_text_features(
        f"{name}_train_pool{POOL_ITEMS}", texts, cache_dir=cache_dir, **text_data.settings(feature)))
  return model.embed(texts, oov="skip")


def calibration_embeddings(model, cache_dir=None, pool: bool = True,
                           leave_out=()) -> tuple[np.ndarray, np.ndarray, dict]:
  """(embeddings, weights, where they came from) of the items a model is calibrated on: its
  training items (`training_embeddings`) and, with `pool`, each genre `pool_datasets` adds. The
  training items together weigh as much as each added genre; within a part every item the same."""
  own, source = training_embeddings(model, cache_dir)
  added = pool_datasets(model, leave_out) if pool else []
  parts = [own] + [pool_embeddings(model, name, cache_dir) for name in added]
  share = 1.0 / len(parts)
  for entry in source["datasets"]:
    entry["weight"] = share * entry["n"] / len(own)
  source["datasets"] += [{"dataset": name, "part": "train", "n": int(len(e)), "weight": share}
                         for name, e in zip(added, parts[1:])]
  return np.concatenate(parts), part_weights([len(e) for e in parts]), source


def compute(model, cache_dir=None, embeddings_NxE=None, source: dict | None = None,
            weights_N=None, pool: bool = True, leave_out=()) -> dict:
  """A model's calibration record: `fit` of every emotion-category format's head (BE5, BE6)
  over its predictions on its calibration items (`calibration_embeddings` with `pool` and
  `leave_out`, or the embeddings and weights given), with the model's fingerprint and where the
  items came from."""
  if embeddings_NxE is None:
    embeddings_NxE, weights_N, source = calibration_embeddings(model, cache_dir, pool, leave_out)
  names = [n for n, f in model.formats.items() if is_emotion_format(f)]
  if not names:
    raise ValueError(f"{model.workdir}: no emotion-category format (such as be5) to calibrate; "
                     f"its formats are {list(model.formats)}")
  record = {"version": VERSION, "fingerprint": checkpoint.fingerprint(model.workdir),
            "source": source or {}, "default_method": DEFAULT_METHOD, "formats": {}}
  for name in names:
    pred = model.decode_embeddings(embeddings_NxE, name)
    record["formats"][name] = {"variables": list(model.formats[name].variables),
                               **fit(pred, weights_N=weights_N)}
  return record


def from_items(model, items, **embed_kwargs) -> dict:
  """A calibration record from any unlabelled items the model reads (a user's own texts, say):
  the reading of each variable against that collection instead of the training split (use a few
  hundred items or more; `emojax predict --calibrate-on FILE`). Statistics of GoEmotions' own
  unlabelled dev texts read its test items' strongest emotion at .516 for the shipped `texts`
  (.520 with its shipped pool, .437 with its training split alone) and .484 for `texts_fast`
  (.480, .479); ISEAR's .620 and .554 (.589, .514 with the pool) (`scripts/strongest_emotion.py`,
  reading `domain/zscore`; docs/representations.md)."""
  items = [items] if isinstance(items, str) else list(items)
  e = model.embed(items, **{"oov": "skip", **embed_kwargs})
  if len(e) < 2:
    raise ValueError(f"calibration from items: {len(e)} of {len(items)} item(s) read; it reads each "
                     f"emotion against the model's predictions on many items (a few hundred or more)")
  return compute(model, embeddings_NxE=e, source={"items": len(items), "embedded": int(len(e))})


def write(model, workdir=None, cache_dir=None) -> pathlib.Path:
  """`compute` the model's record and write it as calibration.json in `workdir` (the model's own
  directory by default); returns the path."""
  path = pathlib.Path(workdir if workdir is not None else model.workdir) / CALIBRATION_JSON
  _store(compute(model, cache_dir), path)
  return path


def _store(record: dict, path: pathlib.Path) -> None:
  """Writes a record as JSON through a temporary file and a rename: never half a file."""
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(record, indent=1) + "\n")
  tmp.rename(path)


def _run_feature_cache(model) -> pathlib.Path | None:
  """The feature cache the model's training run wrote, if it is still there (its features of the
  training items: computing the statistics then embeds only what the cache lacks)."""
  where = getattr(model.content_config, "feature_cache", "") or pathlib.Path(model.workdir) / "features"
  return pathlib.Path(where) if pathlib.Path(where).is_dir() else None


def read(workdir, fingerprint: str) -> dict | None:
  """The calibration record in `workdir`, None if there is none; a record written for another
  export (other fingerprint) or another version raises a ValueError saying how to redo it."""
  path = pathlib.Path(workdir) / CALIBRATION_JSON
  if not path.is_file():
    return None
  record = json.loads(path.read_text())
  if record.get("version") != VERSION or record.get("fingerprint") != fingerprint:
    raise ValueError(f"{path} was written for another model export or version (fingerprint "
                     f"{str(record.get('fingerprint'))[:12]}..., this model {fingerprint[:12]}...); "
                     f"write it again with emojax.calibration.write(model)")
  return record


def for_model(model, cache_dir=None) -> dict:
  """The model's calibration record: its calibration.json if present and written for this very
  export, else computed (through `cache_dir`, by default the training run's feature cache if it
  is still there) with a warning saying why (no file, or one of another export), and stored as
  the model's calibration.json where its directory is writable and not inside the installed
  package, so the next load reads it. Once per model object either way."""
  cached = getattr(model, "_calibration_record", None)
  if cached is not None:
    return cached
  try:
    record, why = read(model.workdir, checkpoint.fingerprint(model.workdir)), f"holds no {CALIBRATION_JSON}"
  except ValueError as err:
    record, why = None, str(err)
  if record is None:
    warnings.warn(f"{model.workdir} {why}: computing the calibration from the model's training "
                  f"items, once (stored as its {CALIBRATION_JSON} where the folder is writable)",
                  stacklevel=2)
    record = compute(model, cache_dir or _run_feature_cache(model))
    packaged = pathlib.Path(model.workdir).resolve().is_relative_to(_PACKAGE_DIR)
    try:
      if not packaged:  # the installed package is never written to
        _store(record, pathlib.Path(model.workdir) / CALIBRATION_JSON)
    except OSError:  # a read-only folder: computed again by the next process
      pass
  model._calibration_record = record
  return record
