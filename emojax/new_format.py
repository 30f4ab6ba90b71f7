"""New label formats without retraining: a head and a label encoder learned against a frozen space.

The paper's first open question: adding a format meant retraining everything. Here a new format F
(e.g. ISEAR's 7 classes, GoEmotions' Ekman classes) is learned from texts labelled in F, through
a trained stage-2 text model whose content encoder G and stage-1 codec stay frozen — every existing
parameter is a constant, never in the train state or the optimizer (tested bit-identical). Learned:
the head H_F (bias-free, |F| x 100, rows in the existing space) and the label encoder E_F (the
codec's architecture), so F can be a mapping *source* too (`map_labels(isear one-hot -> vad)`).
Loss per batch of (text embedding e = G(x), label y), one pure function over pytrees:
  prediction      ℓ_F(H_F e, y)           the head reads where texts already lie
  reconstruction  ℓ_F(H_F E_F(y), y)      labels come back through the head
  similarity      MSE(E_F(y), e)          labels land where their texts land
  sharing         mean 1 − cos(H_F row, frozen row of the same concept)  (joy ~ be5:joy, ...)
with ℓ_F softmax cross-entropy (single label) or sigmoid cross-entropy (multi-label). G runs once,
deterministically, over the cached MiniLM features; the seeds are vmapped and an epoch is one
compiled `lax.scan` of `train_step`; the best dev epoch (accuracy / macro F1 of H_F e) is kept.
A dedicated baseline — the stage-2 Bsl for texts, Dropout 0.5 -> Dense |F| on the same pooled
MiniLM features, dev-selected epochs — is trained beside it. The export (`model/`, `model.json`)
records the fingerprint of the stage-2 model it was learned against; `emojax.load(workdir)` gives
that model with the new formats added (`NewFormatModel`) and refuses a different base.

  python launch/new_format.py     # ISEAR + GoEmotions (Ekman) onto checkpoints/texts -> checkpoints/new_formats
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import checkpoint, codec, config as config_lib, formats, losses, mesh as mesh_lib
from emojax import datasets, loop, metrics, new_format_data, paper, progress, report, splits, text_data, train_content
from emojax import api, content_model, pretrained
from emojax.api import ContentModel, NewFormatModel
from emojax.format_head import init_params, label_encoder

STAGE = "new_format"


@dataclasses.dataclass(frozen=True)
class NewFormatWeights:
  prediction: float = 1.0
  reconstruction: float = 1.0
  similarity: float = 1.0
  sharing: float = 1.0


@dataclasses.dataclass(frozen=True)
class NewFormatConfig:
  """Learning new formats onto a trained text model; 3 seeds, new heads and baselines alike."""

  base: str = "checkpoints/texts"  # stage-2 texts workdir (frozen-feature MiniLM model)
  datasets: tuple[str, ...] = datasets.names(classes=True)
  weights: NewFormatWeights = NewFormatWeights()
  learning_rate: float = 3e-3  # Adam; both rates chosen on dev (configs/new_formats.py says how)
  batch_size: int = 32
  epochs: int = 60  # best dev epoch is kept (both methods)
  seeds: tuple[int, ...] = (0, 1, 2)
  baseline: bool = True  # also train the dedicated baseline (false: new heads only, e.g. ablations)
  baseline_learning_rate: float = 1e-3
  baseline_dropout: float = 0.5
  goemotions_train_items: int = 20_000  # deterministic train subset; 0 = all 43,410
  max_items: int = 0  # > 0: first that many items of each part (tests)
  feature_cache: str = ""  # "" = <workdir>/features


config_lib.declare(NewFormatWeights, {f.name: config_lib.NON_NEGATIVE for f in dataclasses.fields(NewFormatWeights)})
config_lib.declare(NewFormatConfig, {
    "datasets": config_lib.NAMES, "learning_rate": config_lib.POSITIVE, "batch_size": config_lib.POSITIVE_INT,
    "epochs": config_lib.POSITIVE_INT, "seeds": config_lib.SEEDS, "baseline_learning_rate": config_lib.POSITIVE,
    "baseline_dropout": config_lib.RATE, "goemotions_train_items": config_lib.COUNT, "max_items": config_lib.COUNT})


# ------------------------------------------------------------------------------- pure functions

def tie_pairs(fmt: formats.LabelFormat, layout: formats.HeadLayout) -> np.ndarray:
  """int32 [P, 2]: (row of the new head, row of the frozen bank) for every shared concept."""
  pairs = [(i, j) for i, concept in enumerate(fmt.concepts)
           for name in layout.formats
           for j_off, c in enumerate(formats.get_format(name).concepts) if c == concept
           for j in (layout.offsets[name] + j_off,)]
  return np.asarray(pairs, np.int32).reshape(-1, 2)


def loss_terms(params, bank_KxE, e_BxE, y_BxV, *, fmt: formats.LabelFormat, cfg: codec.CodecConfig,
               pairs_Px2: np.ndarray, dropout_rng=None) -> dict:
  """The four terms of the module docstring; `bank_KxE` is the frozen stage-1 head bank."""
  rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
  e_label_BxE = label_encoder(cfg).apply({"params": params["encoder"]}, y_BxV,
                                         deterministic=dropout_rng is None, rngs=rngs)
  head_VxE = params["head"]
  # Sharing over [new head; frozen bank]: the bank is an argument, not a parameter, so only the
  # new rows move toward the frozen ones.
  stacked = jnp.concatenate([head_VxE, bank_KxE])
  shifted = jnp.asarray(pairs_Px2) + jnp.asarray([0, fmt.size], jnp.int32)
  return {"prediction": losses.format_loss(fmt, e_BxE @ head_VxE.T, y_BxV),
          "reconstruction": losses.format_loss(fmt, e_label_BxE @ head_VxE.T, y_BxV),
          "similarity": losses.embedding_similarity(e_label_BxE, e_BxE),
          "sharing": losses.soft_sharing_loss(stacked, shifted)}


def total_loss(weights: NewFormatWeights, terms: dict):
  return sum(getattr(weights, k) * v for k, v in terms.items())


def score(fmt: formats.LabelFormat, logits_NxV, y_NxV):
  """Accuracy (single label) or macro F1 at p = 0.5 (multi-label): the paper's metrics."""
  return metrics.format_scores(fmt, logits_NxV, y_NxV)[0]


