"""The GPU check of issue #7: stage-1 steps/s, text fine-tuning examples/s and MFU in bf16, image
fine-tuning images/s, written as one JSON file.

  bash benchmarks/gpu.sh check                                  # on a GPU machine: JSON in $OUT
  python benchmarks/bench_gpu.py --out=gpu.json [--peak-tflops=989]   # any platform
  python benchmarks/bench_gpu.py --smoke --out=/tmp/smoke.json        # tiny, CPU: what the test runs

Every number is one compiled function timed after warm-up calls (compile excluded), with
`block_until_ready`:
- stage 1: the compiled epoch of `emojax.train_mapping` (100 codec steps + dev evaluation per call;
  the same function as benchmarks/bench_mapping.py) over all bundled mapping datasets, batch 32;
  beside it, where torch with CUDA is installed, the PyTorch codec of bench_mapping_vs_torch.py
  (`torch_codec.py`, the authors' one-step-per-batch loop) on the same GPU, and the ratio;
- text fine-tuning: one `emojax.finetune` step of MiniLM-L6 + Dense 100 through a frozen head
  (AdamW), compute_dtype bf16 (parameters fp32) and fp32 for comparison, at several batch sizes,
  length 128, random token ids (speed does not depend on the tokens);
- image fine-tuning: one step of MobileNetV2 + Dropout + Dense 100 (SGD momentum) on BASS images at
  224 px, fp32 and bf16.
FLOPs per step come from XLA's cost analysis of the compiled step (forward + backward + update);
MFU = FLOPs / step time / the chip's dense bf16 peak (table below, matched on the device kind, or
--peak-tflops). For the text step a 6·N·tokens + attention estimate is reported beside it. The
pretrained weights are used where their packages are installed, else random weights of the same
shapes (recorded as "weights"; speed does not depend on the values). The JSON is rewritten after
every measurement, so a run stopped by a time limit still returns what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets; the first
# substring that occurs in jax's device_kind wins.
PEAK_BF16_TFLOPS = (
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),  # SXM / HBM3
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("A10G", 125.0),  # dense fp16/bf16 with fp32 accumulate is lower; this is the fp16-accumulate figure
)


def peak_tflops(device_kind: str, override: float | None) -> float | None:
  if override:
    return override
  for name, peak in PEAK_BF16_TFLOPS:
    if name.lower() in device_kind.lower():
      return peak
  return None


def compile_with_flops(jitted, *args):
  """The compiled executable (timed below: compiling once) and its FLOPs per call from XLA's cost
  analysis (None if the backend reports none)."""
  compiled = jitted.lower(*args).compile()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # older jax: one dict per computation
    cost = cost[0] if cost else {}
  flops = (cost or {}).get("flops")
  return compiled, (float(flops) if flops and flops > 0 else None)


def time_steps(step, state, frozen, batch, key, warmup: int, iters: int) -> tuple[float, object]:
  """Seconds per step after `warmup` steps; the state is donated."""
  import jax
  out = None
  for i in range(warmup):
    state, out = step(state, frozen, batch, jax.random.fold_in(key, i))
  jax.block_until_ready((state, out))
  t = time.perf_counter()
  for i in range(iters):
    state, out = step(state, frozen, batch, jax.random.fold_in(key, warmup + i))
  jax.block_until_ready((state, out))
  return (time.perf_counter() - t) / iters, state


def _heads(fmt: str):
  """An untrained stage-1 model's parameters and packing with the formats the steps need: the
  step's speed does not depend on the head values, and the check must not need a trained model."""
  import jax
  from emojax import codec, formats, train_mapping
  cfg = train_mapping.MappingConfig()
  packing = codec.Packing.of(formats.head_layout(["va", "vad", "be5"]))
  return codec.init_params(jax.random.key(0), cfg.codec, packing), packing, packing.index(fmt), cfg


def bench_stage1(args) -> dict:
  import jax
  from bench_mapping import compiled_epoch
  from emojax import train_mapping
  cfg = train_mapping.MappingConfig(eval_every=10, pairs=("de_vad_be5",)) if args.smoke else None
  epoch, state, train, dev, key, cfg = compiled_epoch(cfg)
  warmup, calls = (1, 1) if args.smoke else (3, 20)
  for _ in range(warmup):
    state, out = epoch(state, train, dev, key)
  jax.block_until_ready(out)
  t = time.perf_counter()
  for _ in range(calls):
    state, out = epoch(state, train, dev, key)
  jax.block_until_ready(out)
  wall = time.perf_counter() - t
  return {"steps_per_s": calls * cfg.eval_every / wall, "batch_size": cfg.batch_size,
          "steps_per_call": cfg.eval_every, "calls": calls,
          "note": "compiled epoch incl. dev evaluation of all directions"}


