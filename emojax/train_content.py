"""Stage 2: content encoders trained into the frozen emotion space, every condition of the paper.

Reads top to bottom: config -> the frozen stage-1 model (`emojax.load`, fingerprinted) -> content
data as cached feature matrices (`emojax.content_data`; words today, texts/images plug in with
another encoder shape) -> a plan of training *runs* (`emojax.content_plan`) -> runs grouped by
epoch length, each group trained as ONE vmapped, compiled epoch function -> evaluation,
zero-shot, results (`emojax.report`), export.

Conditions are configurations of one loop, not scripts. A run trains one encoder G (features ->
Dropout/Dense/LeakyReLU blocks -> Dense 100) on one or more datasets:
  Bsl  its own Dense output of n_variables instead of the shared space,
  Sng  prediction = codec.decode(stage-1 params, packing, format, G(x)) with the dataset's format,
  Aug  Sng + ℓ_F'(H_F' G(x), ŷ') with ŷ' = H_F'(E_F(y)) from the frozen codec (VA/VAD -> BE5, BE5 -> VAD),
  Mlt  Sng on every dataset of a language at once (one encoder, each example through its own head);
  BsZ, SnZ, AuZ are evaluations: a Bsl/Sng/Aug encoder of dataset A scored on its sibling B's test
  items, through a per-direction mapping net A -> B (BsZ, `baselines.train_baselines`) or head B.
Siblings are the mapping pairs of stage 1 (`datasets.sibling_pairs`).

The stage-1 parameters are a separate, replicated, never-donated jit argument: they are not in the
train state and never reach the optimizer (tested bit-identical). All runs of a group and all
seeds are vmapped: parameters carry a leading run axis sharded over the `data` mesh axis (runs are
independent, so devices never talk); every run takes the group's longest epoch in steps and
simply skips the steps it does not have, as `baselines.py` does. `plan_groups` picks the grouping
that wastes the fewest such steps. Each group is resumable from Orbax checkpoints. With
`batch_shards=k` the mesh is (run shards x k) and each run's batch rows are split over its k
devices too (data parallel within one encoder); `grad_accum` splits each batch into sequential
micro-batches. Both reproduce the single-device, full-batch training (tested on 8 fake devices).

  python launch/content.py --modality=words            # 3 seeds, all word datasets and conditions
  -> test mean r (GloVe 50-d): Bsl .460  Sng .481  Aug .459  Mlt .503  BsZ .390  SnZ .036  AuZ .414,
     VADER valence r .65; 3-4.5 minutes on a 2-core CPU (benchmarks/README.md, bench_words).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time
import warnings
import zlib
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import baselines, checkpoint, codec, content_data, datasets, formats, image_data, layers, loop, mapping_data, metrics
from emojax import mesh as mesh_lib, probe, progress, region, report, splits, text_data, train_mapping
from emojax import api, calibration, config as config_lib, pretrained
from emojax.content_plan import CONDITIONS, ZERO_SHOT_OF, Run, mlt_groups, plan_groups, plan_runs, siblings_of, targets_of
from emojax.content_model import ContentEncoder, encoder_module, exported_params
from emojax.run_configs import ContentConfig, augment_map, trained_formats

MODALITIES = ("words", "texts", "images")
EXPORTABLE = ("Sng", "Aug", "Mlt")  # conditions whose encoders write into the shared space


def load_data(cfg: ContentConfig, cache) -> dict[str, content_data.ContentData]:
  """The run's datasets, then its `mlt_with` ones (a texts run reads word datasets as texts)."""
  names = cfg.datasets + tuple(cfg.mlt_with)
  if cfg.modality == "texts":
    return {n: text_data.load_texts(n, cache, max_length=cfg.max_length, encoder=cfg.text_encoder,
                                    pooling=cfg.text_pooling, max_items=cfg.max_items)
            for n in names}
  if cfg.modality == "images":
    return {n: image_data.load_images(n, cache, cfg.max_items) for n in names}
  return {n: content_data.load_words(n, cfg.vectors, cache) for n in names}


# ------------------------------------------------------------------------------------- the encoder

def dropout_keep(rng, module: ContentEncoder, batch: int, dim: int) -> tuple[jax.Array, ...]:
  """Keep-masks of every dropout layer for one batch from ONE random draw (`layers.keep_masks`)."""
  return layers.keep_masks(rng, (batch,), (dim, *module.hidden), module.dropout)


# ------------------------------------------------------------------------------- losses and scores

def example_losses(packing: codec.Packing, f_B, pred_BxW, y_BxW):
  """ℓ_F of every example under its own format (codec.masked_loss on one row): [B]."""
  one = lambda f, p, y: codec.masked_loss(packing, f, p[None], y[None])
  return jax.vmap(one)(f_B, pred_BxW, y_BxW)


def decode_each(frozen, packing: codec.Packing, f_B, e_BxE):
  """Frozen head of each example's own format, [B, W]: codec.decode row by row, computed as every
  head row at once (one small matmul) and a gather of each example's columns."""
  all_BxV = e_BxE @ frozen["bank"].T
  return jnp.take_along_axis(all_BxV, jnp.asarray(packing.rows_FxW)[f_B], axis=1)


def group_mean(loss_B, group_B, num_groups: int, count_G=None, by_examples: bool = False):
  """Σ over datasets of the run of the mean loss over that dataset's examples in the batch; with
  `by_examples`, the mean over all the batch's examples times the number of datasets in it (each
  example weighs the same; the same scale, and the same value for a run of one dataset).
  `count_G`: examples per dataset in the whole batch when loss_B is one micro-batch of it (the
  micro-batch values then sum to the full batch's, see `grad_accum`)."""
  onehot_BxG = jax.nn.one_hot(group_B, num_groups)
  if count_G is None:
    count_G = onehot_BxG.sum(0)
  if by_examples:
    return jnp.sum(loss_B) / jnp.maximum(count_G.sum(), 1.0) * jnp.sum(count_G > 0)
  return jnp.sum((loss_B @ onehot_BxG) / jnp.maximum(count_G, 1.0))