def train_step(state: dict, batch: dict, rng, *, loss_fn, tx: optax.GradientTransformation):
  """One Adam step: (state, batch, rng) -> (state, loss terms). `loss_fn(params, batch, rng)`
  returns (loss, terms); frozen arrays reach it through `batch`, never through `state`."""
  (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch, rng)
  updates, opt = tx.update(grads, state["opt"], state["params"])
  return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, {"loss": loss, **terms}


def make_epoch_fn(loss_fn, score_fn, tx, *, n: int, batch_size: int):
  """jit(vmap over seeds) of one epoch: ceil(n / batch) steps over a fresh permutation (the last
  batch wraps around), then the dev score and the best-so-far parameters. The state is donated."""
  steps = math.ceil(n / batch_size)

  def epoch(state, best, best_score, key, index, train, frozen, dev):
    k_perm, k_drop = jax.random.split(jax.random.fold_in(key, index))
    order = jax.random.permutation(k_perm, n)

    def body(state, s):
      rows = order[(s * batch_size + jnp.arange(batch_size)) % n]
      batch = {**jax.tree.map(lambda a: a[rows], train), **frozen}
      return train_step(state, batch, jax.random.fold_in(k_drop, s), loss_fn=loss_fn, tx=tx)

    state, terms = jax.lax.scan(body, state, jnp.arange(steps))
    current = score_fn(state["params"], {**dev, **frozen})
    better = current > best_score
    best = jax.tree.map(lambda a, b: jnp.where(better, a, b), state["params"], best)
    return (state, best, jnp.where(better, current, best_score),
            jax.tree.map(jnp.mean, terms), current)

  vmapped = jax.vmap(epoch, in_axes=(0, 0, 0, 0, None, None, None, None))
  return jax.jit(vmapped, donate_argnums=(0,))