def torch_cuda_missing() -> str | None:
  """Why the PyTorch stage-1 reference cannot run on the GPU here, or None when it can."""
  try:
    import torch
  except ModuleNotFoundError:
    return "torch is not installed"
  return None if torch.cuda.is_available() else f"torch {torch.__version__} sees no CUDA device"


def bench_stage1_torch(args) -> dict:
  """The PyTorch codec of bench_mapping_vs_torch.py (benchmarks/torch_codec.py, the authors' loop:
  one Python-level step per batch) on the GPU, batch 32: what a user of their code would get there."""
  import torch
  import torch_codec
  trainer = torch_codec.Trainer(torch_codec.load_datasets(device="cuda"), batch_size=32)
  trainer.run(50)  # warm-up: CUDA context, cuBLAS handles, caching allocator
  steps, t = 0, time.perf_counter()
  while time.perf_counter() - t < args.torch_seconds or steps < 100:
    loss = trainer.run(25)  # float(loss) synchronises every 25 steps
    steps += 25
  wall = time.perf_counter() - t
  if loss != loss:
    raise FloatingPointError("PyTorch codec diverged")
  return {"steps_per_s": steps / wall, "batch_size": 32, "steps": steps, "torch": torch.__version__,
          "device": torch.cuda.get_device_name()}


def _finetune_step(forward, fmt: str, params, tx):
  import jax
  from emojax import finetune as ft, mesh as mesh_lib
  frozen, packing, f, _ = _heads(fmt)
  mesh = mesh_lib.make_mesh()
  loss_fn, _ = ft.make_loss(packing, "Sng", f, f, forward)
  state = ft.init_state(tx, params, mesh)
  return ft.make_step(tx, loss_fn, mesh), state, jax.device_put(frozen, mesh_lib.replicated(mesh)), packing, mesh


def bench_text(args, dtype_name: str, batch: int) -> dict:
  import jax
  import numpy as np
  import optax
  from emojax import finetune as ft, finetune_text
  from emojax.encoders import bert
  L = args.text_length
  if args.smoke:
    bcfg, weights = bert.BertConfig(hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                                    max_position=64), "random (smoke)"
    bparams = bert.init_params(jax.random.key(0), bcfg)
  else:
    try:
      bparams, bcfg = bert.load_model("minilm")
      weights = "all-MiniLM-L6-v2"
    except (ModuleNotFoundError, FileNotFoundError):
      bcfg, weights = bert.BertConfig(), "random, MiniLM-L6 shapes (package not installed)"
      bparams = bert.init_params(jax.random.key(0), bcfg)
  H, E = bcfg.hidden_size, 100
  k1 = jax.random.key(1)
  params = {"bert": bparams, "embed": ft.dense(k1, H, E)}
  forward = finetune_text.make_forward(bcfg, 0.1, ft.compute_dtype(dtype_name))
  step, state, frozen, packing, mesh = _finetune_step(forward, "vad", params, optax.adamw(1e-5, weight_decay=0.01))
  rng = np.random.default_rng(0)
  batch_arrays = {"ids": rng.integers(1000, bcfg.vocab_size, (batch, L)).astype(np.int32),
                  "mask": np.ones((batch, L), np.int32),
                  "y": packing.pad(rng.uniform(-1, 1, (batch, 3)).astype(np.float32))}
  key = jax.random.key(2)
  step, flops = compile_with_flops(step, state, frozen, batch_arrays, key)
  sec, _ = time_steps(step, state, frozen, batch_arrays, key, args.warmup, args.iters)
  n_layer = sum(x.size for x in jax.tree.leaves(bparams["layers"]))
  tokens = batch * L
  # 6 N D for the layer matmuls + attention scores and values (2 matmuls of L x L x H, x3 for backward).
  estimate = 6 * n_layer * tokens + 3 * 2 * 2 * batch * L * L * H * bcfg.num_layers
  return {"compute_dtype": dtype_name, "batch_size": batch, "length": L, "weights": weights,
          "s_per_step": sec, "examples_per_s": batch / sec, "tokens_per_s": tokens / sec,
          "flops_per_step_xla": flops, "flops_per_step_6ND": float(estimate)}