def host_scores(fmt: formats.LabelFormat, pred_NxW: np.ndarray, y_NxW: np.ndarray) -> np.ndarray:
  """The paper's metric of a format on host arrays: r per variable, or accuracy / macro F1."""
  pred, y = jnp.asarray(pred_NxW[:, :fmt.size]), jnp.asarray(y_NxW[:, :fmt.size])
  return np.asarray(metrics.format_scores(fmt, pred, y), np.float64)


# ----------------------------------------------------------------------------------- stage-1 model

def load_stage1(path: str | pathlib.Path):
  """The frozen stage-1 model (a workdir, or the pretrained "codec" by name) and its fingerprint."""
  path = pretrained.resolve(path).resolve()
  if not (path / checkpoint.MODEL_JSON).is_file():
    raise checkpoint.CheckpointError(
        f"stage-1 checkpoint {path} not found (no {checkpoint.MODEL_JSON}); train it with "
        f"`python launch/mapping.py --workdir={path}` or set stage1=<workdir of a stage-1 run>")
  return api.load(path), checkpoint.fingerprint(path)


def synthetic_labels(stage1, source: str, target: str, y_NxV: np.ndarray) -> np.ndarray:
  """ŷ' = H_F'(E_F(y)) with the frozen codec (no dropout); one-hot argmax / 0-1 for class formats."""
  out = stage1.map_labels(y_NxV, source, target)
  fmt = formats.get_format(target)
  if fmt.kind == formats.CLASSES:
    return np.eye(fmt.size, dtype=np.float32)[out.argmax(-1)]
  if fmt.kind == formats.MULTILABEL:
    return (out > 0.5).astype(np.float32)
  return out.astype(np.float32)


# ------------------------------------------------------------------------------------------- data

class Pool:
  """Every dataset part stacked into one device table: features, padded labels, formats, and the
  synthetic augmentation labels. Runs address it by row index."""

  def __init__(self, data: dict[str, content_data.ContentData], packing: codec.Packing, stage1,
               augment: dict[str, str]):
    self.start, x, y, f, ya, fa = {}, [], [], [], [], []
    self.format = {name: d.format for name, d in data.items()}
    parts = splits.PARTS
    synthetic = {name: synthetic_labels(stage1, d.format, augment[d.format],
                                        np.concatenate([d.y[p] for p in parts]))
                 for name, d in data.items() if augment.get(d.format) in packing.layout.formats}
    offset = 0
    for name, d in data.items():
      for k, part in enumerate(parts):
        n = len(d.items[part])
        self.start[(name, part)] = (offset, n)
        offset += n
        x.append(d.x[part])
        y.append(packing.pad(d.y[part]))
        f.append(np.full(n, packing.index(d.format), np.int32))
        target = augment.get(d.format)
        if target in packing.layout.formats:
          ya.append(packing.pad(synthetic[name][sum(len(d.items[p]) for p in parts[:k]):][:n]))
          fa.append(np.full(n, packing.index(target), np.int32))
        else:  # no rule: these rows are never weighted (only Aug runs weight the synthetic labels)
          ya.append(np.zeros((n, packing.width), np.float32))
          fa.append(np.full(n, packing.index(d.format), np.int32))
    self.arrays = {"x": np.concatenate(x).astype(np.float32), "y": np.concatenate(y),
                   "f": np.concatenate(f), "ya": np.concatenate(ya), "fa": np.concatenate(fa)}

  def rows(self, dataset: str, part: str) -> np.ndarray:
    offset, n = self.start[(dataset, part)]
    return np.arange(offset, offset + n, dtype=np.int32)