def fit(loss_fn, score_fn, init_fn, seeds, parts: dict, frozen: dict, *, learning_rate: float,
        batch_size: int, epochs: int, bar=None, label: str = "",
        workdir: pathlib.Path | None = None, settings=None, checkpoint_every: int = 10) -> dict:
  """Trains one model per seed (`init_fn(key) -> params`, vmapped) on parts["train"], keeping the
  best dev epoch; returns its params [S, ...], its score on every part [S], the per-epoch history
  and the best epoch per seed (1-based). Everything on device is one of three compiled calls; the
  epochs run in the host loop of `emojax.loop`, resumable from `workdir/<digest>` (keyed by the
  arguments, the data and the caller's other `settings`, so a changed one starts afresh)."""
  tx = optax.adam(learning_rate)
  n = int(next(iter(parts["train"].values())).shape[0])
  epoch_fn = make_epoch_fn(loss_fn, score_fn, tx, n=n, batch_size=batch_size)

  @jax.jit
  def start(seeds_S):
    keys = jax.vmap(jax.random.key)(seeds_S)
    params = jax.vmap(init_fn)(keys)
    state = {"params": params, "opt": jax.vmap(tx.init)(params)}
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    return state, jax.tree.map(jnp.zeros_like, params), run_keys

  state, best, keys = start(jnp.asarray(seeds, jnp.uint32))
  best_score = jnp.full((len(seeds),), -jnp.inf, jnp.float32)  # strongly typed: one compile
  fresh = lambda: {"state": state, "best": best, "best_score": best_score}
  checkpoints, first = None, 0
  if workdir is not None:
    arrays = [a for d in (*parts.values(), frozen) for _, a in sorted(d.items())]
    run_dir = workdir / loop.digest([label, learning_rate, batch_size, epochs, list(seeds), settings],
                                    arrays)
    checkpoints, first, run_state = loop.resume_or_init(run_dir, fresh)
  else:
    run_state = fresh()

  def epoch(s, e):
    state, best, best_score, terms, dev_score = epoch_fn(
        s["state"], s["best"], s["best_score"], keys, np.int32(e), parts["train"], frozen, parts["dev"])
    return {"state": state, "best": best, "best_score": best_score}, {**terms, "dev": dev_score}

  seeds_losses = lambda e, host: f"{label} epoch {e + 1} (seeds {list(seeds)}: {host['loss'].tolist()})"
  run_state, history = loop.run(
      run_state, epoch, start=first, stop=epochs, checkpoints=checkpoints,
      checkpoint_every=checkpoint_every, where=seeds_losses, progress=bar,
      on_metrics=lambda e, host: {"dev": host["dev"].tolist(),
                                  **{k: v.tolist() for k, v in host.items() if k != "dev"}})
  best_epoch, best_host = np.zeros(len(seeds), int), np.full(len(seeds), -np.inf)
  for h in history:
    dev_host = np.asarray(h["dev"])
    best_epoch[dev_host > best_host] = h["epoch"]
    best_host = np.maximum(best_host, dev_host)
  best = run_state["best"]
  scores = jax.jit(jax.vmap(lambda p: {q: score_fn(p, {**parts[q], **frozen}) for q in parts}))(best)
  return {"best": best, "history": history, "best_epoch": best_epoch.tolist(),
          "scores": {q: np.asarray(v).tolist() for q, v in scores.items()}}


# ----------------------------------------------------------------------------------- the base model

