"""Full fine-tuning of a pretrained backbone through the frozen stage-1 heads: the parts that texts
(`emojax.finetune_text`) and images (`emojax.finetune_image`) share.

A modality supplies `forward(params, inputs, rng) -> (embedding, own output)`; everything else is
here. `prepare_heads` reads the stage-1 model and picks the dataset format's head (Sng), the
augmentation format's head (Aug) or none (Bsl, its own output layer). `make_loss` turns the forward
into each condition's loss and prediction. `make_step` jits one optimizer step with explicit
NamedShardings: the batch sharded over the mesh's `data` axis, the state replicated and donated,
the stage-1 parameters a separate replicated argument that is never in the optimizer state (so
they cannot change). `train_loop` runs the steps through `emojax.loop` (a fresh permutation per
epoch, dev evaluation, best-dev state kept, metrics.jsonl, resumable checkpoints, a non-finite loss
stops the run naming the step), and `export`
writes the best state with the stage-1 fingerprint so that `emojax.load` serves it.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import checkpoint, codec, conditions, formats, layers, loop, mesh as mesh_lib, progress, train_content
from emojax import config as config_lib

CONDITIONS = conditions.SINGLE_DATASET  # no Mlt: one pretrained encoder per dataset
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class Heads:
  """What a fine-tuning run reads off the stage-1 model."""
  stage1: Any  # api.EmotionModel
  fingerprint: str
  packing: codec.Packing
  fmt: formats.LabelFormat
  f: int  # head of the dataset's format
  fa: int  # head of the augmentation format (Aug), else f
  aug_format: str | None


def prepare_heads(stage1_path, fmt_name: str, condition: str) -> Heads:
  if condition not in CONDITIONS:
    raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
  stage1, fingerprint = train_content.load_stage1(stage1_path)
  packing = stage1.packing
  fmt = formats.get_format(fmt_name)
  f = packing.index(fmt.name)
  aug = train_content.augment_map(train_content.ContentConfig().augment).get(fmt.name)
  fa = packing.index(aug) if condition == "Aug" else f
  return Heads(stage1, fingerprint, packing, fmt, f, fa, aug)


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ValueError(f"compute_dtype must be one of {list(DTYPES)}, got {name!r}")
  return DTYPES[name]


def cast_floats(tree, dtype):
  """Floating leaves to `dtype` (bf16 compute with fp32 master parameters: the cast sits inside
  the differentiated function, so gradients and optimizer state stay fp32)."""
  return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def dense(key: jax.Array, fan_in: int, n: int) -> dict[str, jax.Array]:
  """Dense layer: lecun-normal kernel (`layers.lecun_normal`, Flax's default), zero bias."""
  return {"kernel": layers.lecun_normal(key, [(fan_in, n)])[0],
          "bias": jnp.zeros(n)}


def head_params(k_embed: jax.Array, k_own: jax.Array, fan_in: int, heads: Heads, condition: str,
                zero: bool = False) -> dict:
  """Dense 100 into the space, and for Bsl its own output layer over the packed head width;
  `zero`: all-zero kernels, so the first steps train these layers before any error reaches the
  pretrained encoder (`emojax.finetune_image`)."""
  layer = lambda k, n: jax.tree.map(jnp.zeros_like, dense(k, fan_in, n)) if zero else dense(k, fan_in, n)
  out = {"embed": layer(k_embed, heads.stage1.config.codec.embedding_dim)}
  if condition == "Bsl":
    out["own"] = layer(k_own, heads.packing.width)
  return out


def dropout(x: jax.Array, rate: float, rng: jax.Array | None) -> jax.Array:
  if rng is None or not rate:
    return x
  keep, = layers.keep_masks(rng, x.shape[:-1], x.shape[-1:], (rate,))
  return layers.dropout(x, keep, rate)


def head_outputs(p: dict, pooled_BxD: jax.Array) -> tuple[jax.Array, jax.Array | None]:
  e = pooled_BxD @ p["embed"]["kernel"] + p["embed"]["bias"]
  own = pooled_BxD @ p["own"]["kernel"] + p["own"]["bias"] if "own" in p else None
  return e, own


def make_loss(packing: codec.Packing, cond: str, f: int, fa: int, forward: Callable):
  """`forward(params, inputs, rng)` -> (embedding, own output) becomes the condition's
  `loss_fn(params, frozen, batch, rng)` and `predict(params, frozen, inputs, rng=None)`."""
  def predict(p, frozen, inputs, rng=None):
    e, own = forward(p, inputs, rng)
    return (own if cond == "Bsl" else codec.decode(frozen, packing, f, e)), e

  def loss_fn(p, frozen, batch, rng):
    pred, e = predict(p, frozen, batch, rng)
    loss = codec.masked_loss(packing, f, pred, batch["y"])
    if cond == "Aug":
      loss += codec.masked_loss(packing, fa, codec.decode(frozen, packing, fa, e), batch["ya"])
    return loss

  return loss_fn, predict


def make_step(tx: optax.GradientTransformation, loss_fn: Callable, mesh):
  """One optimizer step, `jax.jit` with the batch sharded over `data` and the state donated."""
  rep, batch_sh = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)

  def step(state, frozen, batch, key):
    loss, grads = jax.value_and_grad(loss_fn)(state["params"], frozen, batch, key)
    updates, opt = tx.update(grads, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, {"loss": loss}

  return jax.jit(step, in_shardings=(rep, rep, batch_sh, rep), out_shardings=(rep, rep),
                 donate_argnums=(0,))


def init_state(tx: optax.GradientTransformation, params, mesh) -> dict:
  # Own buffers: the state is donated, and the caller's arrays must survive the run.
  params = jax.tree.map(jnp.copy, params)
  return mesh_lib.put_replicated({"params": params, "opt": tx.init(params)}, mesh)


def padded_batches(arrays: dict[str, np.ndarray], batch: int, mesh, pad_row: Callable | None = None):
  """(inputs, n) per batch of `batch` rows (rounded up to the device count), the last one padded
  with zero rows (`pad_row(inputs, n)` may fix them up): one compiled shape for every call.
  Inputs arrive sharded over the mesh's `data` axis."""
  B = -(-batch // mesh.size) * mesh.size
  total = len(next(iter(arrays.values())))
  for s in range(0, total, B):
    m = min(B, total - s)
    out = {}
    for k, v in arrays.items():
      out[k] = np.zeros((B,) + v.shape[1:], v.dtype)
      out[k][:m] = v[s:s + m]
    if pad_row is not None:
      pad_row(out, m)
    yield mesh_lib.put_batch(out, mesh), m


def train_loop(cfg, workdir: pathlib.Path, *, title: str, step_fn, state, frozen,
               train: dict[str, np.ndarray], dev_r: Callable, key: jax.Array, mesh, seed: int,
               show_progress: bool = True) -> tuple[dict, Any]:
  """Steps over `train` (row arrays, gathered per batch; the epoch's order follows `seed`) for
  `cfg.max_steps` or `cfg.epochs` epochs of `cfg.batch_size`, evaluating `dev_r(params)` every
  `cfg.eval_every` steps (0 = once per epoch) and at the end, through the host loop of
  `emojax.loop`: losses read one step late, config.json, metrics.jsonl, and a checkpoint of the
  train state and the best-dev params at every evaluation, from which a rerun resumes (bit-
  identical to an uninterrupted run). Returns (results, best params on the host)."""
  n, B = len(train["y"]), cfg.batch_size
  per_epoch = max(n // B, 1)
  total = cfg.max_steps or per_epoch * cfg.epochs
  eval_every = cfg.eval_every or per_epoch
  loop.start_workdir(workdir, cfg, restart_if_changed=True)
  rep = mesh_lib.replicated(mesh)
  fresh = lambda: {"train": state, "best": jax.tree.map(jnp.copy, state["params"]),
                   "best_r": mesh_lib.put_replicated(np.float32(-np.inf), mesh)}
  abstract = jax.eval_shape(lambda: {"train": state, "best": state["params"], "best_r": jnp.float32(0)})
  checkpoints, start, run_state = loop.resume_or_init(workdir, fresh, rep, abstract)
  # The best dev r exactly as computed (a float64; the checkpoint holds it as float32).
  best_r = max((r["dev_r"] for r in loop.read_metrics(workdir / "metrics.jsonl", "step", start)
                if "dev_r" in r), default=float(run_state["best_r"]))
  orders = {}

  def step(run_state, s):
    nonlocal best_r
    epoch, i = divmod(s, per_epoch)
    if epoch not in orders:  # the epoch's row order, a function of (seed, epoch) alone
      orders.clear()
      orders[epoch] = np.random.RandomState(seed * 1000 + epoch).permutation(n)
    idx = orders[epoch][i * B:i * B + B]
    batch = mesh_lib.put_batch({k: v[idx] for k, v in train.items()}, mesh)
    new, out = step_fn(run_state["train"], frozen, batch, jax.random.fold_in(key, s))
    run_state = {**run_state, "train": new}
    if (s + 1) % eval_every == 0 or s + 1 == total:
      r = dev_r(new["params"])
      out = {**out, "dev_r": r}
      if r > best_r:
        best_r = r
        run_state = {**run_state, "best": jax.tree.map(jnp.copy, new["params"]),  # own buffers
                     "best_r": mesh_lib.put_replicated(np.float32(r), mesh)}
    return run_state, out

  def record(s, host):
    out = {"loss": float(host["loss"])}
    return {**out, "dev_r": host["dev_r"]} if "dev_r" in host else out

  bar = progress.Progress(total, title, enabled=show_progress and mesh_lib.is_writer())
  t0 = time.perf_counter()
  run_state, records = loop.run(run_state, step, start=start, stop=total, checkpoints=checkpoints,
                                checkpoint_every=eval_every, on_metrics=record, unit="step",
                                progress=bar)
  wall = time.perf_counter() - t0
  losses = [r["loss"] for r in records]
  devs = [(r["step"], r["dev_r"]) for r in records if "dev_r" in r]
  k = max(1, min(10, len(losses) // 5))
  results = {"config": config_lib.to_dict(cfg), "steps": total, "first_loss": losses[0],
             "last_loss": losses[-1], f"mean_loss_first_{k}": float(np.mean(losses[:k])),
             f"mean_loss_last_{k}": float(np.mean(losses[-k:])), "dev": devs, "best_dev_r": best_r,
             "train_items": n, "wall_s": wall, "s_per_step": wall / max(total - start, 1),
             "device": f"{mesh.size} x {jax.devices()[0].device_kind}", "losses": losses}
  return results, jax.device_get(run_state["best"])


def write_results(workdir: pathlib.Path, results: dict) -> None:
  if mesh_lib.is_writer():
    shown = {k: v for k, v in results.items() if k not in ("losses", "best_params")}
    (workdir / "results.json").write_text(json.dumps(shown, indent=1) + "\n")


def export(workdir: pathlib.Path, cfg, params, heads: Heads, *, modality: str, run: str, seed: int,
           best_r: float, feature: dict) -> dict:
  """Exports fine-tuned parameters (backbone + Dense 100; never Bsl's own output) the way the
  content stage does: checkpoint.export_model, stage "content", with the stage-1 fingerprint."""
  meta = {"modality": modality,
          "encoder": {"run": f"{run} (fine-tuned)", "seed": seed, "best_dev": best_r},
          "feature": feature,
          "stage1": {"path": str(heads.stage1.workdir), "fingerprint": heads.fingerprint}}
  checkpoint.export_model(workdir, params, heads.packing.layout, cfg, stage="content", seed=seed,
                          extra=meta)
  return meta