def bench_image(args, dtype_name: str, batch: int) -> dict:
  import jax
  import numpy as np
  import optax
  from emojax import finetune as ft, finetune_image, image_data
  from emojax.encoders import mobilenet
  try:
    folded, scales = mobilenet.load_mobilenet_params_and_scales()
    backbone, weights = finetune_image.backbone_of(folded), "torchvision ImageNet"
  except FileNotFoundError:
    backbone = finetune_image.backbone_of(mobilenet.init_params(jax.random.key(0)))
    scales, weights = finetune_image.unit_scales(backbone), "random, MobileNetV2 shapes (package not installed)"
  size = args.image_size
  files = sorted(image_data.IMAGE_DIR.glob("*.png"))[:batch]
  files = (files * (-(-batch // len(files))))[:batch]
  x = np.stack([mobilenet.preprocess(p, mobilenet.resize_size(size), size, normalize=False) for p in files])
  k1 = jax.random.key(1)
  params = {"backbone": finetune_image.to_trainable(backbone, scales), "embed": ft.dense(k1, image_data.FEATURE_DIM, 100)}
  forward = finetune_image.make_forward(0.5, True, ft.compute_dtype(dtype_name), scales)
  step, state, frozen, packing, mesh = _finetune_step(forward, "va", params, optax.sgd(1e-3, momentum=0.9))
  rng = np.random.default_rng(0)
  batch_arrays = {"x": x.astype(np.uint8), "y": packing.pad(rng.uniform(-1, 1, (batch, 2)).astype(np.float32))}
  key = jax.random.key(2)
  step, flops = compile_with_flops(step, state, frozen, batch_arrays, key)
  sec, _ = time_steps(step, state, frozen, batch_arrays, key, args.warmup, args.iters)
  return {"compute_dtype": dtype_name, "batch_size": batch, "image_size": size, "weights": weights,
          "s_per_step": sec, "images_per_s": batch / sec, "flops_per_step_xla": flops}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_bench.json"))
  p.add_argument("--smoke", action="store_true", help="tiny shapes, one step each: a CPU test")
  p.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak of the chip (TFLOP/s)")
  p.add_argument("--text-batches", default="32,256")
  p.add_argument("--image-batches", default="128")
  p.add_argument("--text-length", type=int, default=128)
  p.add_argument("--image-size", type=int, default=224)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--iters", type=int, default=20)
  p.add_argument("--skip", default="", help="comma-separated parts to skip: stage1,torch,text,image")
  p.add_argument("--torch-seconds", type=float, default=5.0, help="timing of the PyTorch stage-1 reference")
  p.add_argument("--dtypes", default="bfloat16,float32", help="compute dtypes of the fine-tuning steps")
  args = p.parse_args(argv)
  if args.smoke:
    args.text_batches, args.image_batches, args.text_length, args.image_size = "8", "8", 16, 32
    args.warmup, args.iters, args.dtypes = 1, 1, "bfloat16"
  import jax
  device = jax.devices()[0]
  peak = peak_tflops(device.device_kind, args.peak_tflops)
  report = {"device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
            "jax": jax.__version__, "python": platform.python_version(), "peak_bf16_tflops": peak,
            "smoke": args.smoke, "stage1": None, "stage1_torch": None, "text_finetune": [], "image_finetune": [], "errors": []}
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)

  def save():
    out.write_text(json.dumps(report, indent=1) + "\n")

  def mfu(row):
    for src, name in (("flops_per_step_xla", "mfu"), ("flops_per_step_6ND", "mfu_6ND")):
      flops = row.get(src)
      if src in row or name == "mfu":
        row[name] = flops / row["s_per_step"] / (peak * 1e12) if flops and peak else None
    return row

  skip = set(filter(None, args.skip.split(",")))
  jobs = [] if "stage1" in skip else [("stage1", lambda: bench_stage1(args))]
  if not {"stage1", "torch"} & skip and not args.smoke:
    if (why := torch_cuda_missing()) is None:
      jobs.append(("stage1_torch", lambda: bench_stage1_torch(args)))
    else:
      report["stage1_torch"] = f"not measured: {why}"
  dtypes = args.dtypes.split(",")
  text_batches, image_batches = (list(map(int, b.split(","))) for b in (args.text_batches, args.image_batches))
  if "text" not in skip:  # fp32 only at the largest batch: the comparison point for bf16
    jobs += [("text_finetune", lambda b=b, d=d: mfu(bench_text(args, d, b)))
             for d in dtypes for b in text_batches if d == "bfloat16" or b == max(text_batches)]
  if "image" not in skip:
    jobs += [("image_finetune", lambda b=b, d=d: mfu(bench_image(args, d, b)))
             for d in dtypes for b in image_batches]
  for part, job in jobs:
    t = time.perf_counter()
    try:
      row = job()
    except Exception as err:  # one failing part must not lose the others' numbers
      report["errors"].append(f"{part}: {type(err).__name__}: {str(err)[:500]}")
      print(f"{part}: FAILED {type(err).__name__}: {str(err)[:300]}", flush=True)
      save()
      continue
    row["wall_s_incl_compile"] = time.perf_counter() - t
    if part in ("stage1", "stage1_torch"):
      report[part] = row
      if part == "stage1_torch" and report["stage1"]:
        report["stage1_speedup_vs_torch"] = report["stage1"]["steps_per_s"] / row["steps_per_s"]
    else:
      report[part].append(row)
    print(f"{part}: {json.dumps(row)}", flush=True)
    save()
  save()
  print(f"wrote {out}")
  return report


if __name__ == "__main__":
  sys.exit(1 if main()["errors"] else 0)