def load_base(path: str | pathlib.Path) -> tuple[ContentModel, str]:
  """The frozen stage-2 text model (a workdir, or the pretrained "texts" by name) and the
  fingerprint of its checkpoint."""
  path = pretrained.resolve(path).resolve()
  if not (path / checkpoint.MODEL_JSON).is_file():
    raise checkpoint.CheckpointError(
        f"base model {path} not found (no {checkpoint.MODEL_JSON}); train it with `python "
        f"launch/content.py --modality=texts --workdir={path}` or set base=<a texts workdir>")
  model = api.load(path)
  feature = getattr(model, "content_meta", {}).get("feature")
  kind = None if feature is None else feature["kind"]
  if feature is None or not text_data.is_text_feature(feature):
    raise ValueError(f"base={path}: new formats are learned through a frozen-feature text model "
                     f"(launch/content.py --modality=texts); this one is "
                     f"{'a stage-1 model' if kind is None else repr(kind)}")
  return model, checkpoint.fingerprint(path)


# ------------------------------------------------------------------------------- one format, seeds

def learn_format(cfg: NewFormatConfig, base: ContentModel, fmt: formats.LabelFormat, e: dict,
                 y: dict, *, bar=None, workdir: pathlib.Path | None = None) -> dict:
  """Head + label encoder of `fmt` on frozen embeddings e[part] (N x 100), all seeds; resumable
  from `workdir` (see `fit`)."""
  ccfg = base.config.codec
  pairs = tie_pairs(fmt, base.layout)

  def loss_fn(params, batch, rng):
    terms = loss_terms(params, batch["bank"], batch["e"], batch["y"], fmt=fmt, cfg=ccfg,
                       pairs_Px2=pairs, dropout_rng=rng)
    return total_loss(cfg.weights, terms), terms

  score_fn = lambda params, part: score(fmt, part["e"] @ params["head"].T, part["y"])
  parts = {p: {"e": jnp.asarray(e[p]), "y": jnp.asarray(y[p])} for p in splits.PARTS}
  frozen = {"bank": jnp.array(base.params["bank"])}  # a copy: the model's own array is untouched
  out = fit(loss_fn, score_fn, lambda k: init_params(k, ccfg, fmt), cfg.seeds, parts, frozen,
            learning_rate=cfg.learning_rate, batch_size=cfg.batch_size, epochs=cfg.epochs, bar=bar,
            label=f"{fmt.name} head", workdir=workdir, settings=config_lib.to_dict(cfg))
  test_logits = jax.jit(jax.vmap(lambda p: parts["test"]["e"] @ p["head"].T))(out["best"])
  return {**out, "pairs": pairs, "test_logits": np.asarray(test_logits)}


def baseline_module(cfg: NewFormatConfig, fmt: formats.LabelFormat, embedding_dim: int):
  """The stage-2 Bsl of texts: Dropout -> Dense |F| on the pooled features (its `own` output)."""
  enc = content_model.EncoderConfig(hidden=(), dropout=(cfg.baseline_dropout,))
  return content_model.encoder_module(enc, embedding_dim, own_width=fmt.size)


def train_baseline(cfg: NewFormatConfig, fmt: formats.LabelFormat, x: dict, y: dict,
                   embedding_dim: int, *, bar=None, workdir: pathlib.Path | None = None) -> dict:
  module = baseline_module(cfg, fmt, embedding_dim)
  logits = lambda p, x_NxD, **kw: module.apply({"params": p}, x_NxD, **kw)[1]

  def loss_fn(params, batch, rng):
    out = logits(params, batch["x"], deterministic=False, rngs={"dropout": rng})
    loss = losses.format_loss(fmt, out, batch["y"])
    return loss, {"prediction": loss}

  score_fn = lambda params, part: score(fmt, logits(params, part["x"]), part["y"])
  dim = x["train"].shape[1]
  init_fn = lambda k: module.init(k, jnp.zeros((1, dim)))["params"]
  parts = {p: {"x": jnp.asarray(x[p]), "y": jnp.asarray(y[p])} for p in splits.PARTS}
  out = fit(loss_fn, score_fn, init_fn, cfg.seeds, parts, {},
            learning_rate=cfg.baseline_learning_rate, batch_size=cfg.batch_size,
            epochs=cfg.epochs, bar=bar, label=f"{fmt.name} baseline", workdir=workdir,
            settings=config_lib.to_dict(cfg))
  test_logits = jax.jit(jax.vmap(lambda p: logits(p, parts["test"]["x"])))(out["best"])
  return {**out, "test_logits": np.asarray(test_logits)}