def _pad_rows(lists: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  out = np.zeros((len(lists), max([len(l) for l in lists] + [1])), np.int32)
  for i, l in enumerate(lists):
    out[i, :len(l)] = l
  return out, np.asarray([len(l) for l in lists], np.int32)


def run_key(run: Run) -> jax.Array:
  # Keyed by (seed, datasets), not condition: Bsl, Sng and Aug of a dataset start from the same
  # trunk and see the same batches, so their differences are the condition's alone.
  return jax.random.fold_in(jax.random.key(run.seed), zlib.crc32("+".join(run.datasets).encode()))


def run_arrays(runs: Sequence[Run], pool: Pool, packing: codec.Packing, cfg: ContentConfig,
               num_slots: int) -> dict:
  """Per-run index arrays of one group: train rows + dataset slot, dev rows per slot, flags, keys."""
  train, group, dev, n_dev, dev_f, slot_weight = [], [], [], [], [], []
  for run in runs:
    slot_weight.append(np.asarray([1.0] * len(run.datasets) + [cfg.mlt_with_weight] * len(run.extra)
                                  + [0.0] * (num_slots - len(run.trains_on)), np.float32))
    rows = [pool.rows(n, "train") for n in run.trains_on]
    train.append(np.concatenate(rows))
    group.append(np.concatenate([np.full(len(r), k, np.int32) for k, r in enumerate(rows)]))
    # dev: the run's own datasets only (an `extra` one adds training items, not the best epoch)
    slots = [pool.rows(n, "dev") for n in run.datasets] + [np.zeros(0, np.int32)] * len(run.extra)
    slots += [np.zeros(0, np.int32)] * (num_slots - len(slots))
    d, n = _pad_rows(slots)
    dev.append(d)
    n_dev.append(n)
    fmt_of = lambda k: packing.index(pool.format[run.trains_on[min(k, len(run.trains_on) - 1)]])
    dev_f.append(np.asarray([fmt_of(k) for k in range(num_slots)], np.int32))
  train_RxN, n_train = _pad_rows(train)
  group_RxN, _ = _pad_rows(group)
  width = max(d.shape[1] for d in dev)
  dev_RxGxN = np.stack([np.pad(d, ((0, 0), (0, width - d.shape[1]))) for d in dev])
  return {"train": train_RxN, "group": group_RxN, "n_train": n_train,
          "steps": -(-n_train // cfg.batch_size),
          "own": np.asarray([r.condition == "Bsl" for r in runs]),
          "aug": np.asarray([cfg.aug_weight if r.condition == "Aug" else 0.0 for r in runs], np.float32),
          "dev": dev_RxGxN, "n_dev": np.stack(n_dev), "dev_f": np.stack(dev_f),
          "slot_weight": np.stack(slot_weight),
          "key": jax.random.key_data(jnp.stack([run_key(r) for r in runs]))}


# -------------------------------------------------------------------------------------- the epoch

def make_predict(module: ContentEncoder, packing: codec.Packing):
  """(params, frozen, x pool, rows [T, N], formats [T], own) -> predictions [T, N, W], one run."""
  def predict(p, frozen, x_pool, rows_TxN, f_T, own):
    def target(rows_N, f):
      e, o = module.apply({"params": p}, x_pool[rows_N], deterministic=True)
      return jnp.where(own, o, codec.decode(frozen, packing, f, e))
    return jax.vmap(target)(rows_TxN, f_T)
  return predict


def optimizer(cfg: ContentConfig) -> optax.GradientTransformation:
  """Adam (the paper's), or AdamW when `weight_decay` > 0."""
  if cfg.weight_decay:
    return optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
  return optax.adam(cfg.learning_rate)


def make_epoch_fn(cfg: ContentConfig, module: ContentEncoder, packing: codec.Packing,
                  mesh: jax.sharding.Mesh, num_slots: int, max_steps: int):
  """Compiled (state, runs, frozen, pool, epoch) -> (state, metrics) for every run of a group:
  one shuffled pass per run (max_steps steps, the run's own count active), then dev + best."""
  tx = optimizer(cfg)
  predict = make_predict(module, packing)
  B, K = cfg.batch_size, cfg.grad_accum
  by_examples = cfg.mlt_weighting == "examples"
  batch_sharded = batch_shards_of(mesh) > 1
  # One run's batch rows over the `batch` mesh axis; vmap's spmd_axis_name adds the run axis.
  shard_rows = lambda a: a
  if batch_sharded:
    rows_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(BATCH_AXIS))
    shard_rows = lambda a: jax.lax.with_sharding_constraint(a, rows_sharding)

  def one_run(p, opt, best, best_score, run, frozen, pool, epoch):
    key = jax.random.wrap_key_data(run["key"])
    k_perm, k_drop = jax.random.split(jax.random.fold_in(key, epoch))
    n, N = run["n_train"], run["train"].shape[0]
    order = jnp.argsort(jax.random.uniform(k_perm, (N,)) + (jnp.arange(N) >= n))  # padding last

    def step(carry, s):
      p, opt = carry
      pos = order[(s * B + jnp.arange(B)) % n]
      count_G = jax.nn.one_hot(run["group"][pos], num_slots).sum(0)  # of the whole batch
      keep = dropout_keep(jax.random.fold_in(k_drop, s), module, B, pool["x"].shape[1])

      def loss_fn(p, pos, keep):
        pos, keep = shard_rows(pos), tuple(shard_rows(k) for k in keep)
        rows, g = run["train"][pos], run["group"][pos]
        x, y, f = pool["x"][rows], pool["y"][rows], pool["f"][rows]
        ya, fa = pool["ya"][rows], pool["fa"][rows]
        e, o = module.apply({"params": p}, x, keep=keep)
        pred = jnp.where(run["own"], o, decode_each(frozen, packing, f, e))
        weighted = example_losses(packing, f, pred, y) * run["slot_weight"][g]  # mlt_with_weight
        loss = group_mean(weighted, g, num_slots, count_G, by_examples)
        aug = group_mean(example_losses(packing, fa, decode_each(frozen, packing, fa, e), ya), g,
                         num_slots, count_G, by_examples)
        return loss + run["aug"] * aug

      grad_fn = jax.value_and_grad(loss_fn)
      if K == 1:
        loss, grads = grad_fn(p, pos, keep)
      else:
        # Gradient accumulation: the batch's rows and dropout masks as K sequential micro-batches.
        # Each micro-batch loss divides by the WHOLE batch's example count per dataset, so the
        # micro-batch losses and gradients sum (not average) to the full batch's exactly, also
        # for Mlt runs whose datasets are spread unevenly over the micro-batches.
        micro = jax.tree.map(lambda a: a.reshape(K, B // K, *a.shape[1:]), (pos, keep))
        add = lambda total, chunk: (jax.tree.map(jnp.add, total, grad_fn(p, *chunk)), None)
        zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(grad_fn, p, pos, keep))
        (loss, grads), _ = jax.lax.scan(add, zeros, micro)
      updates, new_opt = tx.update(grads, opt, p)
      active = s < run["steps"]
      pick = lambda new, old: jnp.where(active, new, old)
      new = (jax.tree.map(pick, optax.apply_updates(p, updates), p), jax.tree.map(pick, new_opt, opt))
      return new, jnp.where(active, loss, 0.0)

    (p, opt), loss_S = jax.lax.scan(step, (p, opt), jnp.arange(max_steps))
    pred_GxNxW = predict(p, frozen, pool["x"], run["dev"], run["dev_f"], run["own"])

    def slot_score(pred, rows, n, f):
      r_W = codec.masked_scores(packing, f, pred, pool["y"][rows], jnp.maximum(n, 1))
      mask_W = codec.score_mask(packing, f)
      return jnp.sum(r_W * mask_W) / jnp.sum(mask_W)

    score_G = jax.vmap(slot_score)(pred_GxNxW, run["dev"], run["n_dev"], run["dev_f"])
    used_G = (run["n_dev"] > 0).astype(jnp.float32)
    dev = jnp.sum(score_G * used_G) / jnp.maximum(used_G.sum(), 1.0)
    improved = dev > best_score
    best = jax.tree.map(lambda a, b: jnp.where(improved, a, b), p, best)
    finite = jnp.isfinite(loss_S).all() & jnp.all(jnp.stack(
        [jnp.isfinite(x).all() for x in jax.tree.leaves(p)]))
    out = {"loss": loss_S.sum() / run["steps"], "dev": dev, "improved": improved, "finite": finite}
    return p, opt, best, jnp.where(improved, dev, best_score), out

  def epoch(state, runs, frozen, pool, epoch_index):
    vmapped = jax.vmap(one_run, in_axes=(0, 0, 0, 0, 0, None, None, None),
                       spmd_axis_name=mesh_lib.DATA_AXIS if batch_sharded else None)
    p, opt, best, best_score, out = vmapped(state["params"], state["opt"], state["best"],
                                            state["best_score"], runs, frozen, pool, epoch_index)
    return {"params": p, "opt": opt, "best": best, "best_score": best_score}, out

  runs_sh, rep = run_sharding(mesh), mesh_lib.replicated(mesh)
  return jax.jit(epoch, in_shardings=(runs_sh, runs_sh, rep, rep, rep),
                 out_shardings=(runs_sh, rep), donate_argnums=(0,))


def run_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  """Leading run axis over `data`: independent runs, no communication between devices (on a
  `content_mesh` with batch shards, each run's state is replicated over its `batch` devices)."""
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(mesh_lib.DATA_AXIS))


BATCH_AXIS = "batch"  # second mesh axis of stage 2: one run's batch rows (data parallel)


def content_mesh(num_devices: int = 0, batch_shards: int = 1) -> jax.sharding.Mesh:
  """Devices as a (run shards x batch shards) grid, axes (`data`, `batch`): runs are split over
  `data`, each run's batch over `batch`. batch_shards=1 is the plain run-parallel mesh."""
  devices = jax.devices()[:num_devices] if num_devices else jax.devices()
  if batch_shards < 1 or len(devices) % batch_shards:
    raise ValueError(f"batch_shards={batch_shards} must divide the {len(devices)} devices")
  return jax.sharding.Mesh(np.asarray(devices).reshape(-1, batch_shards),
                           (mesh_lib.DATA_AXIS, BATCH_AXIS))


def run_shards_of(mesh: jax.sharding.Mesh) -> int:
  """Devices along the run axis: a group's run count is padded to a multiple of it."""
  return mesh.shape[mesh_lib.DATA_AXIS]


def batch_shards_of(mesh: jax.sharding.Mesh) -> int:
  return mesh.shape.get(BATCH_AXIS, 1)


def init_params(module: ContentEncoder, dim: int, keys_R):
  """Flax's default Dense init (kernels lecun-normal: truncated normal, variance 1/fan_in; biases
  zero) for every run, from ONE random call: a vmapped `module.init` compiles a random-number
  chain per layer, seconds each on CPU."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, dim)),
                                              deterministic=True)["params"])
  leaves, treedef = jax.tree.flatten(shapes)
  kernel_shapes = [l.shape for l in leaves if l.ndim == 2]
  draw = lambda k: layers.lecun_normal(jax.random.wrap_key_data(k), kernel_shapes)
  kernels_R = iter(jax.vmap(draw)(keys_R))
  out = [next(kernels_R) if l.ndim == 2 else jnp.zeros((keys_R.shape[0], *l.shape), l.dtype)
         for l in leaves]
  return jax.tree.unflatten(treedef, out)


def init_state(cfg: ContentConfig, module: ContentEncoder, dim: int, keys_R):
  tx = optimizer(cfg)
  params = init_params(module, dim, keys_R)
  return {"params": params, "opt": jax.vmap(tx.init)(params),
          "best": jax.tree.map(jnp.copy, params),  # own buffers: the state is donated
          "best_score": jnp.full(keys_R.shape[0], -jnp.inf, jnp.float32)}


# ------------------------------------------------------------------------------------ train a group

def _group_digest(cfg: ContentConfig, runs: Sequence[Run], arrays: dict, pool: Pool,
                  fingerprint: str) -> str:
  """What a group's checkpoint depends on: runs, data, stage 1, and every setting but `epochs`
  (a longer rerun resumes; a rerun with nothing left to train only re-evaluates)."""
  digest = hashlib.sha256(json.dumps(
      [[(r.name, r.seed) for r in runs], fingerprint, config_lib.to_dict(cfg.encoder),
       cfg.learning_rate, cfg.batch_size, cfg.augment, cfg.aug_weight]
      + ([cfg.weight_decay] if cfg.weight_decay else [])  # Adam runs keep their digest
      # the weighting changes Mlt runs only (a run of one dataset is the same either way)
      + (["examples"] if cfg.mlt_weighting == "examples" and any(r.condition == "Mlt" for r in runs) else [])
      + ([cfg.mlt_with_weight] if any(r.extra for r in runs) else [])  # the extra items are in `pool`
  ).encode())
  for array in (*pool.arrays.values(), arrays["train"], arrays["dev"]):
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()[:12]


def train_group(cfg: ContentConfig, runs: Sequence[Run], arrays: dict, device_pool: dict, frozen,
                module: ContentEncoder, packing: codec.Packing, dim: int, mesh,
                group_dir: pathlib.Path, bar: progress.Progress, done: int, epoch_fn=None):
  """Trains the (padded) runs of one group for cfg.epochs, resuming from the group's latest
  checkpoint; returns best params [R, ...], best dev scores [R] and the progress count."""
  R, max_steps = len(runs), int(arrays["steps"].max())
  epoch_fn = epoch_fn or make_epoch_fn(cfg, module, packing, mesh, arrays["dev"].shape[1], max_steps)
  runs_sh = run_sharding(mesh)
  device_runs = jax.device_put(arrays, runs_sh)
  keys = device_runs["key"]

  abstract = jax.eval_shape(lambda k: init_state(cfg, module, dim, k), keys)
  init = lambda: jax.jit(lambda k: init_state(cfg, module, dim, k), out_shardings=runs_sh)(keys)
  checkpoints, start, state = loop.resume_or_init(group_dir, init, runs_sh, abstract)  # says so on resume

  def where(e, host):
    bad = [runs[r].name + f" seed {runs[r].seed}" for r in np.flatnonzero(~host["finite"])[:3]]
    return f"epoch {e + 1} of {bad}"

  state, _ = loop.run(
      state, lambda state, e: epoch_fn(state, device_runs, frozen, device_pool, jnp.int32(e)),
      start=start, stop=cfg.epochs, checkpoints=checkpoints, checkpoint_every=cfg.checkpoint_every,
      on_metrics=lambda e, host: {"loss": float(host["loss"].mean()), "dev": float(host["dev"].mean()),
                                  "improved": int(host["improved"].sum())},
      where=where, progress=bar, per_index=R * max_steps)
  done += cfg.epochs * R * max_steps
  best, best_score = mesh_lib.to_host((state["best"], state["best_score"]))  # runs are sharded
  return best, best_score, done


# ------------------------------------------------------------------------------------- evaluation

def region_readout(cfg: ContentConfig, runs: Sequence[Run], best, stage1, region_fit, packing) -> dict:
  """`best` [R, ...] with every Sng and Aug encoder's output moved to the label region
  (`cfg.readout="region"`, `emojax.region`): the heads it was trained through (its format, and
  an Aug encoder's augmentation target) read what they read before, every other head the label
  region's regression on them. Bsl and Mlt encoders stay raw."""
  if cfg.readout == "raw":
    return best
  mu_E, cov_ExE = region_fit

  def trained(run: Run) -> tuple[str, ...]:
    if run.condition not in ("Sng", "Aug"):
      return ()
    own = [datasets.get_dataset(run.datasets[0]).format]
    return tuple(f for f in trained_formats(cfg.augment, run.condition, own) if f in packing.layout.formats)

  residual_RxExE = np.stack([region.residual(stage1, cov_ExE, trained(r)) for r in runs])
  return jax.vmap(region.fold_into_embed, in_axes=(0, None, 0))(best, mu_E, residual_RxExE)


def train_mapping_nets(cfg: ContentConfig, stage1, names: Sequence[str],
                       workdir: pathlib.Path | None = None) -> tuple[dict, dict]:
  """BsZ's per-direction nets A -> B on the stage-1 mapping pair of every sibling pair, all seeds
  in one call; returns {(pair, source format, seed): params} and their label-to-label test r."""
  pairs = datasets.sibling_pairs(names)
  if not pairs or "BsZ" not in cfg.conditions:
    return {}, {}
  data = [mapping_data.load_pair(p.name) for p in pairs]
  parts = {p: train_mapping.direction_arrays(stage1.packing, data, p) for p in splits.PARTS}
  _, test_SxDxW, best = baselines.train_baselines(
      stage1.config.codec, stage1.packing, parts["train"], parts["dev"], parts["test"], cfg.seeds,
      epochs=cfg.mapping_epochs, batch_size=cfg.mapping_batch_size, learning_rate=cfg.learning_rate,
      workdir=workdir)
  directions = train_mapping.directions_of(data)
  nets, scores = {}, {}
  for d_i, d in enumerate(directions):
    size = formats.get_format(d.target).size
    scores[d.name] = report.mean_sd([test_SxDxW[s, d_i, :size].mean() for s in range(len(cfg.seeds))])
    for s_i, seed in enumerate(cfg.seeds):
      nets[(d.pair, d.source, seed)] = jax.tree.map(lambda a: a[s_i, d_i], best)  # best: [S, D, ...]
  return nets, scores


def evaluate_group(runs: Sequence[Run], best, pool: Pool, device_x, frozen, module, packing,
                   siblings, nets: dict, stage1, conditions: Sequence[str]) -> list[dict]:
  """Scores of every target of every (real) run of a group: one vmapped call predicts them all,
  one more chains the Bsl outputs through their mapping nets (BsZ)."""
  targets = [targets_of(r, siblings, pool.format) for r in runs]
  T = max(len(t) for t in targets)
  rows = [[pool.rows(t.dataset, t.part) for t in ts] for ts in targets]
  N = max([len(r) for rs in rows for r in rs] + [1])
  rows_RxTxN = np.zeros((len(runs), T, N), np.int32)
  fmt_RxT = np.zeros((len(runs), T), np.int32)
  for r, (ts, rs) in enumerate(zip(targets, rows)):
    for t, (target, rr) in enumerate(zip(ts, rs)):
      rows_RxTxN[r, t, :len(rr)], fmt_RxT[r, t] = rr, packing.index(target.fmt)
  own_R = np.asarray([r.condition == "Bsl" for r in runs])
  predict_all = jax.jit(jax.vmap(make_predict(module, packing), in_axes=(0, None, None, 0, 0, 0)))
  take = lambda a: a[:len(runs)]  # the group's padding runs are not evaluated
  preds = np.asarray(predict_all(jax.tree.map(take, best), frozen, device_x, rows_RxTxN, fmt_RxT, own_R))

  pair_of = {(a, b): pair for a, sib in siblings.items() for b, pair in sib}
  records, chained = [], []
  for r, run in enumerate(runs):
    a = run.datasets[0]
    for t, (target, rr) in enumerate(zip(targets[r], rows[r])):
      record = {"condition": run.condition, "row": target.dataset, "seed": run.seed,
                "part": target.part, "format": target.fmt, "rows": rr, "pred": preds[r, t]}
      if target.kind != "fit":
        record |= {"condition": ZERO_SHOT_OF[run.condition], "row": f"{a}→{target.dataset}",
                   "format": pool.format[target.dataset]}
      if record["condition"] not in conditions:
        continue
      if target.kind == "chain":  # Bsl's format-A output on B's items -> mapping net A -> B
        width = formats.get_format(target.fmt).size
        record["pred"] = record["pred"] * (np.arange(packing.width) < width)
        chained.append((record, nets[(pair_of[(a, target.dataset)], target.fmt, run.seed)]))
      records.append(record)
  if chained:
    mapnet = baselines.baseline_module(stage1.config.codec, packing)
    apply = jax.jit(jax.vmap(lambda p, x: mapnet.apply({"params": p}, x, deterministic=True)))
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[net for _, net in chained])
    out = np.asarray(apply(stacked, np.stack([rec["pred"] for rec, _ in chained])))
    for (rec, _), pred in zip(chained, out):
      rec["pred"] = pred
  for rec in records:
    rr = rec.pop("rows")
    rec["scores"] = host_scores(formats.get_format(rec["format"]), rec.pop("pred")[:len(rr)],
                                pool.arrays["y"][rr]).tolist()
  return records


def vader_check(cfg: ContentConfig, data, encoders: dict[str, list], module, frozen, packing,
                cache) -> dict:
  """English VADER valence (entries not in the English dataset's training split) against the
  valence row of the VAD head on the English encoders' embeddings: Pearson r, mean ± sd over the
  encoders of each label of `encoders` (e.g. {"Sng": [seed 0, 1, 2], "exported": [one]})."""
  dataset = cfg.export.partition(":")[0]
  if dataset not in data or data[dataset].language != "en" or "vad" not in packing.layout.formats:
    return {"skipped": "needs an English dataset as `export` and a stage-1 model with format vad"}
  exclude = {w.lower() for w in splits.split_of(dataset)["train"]}
  vader = content_data.vader_set(cfg.vectors, cache, exclude)
  valence = formats.get_format("vad").variables.index("valence")
  head = jax.jit(lambda p, x: codec.decode(frozen, packing, packing.index("vad"),
                                           module.apply({"params": p}, x, deterministic=True)))
  out = {k: vader[k] for k in ("n", "total", "excluded", "oov")}
  for label, params in encoders.items():
    if params:
      out[label] = report.mean_sd([float(np.corrcoef(np.asarray(head(p, vader["x"]))[:, valence],
                                                   vader["valence"])[0, 1]) for p in params])
  return out


# ------------------------------------------------------------------------------------------ run

def check_config(cfg: ContentConfig) -> None:
  if cfg.modality not in MODALITIES:
    raise ValueError(f"modality must be one of {MODALITIES}, got {cfg.modality!r}")
  if cfg.modality not in ("words", "texts", "images"):
    raise NotImplementedError(f"stage 2 for {cfg.modality} is not implemented yet; only "
                              f"modality=words or texts (images will reuse this loop)")
  unknown = [c for c in cfg.conditions if c not in CONDITIONS]
  if unknown:
    raise ValueError(f"unknown conditions {unknown}; known: {list(CONDITIONS)}")
  for name in cfg.datasets:
    datasets.get_dataset(name, cfg.modality)
  readable = ("texts", "words") if cfg.modality == "texts" else (cfg.modality,)
  for name in cfg.mlt_with:
    if datasets.get_dataset(name).modality not in readable or name not in datasets.names():
      raise ValueError(f"mlt_with: {name!r} is not a stage-2 dataset a {cfg.modality} run reads "
                       f"(of modality {' or '.join(readable)})")
  both = sorted(set(cfg.mlt_with) & set(cfg.datasets) | {n for n in cfg.mlt_with if cfg.mlt_with.count(n) > 1})
  if both:
    raise ValueError(f"mlt_with: {both} named twice (or among the run's datasets already)")
  if cfg.mlt_with and "Mlt" not in cfg.conditions:
    raise ValueError(f"mlt_with={list(cfg.mlt_with)} adds training items to the Mlt encoders, but "
                     f"the conditions {list(cfg.conditions)} have no Mlt")
  if cfg.mlt_with and not mlt_groups(cfg.datasets):
    raise ValueError(f"mlt_with={list(cfg.mlt_with)}: the run trains no Mlt encoder to add them to "
                     f"(one is trained per group of datasets linked by a mapping pair; "
                     f"{list(cfg.datasets)} have none)")
  if cfg.grad_accum < 1 or cfg.batch_shards < 1 or cfg.batch_size % (cfg.grad_accum * cfg.batch_shards):
    raise ValueError(f"batch_size={cfg.batch_size} must split into grad_accum={cfg.grad_accum} "
                     f"micro-batches of rows divisible by batch_shards={cfg.batch_shards} "
                     f"(a multiple of {cfg.grad_accum * cfg.batch_shards})")
  if cfg.export and cfg.export.partition(":")[2] not in EXPORTABLE:
    raise ValueError(f"export={cfg.export!r} must be <dataset>:Sng, <dataset>:Aug or <dataset>:Mlt "
                     f"(an encoder into the shared space; Mlt: the one trained on that dataset's "
                     f"group), or empty")


def check_formats(cfg: ContentConfig, data, layout: formats.HeadLayout, stage1_path) -> None:
  augment = augment_map(cfg.augment)
  needed = {d.format for d in data.values()}
  if any(c in cfg.conditions for c in ("Aug", "AuZ")):
    missing_rule = sorted({d.format for d in data.values()} - set(augment))
    if missing_rule:
      raise ValueError(f"condition Aug needs an augment rule for formats {missing_rule}")
    needed |= {augment[f] for f in {d.format for d in data.values()}}
  absent = sorted(needed - set(layout.formats))
  if absent:
    raise ValueError(f"formats {absent} of the chosen datasets/augmentation are not in the stage-1 "
                     f"model at {stage1_path} (it has {list(layout.formats)}); train stage 1 on a "
                     f"pair with them, or choose other datasets")


@loop.releases_workdir
def run(cfg: ContentConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
        restart: bool = False) -> dict:
  """The whole stage-2 experiment of one modality: every dataset, condition and seed. `restart`:
  start over in a workdir that holds a run of another config (`loop.start_workdir`)."""
  t_start = time.perf_counter()
  phases = {}
  tick = lambda name, t0: phases.__setitem__(name, phases.get(name, 0.0) + time.perf_counter() - t0)
  check_config(cfg)
  workdir = pathlib.Path(workdir).resolve()
  mesh = content_mesh(cfg.num_devices, cfg.batch_shards)
  loop.start_workdir(workdir, cfg, stage="content", restart=restart)  # before features are cached there
  t0 = time.perf_counter()
  stage1, fingerprint = load_stage1(cfg.stage1)
  packing = stage1.packing
  cache = pathlib.Path(cfg.feature_cache) if cfg.feature_cache else workdir / "features"
  data = load_data(cfg, cache)
  check_formats(cfg, data, packing.layout, stage1.workdir)
  dim = next(iter(data.values())).dim
  scored = {n: d for n, d in data.items() if n not in cfg.mlt_with}  # the extras: training items only
  siblings = siblings_of(list(scored))
  pool = Pool(data, packing, stage1, augment_map(cfg.augment))
  frozen = mesh_lib.put_replicated(stage1.params, mesh)  # its own argument: never in the train state
  device_pool = mesh_lib.put_replicated(pool.arrays, mesh)
  module = encoder_module(cfg.encoder, stage1.config.codec.embedding_dim, packing.width)
  runs = plan_runs(cfg, data)
  n_train = [sum(len(data[n].items["train"]) for n in r.trains_on) for r in runs]
  steps = [-(-n // cfg.batch_size) for n in n_train]
  groups = plan_groups(steps, cfg.max_groups, run_shards_of(mesh))
  region_fit = region.fit(stage1) if cfg.readout == "region" else None
  tick("load stage 1, features, synthetic labels", t0)

  t0 = time.perf_counter()
  nets, net_scores = train_mapping_nets(cfg, stage1, list(scored), workdir / "mapping_nets")
  tick("BsZ mapping nets", t0)

  padded = lambda g: g + [g[-1]] * (-len(g) % run_shards_of(mesh))
  total = sum(len(padded(g)) * max(steps[i] for i in g) * cfg.epochs for g in groups)
  bar = progress.Progress(total, f"{cfg.modality} stage 2 ({len(runs)} encoders)",
                          enabled=show_progress and mesh_lib.is_writer())
  done, records, encoders, best_dev = 0, [], {}, {}
  export_name, _, export_cond = cfg.export.partition(":")
  for g_i, group in enumerate(groups):
    t0 = time.perf_counter()
    group_runs = [runs[i] for i in padded(group)]
    arrays = run_arrays(group_runs, pool, packing, cfg, max(len(r.trains_on) for r in group_runs))
    digest = _group_digest(cfg, group_runs, arrays, pool, fingerprint)
    best, best_score, done = train_group(cfg, group_runs, arrays, device_pool, frozen, module, packing,
                                         dim, mesh, workdir / "groups" / f"{g_i}-{digest}", bar, done)
    best = region_readout(cfg, group_runs, best, stage1, region_fit, packing)
    tick("train encoders", t0)
    t0 = time.perf_counter()
    real = group_runs[:len(group)]
    records += evaluate_group(real, best, pool, device_pool["x"], frozen, module, packing, siblings,
                              nets, stage1, cfg.conditions)
    for r, run_ in enumerate(real):
      best_dev[(run_.condition, run_.datasets, run_.seed)] = float(best_score[r])
      if run_.condition in EXPORTABLE and (run_.datasets == (export_name,) or (
          run_.condition == "Mlt" and export_name in run_.datasets)):
        encoders[(run_.condition, run_.datasets, run_.seed)] = jax.device_get(
            jax.tree.map(lambda a: a[r], best))
    tick("evaluate", t0)

  t0 = time.perf_counter()
  # The pretrained codec is recorded by name, as the shipped models record it: it loads wherever
  # the package is installed (`pretrained.locate`).
  recorded = cfg.stage1 if pretrained.is_name(cfg.stage1) else str(stage1.workdir)
  # results record the stage-1 model's config too (which codec a table was trained against); the
  # exported model.json keeps path and fingerprint only, as every model before it
  extra = {"stage1": {"path": recorded, "fingerprint": fingerprint,
                      "config": config_lib.to_dict(stage1.config), "seed": stage1.meta.get("seed")},
           "feature_dim": dim, "mapping_nets": net_scores}
  if cfg.mlt_with:
    extra["mlt_with"] = {n: {"format": data[n].format, "language": data[n].language,
                             "sizes": data[n].sizes(), "dropped": data[n].dropped} for n in cfg.mlt_with}
  if cfg.export:
    chosen = [k for k in encoders if k[0] == export_cond]
    if not chosen:
      raise ValueError(f"export={cfg.export!r}: no such run (is {export_name!r} among the datasets?)")
    key = max(chosen, key=lambda k: best_dev[k])
    params = exported_params(encoders[key])
    also = {"also_trained_on": list(cfg.mlt_with)} if export_cond == "Mlt" and cfg.mlt_with else {}
    # The formats of the data it was trained on: read without the datasets declared (own data).
    trained = list(dict.fromkeys(data[n].format for n in (*key[1], *also.get("also_trained_on", ()))))
    meta = {"modality": cfg.modality, "encoder": {"run": f"{export_cond}/{'+'.join(key[1])}", "seed": key[2],
                                                  "best_dev": best_dev[key], "formats": trained, **also},
            "feature": ({"kind": "image", "model": image_data.FEATURE_NAME, "dim": dim}
                        if cfg.modality == "images" else
                        text_data.feature_record(cfg.text_encoder, cfg.max_length, cfg.text_pooling, dim)
                        if cfg.modality == "texts" else
                        {"kind": "word_vectors", "vectors": cfg.vectors, "dim": dim}),
            "stage1": {"path": recorded, "fingerprint": fingerprint}}
    checkpoint.export_model(workdir, params, packing.layout, cfg, stage="content", seed=key[2],
                            extra=meta)
    extra["export"] = meta
    if mesh_lib.is_writer() and not all(datasets.is_bundled(n) for n in key[1]):
      write_own_calibration(workdir, cache)
  if cfg.vader and cfg.modality == "words":
    by_label = {c: [exported_params(p) for k, p in sorted(encoders.items()) if k[0] == c]
                for c in ("Sng", "Aug")}
    if cfg.export:
      by_label["exported"] = [params]
    extra["vader"] = vader_check(cfg, data, by_label, encoder_module(
        cfg.encoder, stage1.config.codec.embedding_dim), frozen, packing, cache)
  tick("export, VADER", t0)
  t0 = time.perf_counter()
  extra["ridge"] = ridge_rows(scored)
  tick("ridge probe", t0)
  extra["timing"] = {"wall_s": time.perf_counter() - t_start, "phases": phases,
                     "device": f"{mesh.size} x {jax.devices()[0].device_kind}",
                     "runs": len(runs), "groups": len(groups), "group_sizes": [len(g) for g in groups]}
  results = report.content_results(cfg, records, scored, siblings, mlt_groups(list(scored)), extra)
  if mesh_lib.is_writer():
    report.write(workdir, results, report.content_markdown(results) + ridge_markdown(results["ridge"]))
  return results


def write_own_calibration(workdir: pathlib.Path, cache) -> None:
  """calibration.json beside a model exported from the user's own data (`emojax.calibration`): a
  later process knows bundled data by name, the user's only while it is declared, as here. The
  model is already exported, so a failure here is a warning that says how to write it later."""
  model = api.load(workdir)
  if not any(calibration.is_emotion_format(f) for f in model.formats.values()):
    return
  try:
    calibration.write(model, cache_dir=cache)
  except Exception as err:  # noqa: BLE001 -- the training result stands; say what is missing
    warnings.warn(f"{workdir}: calibration.json not written ({type(err).__name__}: {err}); "
                  f"predict(..., calibrated=True) needs it: declare the data and run "
                  f"emojax.calibration.write(emojax.load({str(workdir)!r}))", stacklevel=2)


def ridge_rows(data: dict[str, content_data.ContentData]) -> dict:
  """The linear bar on the same features and split: `probe.ridge_probe` per regression dataset
  (penalty chosen on dev), test and dev mean r, and their means over the datasets."""
  rows = {}
  for name, d in data.items():
    if formats.get_format(d.format).kind != formats.REGRESSION or min(map(len, d.y.values())) < 2:
      continue
    r = probe.ridge_probe(d.x, d.y)
    rows[name] = {"test": r["test_mean"], "dev": r["dev_mean"], "alpha": r["alpha"]}
  out = {"rows": rows}
  if rows:
    out["mean"] = {p: float(np.mean([v[p] for v in rows.values()])) for p in ("test", "dev")}
  return out


def ridge_markdown(ridge: dict) -> str:
  if not ridge.get("rows"):
    return ""
  lines = ["", "", "Ridge probe on the same features and split (`emojax.probe.ridge_probe`: penalty "
           "chosen on dev, fitted on train), mean Pearson r over each dataset's variables:", "",
           "| dataset | ridge test | ridge dev | penalty |", "|---|---|---|---|"]
  lines += [f"| {n} | {v['test']:.3f} | {v['dev']:.3f} | {v['alpha']:g} |" for n, v in ridge["rows"].items()]
  lines.append(f"| **mean** | **{ridge['mean']['test']:.3f}** | {ridge['mean']['dev']:.3f} | |")
  return "\n".join(lines) + "\n"
