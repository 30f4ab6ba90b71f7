"""How close the stage-1 step is to what this CPU core allows: our step against its own floor.

  PYTHONPATH=. ~/benchenv/bin/python benchmarks/bench_step_floor.py [--rounds=3]   # with PyTorch
  .venv/bin/python benchmarks/bench_step_floor.py                                     # without

Pins itself to one core (and OpenBLAS to one thread) before numpy or JAX start, then measures,
in alternating rounds so that load from other processes hits all three alike:
1. ours: train steps/s of the compiled stage-1 epoch at the paper's batch 32 (2,000 steps per
   call, one dev evaluation per call, as `bench_mapping_vs_torch.py` "train steps");
2. the step's matrix multiplies alone, twice: in OpenBLAS through numpy (numpy's per-call
   overhead of ~1 us is left in) and compiled by XLA alone in a `lax.scan` (XLA's own small-GEMM
   kernels, which beat OpenBLAS on these shapes on some hosts); every GEMM of one step, the
   shapes derived from the model's parameter shapes (forward, weight gradient and input gradient
   of each Dense layer of the two encoders a step uses, the heads' matmul and its two gradients);
3. the step's Adam update alone: `optax.adam` on a pytree of the model's parameter shapes, in a
   compiled `lax.scan` (XLA fuses it into one loop per leaf; a sqrt and three divisions per
   parameter, two of them by the bias corrections).
Two reference rates put the floor in context: OpenBLAS on one large GEMM (512^3, near this
core's peak) and numpy's square root over as many floats as the model has parameters (Adam needs
one per parameter per step, and it is the costliest operation of the update).
4. where torch is importable (the benchmark environment of `bench_mapping_vs_torch.py`), the
   PyTorch codec of that benchmark at batch 32, one thread, in the same rounds.
The floor, the faster GEMMs of (2) plus (3), is the step's unavoidable work done at library
speed: what an implementation cannot go below on this core without dropping work, changing its
arithmetic, or writing GEMM and Adam kernels that beat the best of OpenBLAS and XLA and XLA's
fused loop on these shapes. The rest of our step is losses, dropout, gathers and per-kernel
overhead. With (4) measured alongside, the floor bounds the ratio over PyTorch under the same
load: PyTorch's time per step / floor.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import sys
import time

if __name__ == "__main__":  # (not when a test imports `step_gemms`)
  # Before numpy and jax are imported: their thread pools size themselves to the affinity.
  os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
  os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import bench_mapping  # noqa: E402
from emojax import codec, mapping_data, train_mapping  # noqa: E402

TRAIN_STEPS_PER_CALL = 2000
ADAM_STEPS_PER_CALL = 1000


def step_gemms(params, cfg: train_mapping.MappingConfig, packing: codec.Packing) -> list[tuple]:
  """(m, k, n) of every matrix multiply of one stage-1 step: the two encoders' Dense layers
  (forward, weight gradient; input gradient except for the first layer, whose input is data) and
  the heads (both embeddings through both formats' head rows, and its two gradients)."""
  B, E, W = cfg.batch_size, cfg.codec.embedding_dim, packing.width
  encoder = codec.encoder_of(params, 0)
  gemms = []
  for _ in range(2):  # encoder A and encoder B
    for i, layer in enumerate(sorted(encoder)):
      d_in, d_out = encoder[layer]["kernel"].shape
      gemms += [(B, d_in, d_out), (d_in, B, d_out)] + ([(B, d_out, d_in)] if i else [])
  gemms += [(2 * B, E, 2 * W), (2 * B, 2 * W, E), (2 * W, 2 * B, E)]
  return gemms


def time_gemms(gemms, seconds: float) -> float:
  """Seconds per step for the step's GEMMs in OpenBLAS (one thread), best of a few repeats."""
  rng = np.random.default_rng(0)
  operands = [(rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32))
              for m, k, n in gemms]
  reps = max(1, int(seconds / 5 / 3e-4))
  best = float("inf")
  for _ in range(5):
    t = time.perf_counter()
    for _ in range(reps):
      for a, b in operands:
        np.matmul(a, b)
    best = min(best, (time.perf_counter() - t) / reps)
  return best