# ------------------------------------------------------------------------------------- experiment

def check_config(cfg: NewFormatConfig, base: ContentModel) -> None:
  if not cfg.datasets:
    raise ValueError("datasets is empty; known: " + ", ".join(datasets.names(classes=True)))
  for name in cfg.datasets:
    fmt = datasets.get_dataset(name, "texts", classes=True).format
    if fmt in base.layout.formats:
      raise ValueError(f"format {fmt!r} of dataset {name!r} is already in the base model "
                       f"{base.workdir}: it is not new")
  if len(set(cfg.datasets)) != len(cfg.datasets):
    raise ValueError(f"datasets {cfg.datasets} name one twice")
  if not cfg.seeds or cfg.epochs < 1 or cfg.batch_size < 1:
    raise ValueError("need at least one seed, one epoch and a positive batch size")


def examples(model: NewFormatModel) -> dict:
  """map_labels from every class of every new format (one-hot) to VAD/VA and BE5 when present."""
  out = {}
  targets = [t for t in ("vad", "va", "be5") if t in model.layout.formats]
  for name, fmt in model.new_formats.items():
    onehot = np.eye(fmt.size, dtype=np.float32)
    rows = {t: model.map_labels(onehot, name, t).round(3).tolist() for t in targets}
    back = model.map_labels(onehot, name, name).argmax(-1)
    out[name] = {"classes": list(fmt.variables), "targets": {t: list(formats.get_format(t).variables)
                                                             for t in targets},
                 "map_labels": rows, "round_trip_correct": int((back == np.arange(fmt.size)).sum())}
  return out


