"""Stage 1: train the emotion codec on every mapping dataset at once.

Reads top to bottom: config -> data on the mesh -> one compiled *epoch* (a `lax.scan` of
`eval_every` train steps, each drawing its batch from one mapping dataset chosen at random on
device, followed by dev evaluation of every direction and an on-device update of the best
state) -> the host loop of `emojax.loop` (progress, metrics.jsonl, Orbax checkpoints of the
latest state, resumable) -> test evaluation of the best state. The train step is a pure function
of a plain pytree state, jitted with NamedShardings (batch over `data`, everything else
replicated) and a donated state. Running many steps per compiled call is what makes this fast: the authors' code
pays a Python round trip per step.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import baselines, checkpoint, codec, config as config_lib, formats, loop, mapping_data, mesh as mesh_lib
from emojax import progress, report
from emojax.run_configs import MappingConfig


@dataclasses.dataclass(frozen=True)
class Direction:
  pair_index: int
  pair: str
  source: str  # format names
  target: str
  swap: bool  # True for B -> A

  @property
  def name(self) -> str:
    return f"{self.pair}:{self.source}->{self.target}"


def directions_of(pairs: Sequence[mapping_data.PairData]) -> list[Direction]:
  out = []
  for i, data in enumerate(pairs):
    fa, fb = data.pair.formats
    out += [Direction(i, data.pair.name, fa, fb, False), Direction(i, data.pair.name, fb, fa, True)]
  return out


def layout_of(pairs: Sequence[mapping_data.PairData]) -> formats.HeadLayout:
  return formats.head_layout([f for d in pairs for f in d.pair.formats])


def packing_of(cfg: MappingConfig, pairs: Sequence[mapping_data.PairData]) -> codec.Packing:
  conditions = tuple(d.pair.name for d in pairs) if cfg.condition_on_dataset else ()
  return codec.Packing.of(layout_of(pairs), conditions)


def pad_parts(packing: codec.Packing, labels: Sequence[np.ndarray]):
  """Stacks label arrays of different lengths/widths into [K, N_max, W] plus row counts [K]."""
  out = np.zeros((len(labels), max(len(y) for y in labels), packing.width), np.float32)
  for k, y in enumerate(labels):
    out[k, :len(y), :y.shape[1]] = y
  return out, np.asarray([len(y) for y in labels], np.int32)


def train_arrays(packing: codec.Packing, pairs: Sequence[mapping_data.PairData]) -> dict:
  """Train labels of every pair, padded: a, b [P, N_max, W], n [P], format indices fa, fb [P]."""
  a, n = pad_parts(packing, [d.a["train"] for d in pairs])
  b, _ = pad_parts(packing, [d.b["train"] for d in pairs])
  fa = np.asarray([packing.index(d.pair.formats[0]) for d in pairs], np.int32)
  fb = np.asarray([packing.index(d.pair.formats[1]) for d in pairs], np.int32)
  return {"a": a, "b": b, "n": n, "fa": fa, "fb": fb}


def direction_arrays(packing: codec.Packing, pairs, part: str) -> dict:
  """Source/target labels of every direction for one split part: x, y [D, N_max, W], n, src, tgt [D]."""
  directions = directions_of(pairs)
  x, n = pad_parts(packing, [pairs[d.pair_index].b[part] if d.swap else
                                    pairs[d.pair_index].a[part] for d in directions])
  y, _ = pad_parts(packing, [pairs[d.pair_index].a[part] if d.swap else
                                    pairs[d.pair_index].b[part] for d in directions])
  src = np.asarray([packing.index(d.source) for d in directions], np.int32)
  tgt = np.asarray([packing.index(d.target) for d in directions], np.int32)
  cond = np.asarray([d.pair_index if packing.conditions else -1 for d in directions], np.int32)
  return {"x": x, "y": y, "n": n, "src": src, "tgt": tgt, "cond": cond}


def evaluate(params, cfg: MappingConfig, packing: codec.Packing, arrays) -> tuple[jax.Array, jax.Array]:
  """Scores [D, W] of every direction (deterministic) and the mask of their real entries."""
  def one(x, y, n, src, tgt, cond):
    pred = codec.map_padded(params, cfg.codec, packing, src, tgt, x, jnp.full(x.shape[:1], cond))
    return codec.masked_scores(packing, tgt, pred, y, n), codec.score_mask(packing, tgt)

  keys = ("x", "y", "n", "src", "tgt", "cond")
  return jax.vmap(one)(*(arrays[k] for k in keys))


def mean_score(scores_DxW, mask_DxW) -> jax.Array:
  """Mean over directions of each direction's mean over its variables."""
  return jnp.mean(jnp.sum(scores_DxW * mask_DxW, 1) / jnp.sum(mask_DxW, 1))


