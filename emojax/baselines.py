"""Per-direction baseline nets: one feed-forward net per mapping direction A -> B (docs/method.md).

Each net has the label encoder's shape with B's variables as output (Adam 1e-3, batch 32, 50
epochs of one shuffled pass each, best dev epoch). All directions and seeds train together in one
compiled function: inputs and outputs are padded to the widest format exactly as the codec pads them
(masked losses, zero-padded first-layer rows), so one compiled function serves every direction,
and the seeds of a direction are vmapped. The numbers equal separate trainings.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import codec, formats, loop
from emojax import config as config_lib


def _init_one(key, cfg: codec.CodecConfig, packing: codec.Packing, n_in: int, n_out: int):
  module = codec.LabelEncoder(cfg.hidden, n_out, cfg.dropout, cfg.leaky_slope)
  tree = module.init(key, jnp.zeros((1, n_in)), deterministic=True)["params"]
  last = f"Dense_{len(cfg.hidden)}"
  pad_in = ((0, packing.width - n_in), (0, 0))
  pad_out = ((0, 0), (0, packing.width - n_out))
  return {**tree, "Dense_0": {**tree["Dense_0"], "kernel": jnp.pad(tree["Dense_0"]["kernel"], pad_in)},
          last: {"kernel": jnp.pad(tree[last]["kernel"], pad_out),
                 "bias": jnp.pad(tree[last]["bias"], (0, packing.width - n_out))}}


def train_baselines(cfg: codec.CodecConfig, packing: codec.Packing, train: dict, dev: dict,
                    test: dict, seeds: Sequence[int], *, epochs: int, batch_size: int = 32,
                    learning_rate: float = 1e-3, workdir: str | pathlib.Path | None = None):
  """Trains every direction x seed; returns (dev, test) scores [S, D, W] of the best dev epochs
  and the best params, stacked [S, D, ...]; apply one with `baseline_module(cfg, packing)` on
  labels padded to packing.width.

  train/dev/test are `train_mapping.direction_arrays` dicts: x, y [D, N, W], n, src, tgt [D].
  Directions run one after another through one compiled function (all are padded to the same
  shapes, so it compiles once); the seeds of a direction are vmapped. With a `workdir` (one process) the host
  loop (`emojax.loop`) checkpoints after each direction and a rerun resumes at the next one.
  """
  sizes = [formats.get_format(n).size for n in packing.layout.formats]
  module = baseline_module(cfg, packing)
  tx = optax.adam(learning_rate)

  def score(p, part, n, tgt):
    pred = module.apply({"params": p}, part["x"], deterministic=True)
    return codec.masked_scores(packing, tgt, pred, part["y"], n)

  def one_run(p, key, tr, dv, te):
    mask = codec.score_mask(packing, tr["tgt"])
    dev_mean = lambda p: jnp.sum(score(p, dv, dv["n"], dv["tgt"]) * mask) / jnp.sum(mask)
    n = tr["n"]
    steps = (n + batch_size - 1) // batch_size  # one shuffled pass per epoch

    def epoch(e, carry):
      p, opt, best, best_score = carry
      k_perm, k_drop = jax.random.split(jax.random.fold_in(key, e))
      rows = jnp.arange(tr["x"].shape[0])
      order = jnp.argsort(jax.random.uniform(k_perm, rows.shape) + (rows >= n))  # padding last

      def step(s, inner):
        p, opt = inner
        idx = order[(s * batch_size + jnp.arange(batch_size)) % n]

        def loss_fn(p):
          pred = module.apply({"params": p}, tr["x"][idx], deterministic=False,
                              rngs={"dropout": jax.random.fold_in(k_drop, s)})
          return codec.masked_loss(packing, tr["tgt"], pred, tr["y"][idx])

        updates, opt = tx.update(jax.grad(loss_fn)(p), opt, p)
        return optax.apply_updates(p, updates), opt

      p, opt = jax.lax.fori_loop(0, steps, step, (p, opt))
      current = dev_mean(p)
      better = current > best_score
      best = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best)
      return p, opt, best, jnp.where(better, current, best_score)

    init = (p, tx.init(p), p, jnp.array(-jnp.inf))
    _, _, best, _ = jax.lax.fori_loop(0, epochs, epoch, init)
    return score(best, dv, dv["n"], dv["tgt"]), score(best, te, te["n"], te["tgt"]), best

  seeds_run = jax.jit(jax.vmap(one_run, in_axes=(0, 0, None, None, None)))

  def one_direction(d):  # every seed of direction d: dev and test scores [S, W], best params
    pick = lambda part: {k: jnp.asarray(v[d]) for k, v in part.items()}
    keys = [jax.random.fold_in(jax.random.key(s), d) for s in seeds]
    inits = [_init_one(jax.random.fold_in(k, 0), cfg, packing, sizes[train["src"][d]],
                       sizes[train["tgt"][d]]) for k in keys]
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *inits)
    run_keys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
    dv_S, te_S, best_S = seeds_run(params, run_keys, pick(train), pick(dev), pick(test))
    return {"dev": dv_S, "test": te_S, "best": best_S}

  def direction(acc, d):  # slot d of every [S, D, ...] array, filled by copying
    out = one_direction(d)
    mask_W = codec.score_mask(packing, train["tgt"][d])
    dev_mean = jnp.sum(out["dev"] * mask_W) / (jnp.sum(mask_W) * len(seeds))  # for metrics.jsonl
    return jax.tree.map(lambda a, x: a.at[:, d].set(x), acc, out), {"dev": dev_mean}

  D = len(train["n"])
  shapes = jax.eval_shape(lambda: one_direction(0))
  init = lambda: jax.tree.map(lambda a: jnp.zeros((a.shape[0], D, *a.shape[1:]), a.dtype), shapes)
  checkpoints, start = None, 0
  # Resumable per direction, keyed by everything the numbers depend on. Single-process runs only:
  # every process trains the baselines locally (same numbers everywhere), and Orbax saves only
  # arrays of the global mesh in a multi-process run.
  if workdir is not None and jax.process_count() == 1:
    settings = [config_lib.to_dict(cfg), list(packing.layout.formats), list(packing.conditions),
                list(seeds), epochs, batch_size, learning_rate]
    arrays = [a for part in (train, dev, test) for _, a in sorted(part.items())]
    run_dir = pathlib.Path(workdir) / loop.digest(settings, arrays)
    checkpoints, start, acc = loop.resume_or_init(run_dir, init)
  else:
    acc = init()
  acc, _ = loop.run(acc, direction, start=start, stop=D, checkpoints=checkpoints, unit="direction")
  return np.asarray(acc["dev"]), np.asarray(acc["test"]), acc["best"]  # [S, D, W], ..., [S, D, ...]


def baseline_module(cfg: codec.CodecConfig, packing: codec.Packing) -> codec.LabelEncoder:
  return codec.LabelEncoder(cfg.hidden, packing.width, cfg.dropout, cfg.leaky_slope)