def make_gemm_loop(gemms, steps: int):
  """Compiled: `steps` rounds of the step's GEMMs in XLA alone (its own kernels, as in our step).
  Each left operand is shifted by a loop-carried scalar that every product feeds, so that no
  product is loop-invariant and hoisted out of the loop; the shifts are elementwise work on the
  small operands, left in (generous to the floor, like numpy's call overhead above)."""
  rng = np.random.default_rng(0)
  operands = [(jnp.asarray(rng.standard_normal((m, k), np.float32)),
               jnp.asarray(rng.standard_normal((k, n), np.float32))) for m, k, n in gemms]

  def loop(operands):
    def body(carry, _):
      total = carry
      for a, b in operands:
        total = total + jnp.dot(a + carry, b)[0, 0]
      return total * 1e-30, None
    return jax.lax.scan(body, jnp.zeros((), jnp.float32), None, length=steps, unroll=2)[0]

  return jax.jit(loop), operands


def seconds_per_step(call, steps_per_call: int, seconds: float) -> float:
  """Wall seconds per step of `call` (a compiled call of `steps_per_call` steps), repeated for at
  least `seconds` and twice."""
  t, calls = time.perf_counter(), 0
  while time.perf_counter() - t < seconds or calls < 2:
    jax.block_until_ready(call())
    calls += 1
  return (time.perf_counter() - t) / (calls * steps_per_call)


def reference_rates(n_params: int) -> dict:
  """OpenBLAS GFLOP/s on one 512^3 GEMM, and µs for numpy's sqrt over n_params float32s."""
  rng = np.random.default_rng(0)
  a, b = rng.standard_normal((2, 512, 512), np.float32)
  x = rng.random(n_params, np.float32) + 0.1
  y = np.empty_like(x)
  best_gemm = best_sqrt = float("inf")
  for _ in range(5):
    t = time.perf_counter()
    for _ in range(10):
      a @ b
    best_gemm = min(best_gemm, (time.perf_counter() - t) / 10)
    t = time.perf_counter()
    for _ in range(200):
      np.sqrt(x, out=y)
    best_sqrt = min(best_sqrt, (time.perf_counter() - t) / 200)
  return {"gemm_512_gflops": 2 * 512**3 / best_gemm / 1e9, "sqrt_us": best_sqrt * 1e6}