@loop.releases_workdir
def run(cfg: NewFormatConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
        restart: bool = False) -> dict:
  """Every dataset of the config: new head + label encoder and the baseline, all seeds; export.
  `restart`: start over in a workdir that holds a run of another config (`loop.start_workdir`)."""
  t_start = time.perf_counter()
  workdir = pathlib.Path(workdir).resolve()
  base, fingerprint = load_base(cfg.base)
  check_config(cfg, base)
  before = jax.tree.map(np.array, {"codec": base.params, "content": base.encoder_params})
  loop.start_workdir(workdir, cfg, stage=STAGE, restart=restart)
  cache = pathlib.Path(cfg.feature_cache) if cfg.feature_cache else workdir / "features"
  feature = text_data.settings(base.content_meta["feature"])
  bar = progress.Progress((1 + cfg.baseline) * cfg.epochs * len(cfg.datasets), "new formats", unit="epoch",
                          enabled=show_progress and mesh_lib.is_writer())
  rows, exported, timing = {}, {}, {}
  for name in cfg.datasets:
    t0 = time.perf_counter()
    data = new_format_data.load(name, cache, **feature, max_items=cfg.max_items,
                                train_items=cfg.goemotions_train_items if name == "goemotions_ekman" else 0,
                                show_progress=show_progress)
    t_features = time.perf_counter() - t0
    fmt = formats.get_format(data.format)
    e = {p: base.embed_features(data.x[p]) for p in splits.PARTS}  # frozen G, deterministic
    new = learn_format(cfg, base, fmt, e, data.y, bar=bar, workdir=workdir / name / "new_format")
    bsl = (train_baseline(cfg, fmt, data.x, data.y, base.config.codec.embedding_dim, bar=bar,
                          workdir=workdir / name / "baseline") if cfg.baseline else None)
    pick = int(np.argmax(new["scores"]["dev"]))
    exported[fmt.name] = jax.tree.map(lambda a: a[pick], jax.device_get(new["best"]))
    head, bank = exported[fmt.name]["head"], np.asarray(base.params["bank"])
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)
    cos = [float(unit(head)[i] @ unit(bank)[j]) for i, j in new["pairs"]]
    names = base.layout.row_names()
    rows[name] = {
        "format": fmt.name, "kind": fmt.kind, "metric": "accuracy" if fmt.kind == formats.CLASSES
        else "macro F1 (p > 0.5)", "sizes": data.sizes(), "dropped": data.dropped,
        "empty_label_set": {p: int((data.y[p].sum(1) == 0).sum()) for p in splits.PARTS},
        "class_counts": {p: dict(zip(fmt.variables, data.y[p].sum(0).astype(int).tolist()))
                         for p in splits.PARTS},
        "new_format": {p: report.mean_sd(new["scores"][p]) for p in splits.PARTS} | {"best_epoch": new["best_epoch"]},
        "baseline": ({p: report.mean_sd(bsl["scores"][p]) for p in splits.PARTS} | {"best_epoch": bsl["best_epoch"]}
                     if bsl else None),
        "exported_seed": cfg.seeds[pick],
        "test_f1_per_class": None if fmt.kind != formats.MULTILABEL else {
            method: {v: report.mean_sd([metrics.per_class_f1(l, data.y["test"])[i] for l in out["test_logits"]])
                     for i, v in enumerate(fmt.variables)}
            for method, out in (("new_format", new), ("baseline", bsl)) if out},
        "tie_cosines": {f"{fmt.name}:{fmt.variables[i]} ~ {names[j]}": float(c)
                        for (i, j), c in zip(new["pairs"].tolist(), cos)},
        "paper": paper.NEW_FORMATS.get(name)}
    if mesh_lib.is_writer():
      (workdir / name).mkdir(exist_ok=True)
      with (workdir / name / "metrics.jsonl").open("w") as f:
        for method, out in (("new_format", new), ("baseline", bsl or {"history": []})):
          for h in out["history"]:
            f.write(json.dumps({"method": method, "seeds": list(cfg.seeds), **h}) + "\n")
    timing[name] = {"features_s": t_features, "train_s": time.perf_counter() - t0 - t_features}
  after = jax.tree.map(np.array, {"codec": base.params, "content": base.encoder_params})
  unchanged = all(jax.tree.leaves(jax.tree.map(np.array_equal, before, after)))
  if not unchanged:  # cannot happen by construction; a broken invariant must not be exported
    raise RuntimeError("a frozen parameter of the base model changed while learning new formats")
  meta = {"base": {"path": cfg.base if pretrained.is_name(cfg.base) else str(base.workdir),
                   "fingerprint": fingerprint},
          "stage1": base.content_meta["stage1"], "modality": base.modality,
          "feature": base.content_meta["feature"],
          "new_formats": {r["format"]: {"dataset": n, "seed": r["exported_seed"],
                                        "dev": max(r["new_format"]["dev"]["values"])}
                          for n, r in rows.items()}}
  names = [r["format"] for r in rows.values()]
  checkpoint.export_model(workdir, exported, formats.head_layout(names), cfg, stage=STAGE,
                          seed=None, extra=meta)
  model = api.load(workdir)
  results = {"datasets": rows, "seeds": list(cfg.seeds), "base": meta["base"],
             "stage1": meta["stage1"], "examples": examples(model),
             "base_parameters_bit_identical": unchanged,
             "timing": {"wall_s": time.perf_counter() - t_start, "per_dataset": timing,
                        "device": f"{jax.devices()[0].device_kind}"}}
  if mesh_lib.is_writer():
    report.write(workdir, results, report.new_format_markdown(results))
  return results
