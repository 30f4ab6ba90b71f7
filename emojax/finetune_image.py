"""Stage 2 for images, mode (b): full fine-tuning of MobileNetV2 into the frozen emotion space.

The paper's image encoder: backbone -> Dropout 0.5 -> Dense 100 -> frozen stage-1 head of the
dataset's format (Sng), plus the synthetic-label term VA -> BE5 (Aug), or its own output layer
(Bsl); Mlt is Sng on both BASS rater tables at once. SGD 1e-3, momentum 0.9, best dev epoch.
The paper gives no decay schedule; we use the step decay of the torchvision fine-tuning recipe
that this optimizer setting comes from: x0.1 every 7 epochs, 25 epochs. Every backbone weight is
trained; the stage-1 parameters are a separate replicated jit argument, never in the optimizer
state; the step is `jax.jit` with the batch sharded over the mesh's `data` axis (`emojax.finetune`,
shared with texts). Random horizontal flips augment the training images.

BatchNorm: frozen running statistics, on purpose. The port folds each BatchNorm (ImageNet running
mean/var and its scale/shift) into the preceding convolution. Batch statistics would be computed
over 32 / devices images (4 per device on 8 devices) of black-and-white silhouettes, far from the
ImageNet statistics the weights expect, and would differ between training and inference; frozen
statistics keep train and eval the same function. SGD must not step on the folded weights, though:
a folded weight is torchvision's weight times its channel's BN scale s = gamma / sqrt(var + eps)
(0.02 to 107 in these weights), so a plain SGD step on it moves the network as a step 1/s^2 times
the size would move PyTorch's frozen-BN network: up to ~1900x too far. So the optimizer sees the
unfolded weights w / s (torchvision's own conv weights; the folded bias is BN's shift, which
PyTorch trains too; gamma stays frozen) and the forward pass folds them back: `to_trainable` /
`to_folded` with `mobilenet.batchnorm_scales`. And the new Dense 100 (Bsl: its own layer too)
starts at zero: a random one makes the first predictions wildly wrong (losses 2-5 against a
label variance of 0.13), and without BatchNorm's batch statistics to re-centre them, those first
large errors drive the ReLU6 activations dead. With both as before (`train_folded_weights=true`,
`zero_init_head=false`), a few recipe steps collapsed the pooled features and every run predicted
the label mean (docs/results.md, images; `tests/test_finetune_image.py` checks the difference).

Images are decoded and resized once (torchvision's eval transform at `image_size`) and cached as
uint8 pixels; normalisation runs on the device. Its config is configs/images_finetune.py, which
`launch/content.py --modality=images` picks on GPU/TPU (`image_mode=features|finetune` overrides):

  python launch/content.py --config=configs/images_finetune.py --accelerator=gpu   # all conditions, 3 seeds
  python launch/content.py --config=configs/images_finetune.py --accelerator=cpu conditions=Sng seeds=0 \
      max_steps=60 export=bass_us_va:Sng --workdir=/tmp/images_ft     # a CPU demonstration
Writes runs/<condition>_<dataset>_s<seed>/ (config.json, metrics.jsonl, results.json), results.json
and results.md (test r per condition and rater table, mean ± sd over seeds), and exports the best-dev
seed of `export` (backbone + Dense 100, with the stage-1 fingerprint): `emojax.load(workdir).predict(
images, formats=...)` runs the fine-tuned network.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import conditions, content_data, datasets, finetune as ft, formats, image_data, loop, mesh as mesh_lib, report
from emojax import splits
from emojax import train_content
from emojax.content_model import backbone_of
from emojax.encoders import mobilenet
from emojax.run_configs import FinetuneImageConfig

CONDITIONS = conditions.TRAINED
FEATURE_KIND = "mobilenet_finetuned"  # model.json feature kind that `emojax.load` reads as this model
MODES = ("features", "finetune")


def default_mode() -> str:
  """Frozen cached features on CPU (fine-tuning is hours there), fine-tuning on GPU/TPU."""
  return "features" if jax.default_backend() == "cpu" else "finetune"


def pop_mode(overrides: list[str]) -> tuple[str, list[str]]:
  """Takes `image_mode=features|finetune` out of launcher overrides (default: by platform)."""
  mode, rest = default_mode(), []
  for o in overrides:
    name, _, value = o.partition("=")
    if name.strip() == "image_mode":
      if value.strip() not in MODES:
        raise ValueError(f"image_mode must be one of {MODES}, got {value.strip()!r}")
      mode = value.strip()
    else:
      rest.append(o)
  return mode, rest


def check_config(cfg: FinetuneImageConfig) -> None:
  for name in cfg.datasets:
    datasets.get_dataset(name, "images")
  unknown = [c for c in cfg.conditions if c not in CONDITIONS]
  if unknown:
    raise ValueError(f"unknown condition(s) {unknown}; image fine-tuning runs {CONDITIONS}")
  if cfg.export:
    dataset, _, cond = cfg.export.partition(":")
    if cond not in ("Sng", "Aug", "Mlt") or cond not in cfg.conditions or dataset not in cfg.datasets:
      raise ValueError(f"export={cfg.export!r} must name a run of this config as <dataset>:<Sng|Aug|Mlt> "
                       f"(datasets {list(cfg.datasets)}, conditions {list(cfg.conditions)}), or be empty")
  ft.compute_dtype(cfg.compute_dtype)


def load_pixels(cfg: FinetuneImageConfig, cache_dir) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
  """The (subset) split and every image of it as uint8 pixels, image_size^2 x 3, cached by content."""
  split = image_data.subset(splits.split_of(cfg.datasets[0]), cfg.max_items)
  names = [k for p in splits.PARTS for k in split[p]]
  paths = [image_data.IMAGE_DIR / k for k in names]
  size = mobilenet.resize_size(cfg.image_size)
  key = ["pixels", size, cfg.image_size, [(p.name, image_data._sha256(p)) for p in paths]]
  compute = lambda: {"x": np.stack([mobilenet.preprocess(p, size, cfg.image_size, normalize=False)
                                    for p in paths]).astype(np.uint8)}
  x = content_data.cached_features(cache_dir, f"bass.pixels{cfg.image_size}", key, compute)["x"]
  return split, dict(zip(names, x))


def _rows(names: tuple[str, ...], part: str, split, pixels) -> dict[str, np.ndarray]:
  """Images and labels of `part`, rater tables stacked (Mlt: each image once per table)."""
  xs, ys = [], []
  for name in names:
    keys, y_NxV = image_data.image_labels(name)
    row = {k: i for i, k in enumerate(keys)}
    xs.append(np.stack([pixels[k] for k in split[part]]))
    ys.append(y_NxV[[row[k] for k in split[part]]])
  return {"x": np.concatenate(xs), "y": np.concatenate(ys).astype(np.float32)}


def to_trainable(backbone, scales):
  """Folded conv weights -> the weights SGD steps on: divided by their channel's BatchNorm scale
  (torchvision's own conv weights); biases unchanged."""
  return jax.tree.map(lambda a, s: a / s, backbone, scales)


def to_folded(trainable, scales):
  """The inverse of `to_trainable`: the weights `mobilenet.mobilenet_forward` computes with."""
  return jax.tree.map(lambda a, s: a * s, trainable, scales)


def unit_scales(backbone):
  """Scales that make `to_trainable` the identity (random backbones, `train_folded_weights`)."""
  return jax.tree.map(lambda a: jnp.ones(a.shape[-1:] if a.ndim > 1 else (), a.dtype), backbone)


def make_forward(dropout_rate: float, flip: bool, dtype=jnp.float32, scales=None):
  """uint8 pixels -> ImageNet normalisation -> (flip) -> MobileNetV2 pooled features -> dropout
  -> Dense 100 (and Bsl's own layer). bf16 `dtype`: the backbone computes in bf16 from fp32 params.
  `scales`: p["backbone"] holds `to_trainable` weights, folded here (None: already folded)."""
  def forward(p, inputs, rng):
    x = mobilenet.normalize_pixels(inputs["x"].astype(jnp.float32))
    if rng is not None and flip:
      flip_B = jax.random.bernoulli(jax.random.fold_in(rng, 2), 0.5, (x.shape[0],))
      x = jnp.where(flip_B[:, None, None, None], x[:, :, ::-1], x)
    backbone = p["backbone"] if scales is None else to_folded(p["backbone"], scales)
    h = mobilenet.mobilenet_forward(ft.cast_floats(backbone, dtype), x.astype(dtype))
    rng = None if rng is None else jax.random.fold_in(rng, 1)
    return ft.head_outputs(p, ft.dropout(h.astype(jnp.float32), dropout_rate, rng))
  return forward


def train_one(cfg: FinetuneImageConfig, condition: str, names: tuple[str, ...], seed: int,
              workdir: pathlib.Path, split, pixels, *, backbone, scales, show_progress: bool = True) -> dict:
  """One fine-tuning run from the folded `backbone` (not modified) with its BatchNorm `scales`;
  returns results incl. "best_params" (folded) and the per-table test r of the best-dev state."""
  run_cfg = dataclasses.replace(cfg, conditions=(condition,), datasets=names, seeds=(seed,))
  table = datasets.get_dataset(names[0])
  heads = ft.prepare_heads(cfg.stage1, table.format, "Sng" if condition == "Mlt" else condition)
  mesh = mesh_lib.make_mesh(cfg.num_devices or None)
  mesh_lib.check_batch_divides(cfg.batch_size, mesh)
  packing, fmt = heads.packing, heads.fmt
  train = _rows(names, "train", split, pixels)
  train["y"] = packing.pad(train["y"])
  if condition == "Aug":
    y = train["y"][:, :fmt.size]
    train["ya"] = packing.pad(train_content.synthetic_labels(heads.stage1, fmt.name, heads.aug_format, y))
  evals = {part: {n: _rows((n,), part, split, pixels) for n in names} for part in ("dev", "test")}

  k_embed, k_own, k_train = jax.random.split(jax.random.key(seed), 3)
  if cfg.train_folded_weights:
    scales = unit_scales(backbone)
  params = {"backbone": to_trainable(backbone, scales),
            **ft.head_params(k_embed, k_own, image_data.FEATURE_DIM, heads, condition, zero=cfg.zero_init_head)}
  per_epoch = max(len(train["y"]) // cfg.batch_size, 1)
  schedule = optax.exponential_decay(cfg.learning_rate, cfg.lr_decay_epochs * per_epoch, cfg.lr_decay,
                                     staircase=True)
  tx = optax.sgd(schedule, momentum=cfg.momentum)
  state = ft.init_state(tx, params, mesh)
  rep, batch_sh = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)
  frozen = mesh_lib.put_replicated(heads.stage1.params, mesh)
  loss_fn, predict = ft.make_loss(packing, "Sng" if condition == "Mlt" else condition, heads.f, heads.fa,
                                  make_forward(cfg.dropout, cfg.flip, ft.compute_dtype(cfg.compute_dtype), scales))
  step_fn = ft.make_step(tx, loss_fn, mesh)
  eval_fn = jax.jit(lambda p, fr, inputs: predict(p, fr, inputs)[0],
                    in_shardings=(rep, rep, batch_sh), out_shardings=rep)

  def scores(p, part: str) -> dict[str, list[float]]:
    out = {}
    for name, rows in evals[part].items():
      preds = [np.asarray(eval_fn(p, frozen, inputs))[:m, :fmt.size]
               for inputs, m in ft.padded_batches({"x": rows["x"]}, cfg.eval_batch_size, mesh)]
      out[name] = [float(r) for r in train_content.host_scores(fmt, np.concatenate(preds), rows["y"])[:fmt.size]]
    return out

  dev_r = lambda p: float(np.mean([np.mean(r) for r in scores(p, "dev").values()]))
  run_dir = workdir / "runs" / f"{condition}_{'+'.join(names)}_s{seed}"
  results, best = ft.train_loop(run_cfg, run_dir, title=f"fine-tune {condition}/{'+'.join(names)}/s{seed}",
                                step_fn=step_fn, state=state, frozen=frozen, train=train, dev_r=dev_r,
                                key=k_train, mesh=mesh, seed=seed, show_progress=show_progress)
  results.update(condition=condition, datasets=list(names), seed=seed, test=scores(best, "test"),
                 variables=list(fmt.variables),
                 stage1={"path": str(heads.stage1.workdir), "fingerprint": heads.fingerprint})
  ft.write_results(run_dir, results)
  results["best_params"] = {**best, "backbone": jax.device_get(to_folded(best["backbone"], scales))}
  results["heads"] = heads
  return results


def plan(cfg: FinetuneImageConfig) -> list[tuple[str, tuple[str, ...]]]:
  """(condition, rater tables) of every run per seed; Mlt trains one encoder on all tables."""
  out = []
  for cond in cfg.conditions:
    if cond == "Mlt":
      out += [(cond, tuple(cfg.datasets))] if len(cfg.datasets) > 1 else []
    else:
      out += [(cond, (name,)) for name in cfg.datasets]
  return out


@loop.releases_workdir
def run(cfg: FinetuneImageConfig, workdir: str | pathlib.Path, *, backbone=None,
        show_progress: bool = True, restart: bool = False) -> dict:
  """Every planned run for every seed; results.json/.md; the export's best-dev seed exported.
  `backbone` (folded, unit BatchNorm scales) replaces the pretrained MobileNetV2 (speed
  measurements without the package). `restart`: start over in a workdir that holds a run of
  another config (`loop.start_workdir`)."""
  check_config(cfg)
  workdir = loop.start_workdir(workdir, cfg, stage="content", restart=restart)
  if backbone is None:
    params, scales = mobilenet.load_mobilenet_params_and_scales()
    backbone = backbone_of(params)
  else:
    scales = unit_scales(backbone)
  split, pixels = load_pixels(cfg, pathlib.Path(cfg.image_cache or workdir / "features"))
  records, exported = [], None
  export_dataset, _, export_cond = cfg.export.partition(":")
  for seed in cfg.seeds:
    for cond, names in plan(cfg):
      out = train_one(cfg, cond, names, seed, workdir, split, pixels, backbone=backbone, scales=scales,
                      show_progress=show_progress)
      records.append({k: out[k] for k in ("condition", "datasets", "seed", "test", "best_dev_r", "steps",
                                          "first_loss", "last_loss", "s_per_step", "device")})
      is_export = cond == export_cond and export_dataset in names
      if is_export and (exported is None or out["best_dev_r"] > exported["best_dev_r"]):
        exported = out
  results = {"config": dataclasses.asdict(cfg), "runs": records,
             "table": report.image_finetune_table(records, cfg.conditions, cfg.datasets),
             "variables": list(formats.get_format(datasets.get_dataset(cfg.datasets[0]).format).variables),
             "split": {p: len(v) for p, v in split.items()}}
  if exported is not None:
    best = exported["best_params"]
    feature = {"kind": FEATURE_KIND, "image_size": cfg.image_size, "dim": image_data.FEATURE_DIM}
    results["export"] = ft.export(workdir, cfg, {"backbone": best["backbone"], "embed": best["embed"]},
                                  exported["heads"], modality="images", seed=exported["seed"],
                                  run=f"{cfg.export} seed {exported['seed']}",
                                  best_r=exported["best_dev_r"], feature=feature)
  if mesh_lib.is_writer():
    (workdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (workdir / "results.md").write_text(report.image_finetune_markdown(results))
  return results