def make_adam_loop(params, steps: int):
  """Compiled: `steps` optax.adam updates of `params` (the gradient varies per step, as it does)."""
  tx = optax.adam(1e-3)

  def loop(params, opt, grads):
    def body(carry, i):
      params, opt = carry
      g = jax.tree.map(lambda x: x * (1.0 + 1e-3 * i.astype(x.dtype)), grads)
      updates, opt = tx.update(g, opt, params)
      return (optax.apply_updates(params, updates), opt), None
    (params, opt), _ = jax.lax.scan(body, (params, opt), jnp.arange(steps), unroll=2)
    return params, opt

  return jax.jit(loop, donate_argnums=(0, 1)), tx.init(params)


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--seconds", type=float, default=3.0)
  p.add_argument("--json", default=None)
  args = p.parse_args()

  cfg = dataclasses.replace(train_mapping.MappingConfig(), eval_every=TRAIN_STEPS_PER_CALL)
  epoch, state, train, dev, key, cfg = bench_mapping.compiled_epoch(cfg)
  packing = train_mapping.packing_of(cfg, [mapping_data.load_pair(p) for p in cfg.pairs])
  gemms = step_gemms(state["params"], cfg, packing)
  flops = sum(2 * m * k * n for m, k, n in gemms)
  n_params = sum(x.size for x in jax.tree.leaves(state["params"]))
  gemm_loop, gemm_operands = make_gemm_loop(gemms, ADAM_STEPS_PER_CALL)
  adam_loop, opt = make_adam_loop(jax.tree.map(jnp.copy, state["params"]), ADAM_STEPS_PER_CALL)
  grads = jax.tree.map(lambda x: jnp.full_like(x, 1e-2), state["params"])
  params_adam = jax.tree.map(jnp.copy, state["params"])
  try:
    import torch
    from bench_mapping_vs_torch import TorchRunner
    import torch_codec
    torch_runner = TorchRunner(cfg.batch_size, torch_codec.load_datasets(), threads=1)
  except ImportError:
    torch, torch_runner = None, None
  for _ in range(2):  # compile and warm up
    state, out = epoch(state, train, dev, key)
    params_adam, opt = adam_loop(params_adam, opt, grads)
  jax.block_until_ready((out, params_adam, gemm_loop(gemm_operands)))

  def run_epoch():
    nonlocal state, out
    state, out = epoch(state, train, dev, key)
    return out

  def run_adam():
    nonlocal params_adam, opt
    params_adam, opt = adam_loop(params_adam, opt, grads)
    return params_adam

  ours, gemm, xla_gemm, adam, torch_s = [], [], [], [], []
  for _ in range(args.rounds):
    if torch_runner is not None:
      torch_s.append(1.0 / torch_runner.measure(args.seconds)[0])
    ours.append(seconds_per_step(run_epoch, TRAIN_STEPS_PER_CALL, args.seconds))
    gemm.append(time_gemms(gemms, args.seconds))
    xla_gemm.append(seconds_per_step(lambda: gemm_loop(gemm_operands), ADAM_STEPS_PER_CALL, args.seconds))
    adam.append(seconds_per_step(run_adam, ADAM_STEPS_PER_CALL, args.seconds))
  if not bool(out["finite"]):
    raise FloatingPointError("stage-1 step diverged")

  reference = reference_rates(n_params)
  us = lambda xs: statistics.median(xs) * 1e6
  floor = min(us(gemm), us(xla_gemm)) + us(adam)
  print(f"Stage-1 step at batch {cfg.batch_size} on one core, median of {args.rounds} alternating "
        f"rounds (range in brackets), µs per step:\n")
  print("| part | µs/step | rate |\n|---|---|---|")
  print(f"| ours, whole train step (compiled epoch) | {us(ours):.0f} ({min(ours)*1e6:.0f}–"
        f"{max(ours)*1e6:.0f}) | {1e6 / us(ours):,.0f} steps/s |")
  print(f"| floor: the step's {len(gemms)} GEMMs in OpenBLAS ({flops / 1e6:.1f} MFLOP) | "
        f"{us(gemm):.0f} ({min(gemm)*1e6:.0f}–{max(gemm)*1e6:.0f}) | {flops / us(gemm) / 1e3:.0f} GFLOP/s |")
  print(f"| floor: the same GEMMs compiled by XLA alone | {us(xla_gemm):.0f} ({min(xla_gemm)*1e6:.0f}–"
        f"{max(xla_gemm)*1e6:.0f}) | {flops / us(xla_gemm) / 1e3:.0f} GFLOP/s |")
  print(f"| floor: Adam update of {n_params:,} parameters | {us(adam):.0f} ({min(adam)*1e6:.0f}–"
        f"{max(adam)*1e6:.0f}) | {n_params / us(adam) / 1e3:.2f} G params/s |")
  print(f"| floor, the faster GEMMs + Adam | {floor:.0f} | at most {1e6 / floor:,.0f} steps/s |")
  if torch_s:
    print(f"| PyTorch {torch.__version__.split('+')[0]}, 1 thread (`torch_codec.py`) | {us(torch_s):.0f} "
          f"({min(torch_s)*1e6:.0f}–{max(torch_s)*1e6:.0f}) | {1e6 / us(torch_s):,.0f} steps/s |")
  print(f"\nReference rates, best of 5: OpenBLAS on one 512x512x512 GEMM "
        f"{reference['gemm_512_gflops']:.0f} GFLOP/s; numpy sqrt over {n_params:,} float32s "
        f"{reference['sqrt_us']:.0f} µs.")
  print(f"Our step spends {floor / us(ours):.0%} of its time doing the floor's work: with every "
        f"other cost removed, an implementation of this step would be at most "
        f"{us(ours) / floor:.2f}x faster than ours on this core, unless its GEMMs beat both OpenBLAS "
        f"and XLA's or its Adam beats XLA's fused loop.")
  if torch_s:
    print(f"Ours over PyTorch: {us(torch_s) / us(ours):.1f}x; at the floor, under the same load: "
          f"{us(torch_s) / floor:.1f}x. 10x needs <= {us(torch_s) / 10:.0f} µs per step.")
  print(f"Load average at end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}; jax {jax.__version__}.")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(
        {"ours_s": ours, "gemm_s": gemm, "xla_gemm_s": xla_gemm, "adam_s": adam, "gemms": gemms,
         "flops": flops, "params": n_params, "torch_s": torch_s, **reference,
         "load_end": os.getloadavg()}, indent=2))


if __name__ == "__main__":
  main()
