"""Per-direction baseline nets: one feed-forward net per mapping direction A -> B (METHOD.md).

Each net has the label encoder's shape with B's variables as output (Adam 1e-3, batch 32, 50
epochs of one shuffled pass each, best dev epoch). All directions and seeds train together in one
compiled call: inputs and outputs are padded to the widest format exactly as the codec pads them
(masked losses, zero-padded first-layer rows), every run is vmapped, and a run whose epoch is
shorter than the longest one simply skips the extra steps. The numbers equal separate trainings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import codec, formats


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
                    learning_rate: float = 1e-3):
  """Trains every direction x seed; returns (dev, test) scores [S, D, W] of the best dev epochs.

  train/dev/test are `train_mapping.direction_arrays` dicts: x, y [D, N, W], n, src, tgt [D].
  """
  num_dirs = len(train["n"])
  sizes = [formats.get_format(n).size for n in packing.layout.formats]
  inits = []
  for s in seeds:
    keys = jax.random.split(jax.random.key(s), num_dirs)
    inits += [_init_one(keys[d], cfg, packing, sizes[train["src"][d]], sizes[train["tgt"][d]])
              for d in range(num_dirs)]
  params = jax.tree.map(lambda *xs: jnp.stack(xs), *inits)  # [S*D, ...]
  module = codec.LabelEncoder(cfg.hidden, packing.width, cfg.dropout, cfg.leaky_slope)
  tx = optax.adam(learning_rate)
  steps_D = np.asarray([math.ceil(n / batch_size) for n in train["n"]], np.int32)
  max_steps = int(steps_D.max())
  tile = lambda a: jnp.asarray(np.tile(np.asarray(a), (len(seeds),) + (1,) * (np.ndim(a) - 1)))
  tr, dv, te = ({k: tile(v) for k, v in part.items()} for part in (train, dev, test))
  steps_R = tile(steps_D)
  run_keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in seeds for _ in range(num_dirs)])

  def score(p, part, r):
    pred = module.apply({"params": p}, part["x"][r], deterministic=True)
    return codec.masked_scores(packing, part["tgt"][r], pred, part["y"][r], part["n"][r])

  def one_run(p, r, key):
    mask = codec.score_mask(packing, tr["tgt"][r])
    dev_mean = lambda p: jnp.sum(score(p, dv, r) * mask) / jnp.sum(mask)

    def epoch(e, carry):
      p, opt, best, best_score = carry
      k_perm, k_drop = jax.random.split(jax.random.fold_in(key, e))
      n = tr["n"][r]
      # A shuffled pass over the n real rows (padding rows sort last).
      rank = jax.random.uniform(k_perm, (tr["x"].shape[1],)) + (jnp.arange(tr["x"].shape[1]) >= n)
      order = jnp.argsort(rank)

      def step(s, inner):
        p, opt = inner
        idx = order[(s * batch_size + jnp.arange(batch_size)) % n]
        x, y = tr["x"][r][idx], tr["y"][r][idx]

        def loss_fn(p):
          pred = module.apply({"params": p}, x, deterministic=False,
                              rngs={"dropout": jax.random.fold_in(k_drop, s)})
          return codec.masked_loss(packing, tr["tgt"][r], pred, y)

        grads = jax.grad(loss_fn)(p)
        updates, new_opt = tx.update(grads, opt, p)
        new_p = optax.apply_updates(p, updates)
        active = s < steps_R[r]
        pick = lambda new, old: jnp.where(active, new, old)
        return jax.tree.map(pick, new_p, p), jax.tree.map(pick, new_opt, opt)

      p, opt = jax.lax.fori_loop(0, max_steps, step, (p, opt))
      current = dev_mean(p)
      better = current > best_score
      best = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best)
      return p, opt, best, jnp.where(better, current, best_score)

    init = (p, tx.init(p), p, jnp.array(-jnp.inf))
    _, _, best, _ = jax.lax.fori_loop(0, epochs, epoch, init)
    return score(best, dv, r), score(best, te, r)

  runs = jnp.arange(len(seeds) * num_dirs)
  dev_RxW, test_RxW = jax.jit(jax.vmap(one_run))(params, runs, run_keys)
  shape = (len(seeds), num_dirs, packing.width)
  return np.asarray(dev_RxW).reshape(shape), np.asarray(test_RxW).reshape(shape)