# Train steps per iteration of the epoch's loop: 2 halves the loop's per-iteration overhead
# (measured: ~2,250 -> ~2,550 steps/s on CPU; other unrolls were slower, benchmarks/README.md).
SCAN_UNROLL = 2


def make_optimizer(cfg: MappingConfig) -> optax.GradientTransformation:
  return optax.adam(cfg.learning_rate)


def init_state(rng, cfg: MappingConfig, packing: codec.Packing) -> dict:
  params = codec.init_params(rng, cfg.codec, packing)
  return {"params": params, "opt": make_optimizer(cfg).init(params),
          "best_params": jax.tree.map(jnp.copy, params),  # own buffers: the state is donated
          "best_score": jnp.array(-jnp.inf, jnp.float32), "step": jnp.zeros((), jnp.int32)}


def make_epoch_fn(cfg: MappingConfig, packing: codec.Packing, mesh: jax.sharding.Mesh):
  """Compiled (state, train, dev, key) -> (state, metrics): eval_every steps, then dev + best."""
  tx = make_optimizer(cfg)
  batch = mesh_lib.batch_sharding(mesh)

  def train_step(carry, draws, train):
    params, opt, step = carry
    d, u_B, drop_condition_B, masks = draws
    # The batch: B rows of mapping dataset d, drawn with replacement.
    idx_B = jnp.minimum((u_B * train["n"][d]).astype(jnp.int32), train["n"][d] - 1)
    condition_B = jnp.where(drop_condition_B, -1, d)
    y_a = jax.lax.with_sharding_constraint(train["a"][d][idx_B], batch)
    y_b = jax.lax.with_sharding_constraint(train["b"][d][idx_B], batch)
    masks = tuple(jax.lax.with_sharding_constraint(m, batch) for m in masks)
    masks = (tuple(m[:, 0] for m in masks), tuple(m[:, 1] for m in masks))

    fa, fb = train["fa"][d], train["fb"][d]

    def loss_fn(trainable, batch_rows):  # trainable: the two encoders of dataset d, the bank
      y_a, y_b, masks, condition_B = batch_rows
      return codec.selected_pair_loss(*trainable, cfg.codec, packing, cfg.weights, fa, fb,
                                      y_a, y_b, masks=masks, condition_B=condition_B)

    trainable = (codec.encoder_of(params, fa), codec.encoder_of(params, fb), params["bank"])
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    rows = (y_a, y_b, masks, condition_B)
    if cfg.grad_accum == 1:
      (loss, terms), grads = grad_fn(trainable, rows)
    else:
      # Gradient accumulation: the same B rows (and dropout masks) as `grad_accum` sequential
      # micro-batches. Every loss term is a mean over rows, so the mean of the micro-batch
      # gradients is the full batch's gradient while only B / grad_accum rows are live at once.
      micro = jax.tree.map(lambda x: x.reshape(cfg.grad_accum, -1, *x.shape[1:]), rows)

      def add_micro(total, chunk):
        return jax.tree.map(jnp.add, total, grad_fn(trainable, chunk)), None

      zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, trainable, rows))
      total, _ = jax.lax.scan(add_micro, zeros, micro)
      (loss, terms), grads = jax.tree.map(lambda x: x / cfg.grad_accum, total)
    grad_a, grad_b, grad_bank = grads
    grads = {"encoders": codec.stacked_gradient(grad_a, fa, grad_b, fb, params["encoders"]),
             "bank": grad_bank}
    updates, opt = tx.update(grads, opt, params)
    return (optax.apply_updates(params, updates), opt, step + 1), (loss, terms)

  def epoch(state, train, dev, key):
    # All randomness of the epoch in three calls: one mapping dataset per step (uniformly, so
    # small sets are oversampled), batch positions, and dropout masks of both encoders.
    key = jax.random.fold_in(key, state["step"])
    k_pick, k_rows, k_drop, k_cond = jax.random.split(key, 4)
    S, B = cfg.eval_every, cfg.batch_size
    if cfg.sampling == "proportional":
      d_S = jax.random.categorical(k_pick, jnp.log(train["n"].astype(jnp.float32)), shape=(S,))
    else:
      d_S = jax.random.randint(k_pick, (S,), 0, train["n"].shape[0])
    u_SxB = jax.random.uniform(k_rows, (S, B))
    drop_condition_SxB = jax.random.bernoulli(k_cond, cfg.condition_dropout, (S, B))
    masks = codec.dropout_masks(k_drop, cfg.codec, (S, B, 2))  # per layer [S, B, 2 encoders, width]
    # Only what a step changes is carried through the loop; the best state waits outside it.
    carry = (state["params"], state["opt"], state["step"])
    (params, opt, step), (loss_S, terms_S) = jax.lax.scan(
        lambda c, draws: train_step(c, draws, train), carry, (d_S, u_SxB, drop_condition_SxB, masks),
        unroll=SCAN_UNROLL)
    state = {**state, "params": params, "opt": opt, "step": step}
    dev_score = mean_score(*evaluate(params, cfg, packing, dev))
    improved = dev_score > state["best_score"]
    keep = lambda new, old: jnp.where(improved, new, old)
    state = {**state, "best_params": jax.tree.map(keep, params, state["best_params"]),
             "best_score": keep(dev_score, state["best_score"])}
    finite = jnp.isfinite(loss_S).all() & jnp.all(jnp.array(
        [jnp.isfinite(x).all() for x in jax.tree.leaves(params)]))
    out = {"loss": loss_S.mean(), "dev": dev_score, "improved": improved, "finite": finite,
           **{k: v.mean() for k, v in terms_S.items()}}
    return state, out

  replicated = mesh_lib.replicated(mesh)
  return jax.jit(epoch, in_shardings=(replicated, replicated, replicated, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


def train_seed(cfg: MappingConfig, seed: int, pairs, mesh, seed_dir: pathlib.Path,
               epoch_fn=None, show_progress: bool = True) -> dict:
  """Trains one seed (resuming from its latest checkpoint) and returns the best params + scores."""
  packing = packing_of(cfg, pairs)
  directions = directions_of(pairs)
  epoch_fn = epoch_fn or make_epoch_fn(cfg, packing, mesh)
  replicated = mesh_lib.replicated(mesh)
  train = jax.device_put(train_arrays(packing, pairs), replicated)
  dev = jax.device_put(direction_arrays(packing, pairs, "dev"), replicated)
  key = jax.random.key(seed)
  init_key, train_key = jax.random.split(key)

  abstract = jax.eval_shape(lambda k: init_state(k, cfg, packing), init_key)
  init = lambda: jax.jit(lambda k: init_state(k, cfg, packing), out_shardings=replicated)(init_key)
  checkpoints, start_epoch, state = loop.resume_or_init(seed_dir, init, replicated, abstract)
  E = cfg.eval_every
  state, _ = loop.run(
      state, lambda state, _: epoch_fn(state, train, dev, train_key), start=start_epoch,
      stop=cfg.epochs, checkpoints=checkpoints, checkpoint_every=cfg.checkpoint_every,
      on_metrics=lambda e, host: {"step": (e + 1) * E,
                                  **{k: float(v) for k, v in host.items() if k != "finite"}},
      where=lambda e, _: f"epoch {e + 1} (steps {e * E + 1}-{(e + 1) * E})",
      progress=progress.Progress(cfg.steps, f"codec seed {seed}",
                                 enabled=show_progress and mesh_lib.is_writer()),
      per_index=E)

  best = state["best_params"]
  test = jax.device_put(direction_arrays(packing, pairs, "test"), replicated)
  jit_eval = jax.jit(lambda p, a: evaluate(p, cfg, packing, a))
  out = {"seed": seed, "params": best, "best_dev": float(state["best_score"]),
         "dev": _per_direction(directions, *jit_eval(best, dev)),
         "test": _per_direction(directions, *jit_eval(best, test))}
  if packing.conditions:  # what inference without a dataset name gets
    unconditioned = {**test, "cond": jnp.full_like(test["cond"], -1)}
    out["test_unconditioned"] = _per_direction(directions, *jit_eval(best, unconditioned))
  return out


def _per_direction(directions, scores_DxW, mask_DxW) -> dict[str, np.ndarray]:
  scores, mask = np.asarray(scores_DxW), np.asarray(mask_DxW) > 0
  return {d.name: scores[i][mask[i]] for i, d in enumerate(directions)}


@loop.releases_workdir
def run(cfg: MappingConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
        restart: bool = False) -> dict:
  """The whole stage-1 experiment: every seed of the codec, the baselines, results, exported model.
  `restart`: start over in a workdir that holds a run of another config (`loop.start_workdir`)."""
  workdir = pathlib.Path(workdir).resolve()
  config_lib.validate(cfg)  # the declared ranges (run_configs.MappingConfig) before anything else
  mesh = mesh_lib.make_mesh(cfg.num_devices or None)
  mesh_lib.check_batch_divides(cfg.batch_size // cfg.grad_accum, mesh)
  pairs = [mapping_data.load_pair(name) for name in cfg.pairs]
  packing = packing_of(cfg, pairs)
  loop.start_workdir(workdir, cfg, stage="mapping", restart=restart)
  epoch_fn = make_epoch_fn(cfg, packing, mesh)
  runs = [train_seed(cfg, seed, pairs, mesh, workdir / f"seed_{seed}", epoch_fn, show_progress)
          for seed in cfg.seeds]

  directions = directions_of(pairs)
  baseline = None
  if cfg.baseline_epochs:
    parts = {p: direction_arrays(packing, pairs, p) for p in ("train", "dev", "test")}
    dev_SxDxW, test_SxDxW, _ = baselines.train_baselines(
        cfg.codec, packing, parts["train"], parts["dev"], parts["test"], cfg.seeds,
        epochs=cfg.baseline_epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        workdir=workdir / "baselines")
    mask = np.asarray(jax.vmap(lambda f: codec.score_mask(packing, f))(parts["test"]["tgt"])) > 0
    baseline = [{"dev": {d.name: dev_SxDxW[s, i][mask[i]] for i, d in enumerate(directions)},
                 "test": {d.name: test_SxDxW[s, i][mask[i]] for i, d in enumerate(directions)}}
                for s in range(len(cfg.seeds))]

  results = report.mapping_results(cfg, directions, runs, baseline)
  chosen = max(runs, key=lambda r: r["best_dev"])  # the exported model: best seed on dev
  if mesh_lib.is_writer():
    report.write(workdir, results, report.mapping_markdown(results))
  checkpoint.export_model(workdir, chosen["params"], packing.layout, cfg, stage="mapping",
                          seed=chosen["seed"], extra={"conditions": list(packing.conditions)})
  return results
