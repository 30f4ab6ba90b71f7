"""Stage-1 step variants tried and not kept, timed against the kept step: did any of them help?

  .venv/bin/python benchmarks/bench_step_variants.py [--rounds=3] [--variants=adam-torch,unroll-1]

Every measurement is a fresh process pinned to one core, with XLA_FLAGS holding only the
variant's options (XLA reads them when its backend starts) besides the launchers' defaults. It
times train steps of the compiled stage-1 epoch at batch 32 as `bench_step_floor.py` does (2,000
steps per call, one dev evaluation per call). Round after round, the kept step and
each variant run in turn, in an order that alternates, so that drifting load hits all alike;
prints each variant's median steps/s and its median paired ratio to the kept step of the same
round (above 1: faster). The variants change nothing in the library:
- `adam-torch`: Adam in PyTorch's arrangement. The step size lr / (1 - b1^t) and the square root
  of 1 - b2^t are scalars, so a parameter needs one division where optax's `adam` has three (both
  bias corrections and the update). The same update but for rounding.
- `unroll-1`, `unroll-4`: the epoch's `lax.scan` unrolled once or 4 times instead of
  `train_mapping.SCAN_UNROLL`.
- `ynn-off`: XLA's YNNPACK dot fusion off (`--xla_cpu_experimental_ynn_fusion_type=`).
- `xnnpack-on`: XLA's XNNPACK on (`--xla_cpu_use_xnnpack=true`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
XLA_FLAGS = {"ynn-off": "--xla_cpu_experimental_ynn_fusion_type=",
             "xnnpack-on": "--xla_cpu_use_xnnpack=true"}
VARIANTS = ("adam-torch", "unroll-1", "unroll-4", *XLA_FLAGS)
KEPT = "kept"


def torch_arranged_adam(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
  """`optax.adam` as `torch.optim.Adam` computes it: one division per parameter."""
  import jax
  import jax.numpy as jnp
  import optax

  def init(params):
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)
    return jnp.zeros((), jnp.int32), zeros(), zeros()

  def update(grads, state, params=None):
    del params
    count, mu, nu = state
    count = count + 1
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, nu, grads)
    t = count.astype(jnp.float32)
    step_size, root_correction = learning_rate / (1 - b1**t), jnp.sqrt(1 - b2**t)
    updates = jax.tree.map(lambda m, v: -step_size * m / (jnp.sqrt(v) / root_correction + eps), mu, nu)
    return updates, (count, mu, nu)

  return optax.GradientTransformation(init, update)


def _child(variant: str) -> None:
  """In a fresh process: applies `variant`, prints {"steps_per_s": ...} of the compiled epoch."""
  sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
  import jax
  import bench_mapping
  import bench_step_floor
  from emojax import train_mapping

  if variant == "adam-torch":
    train_mapping.make_optimizer = lambda cfg: torch_arranged_adam(cfg.learning_rate)
  elif variant.startswith("unroll-"):
    train_mapping.SCAN_UNROLL = int(variant.removeprefix("unroll-"))
  steps = bench_step_floor.TRAIN_STEPS_PER_CALL
  cfg = dataclasses.replace(train_mapping.MappingConfig(), eval_every=steps)
  epoch, state, train, dev, key, cfg = bench_mapping.compiled_epoch(cfg)
  for _ in range(2):  # compile and warm up
    state, out = epoch(state, train, dev, key)
  jax.block_until_ready(out)

  def run_epoch():
    nonlocal state, out
    state, out = epoch(state, train, dev, key)
    return out

  seconds = bench_step_floor.seconds_per_step(run_epoch, steps, 3.0)
  if not bool(out["finite"]):
    raise FloatingPointError(f"stage-1 step diverged in variant {variant}")
  print(json.dumps({"steps_per_s": 1.0 / seconds}))


def steps_per_s(variant: str) -> float:
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": XLA_FLAGS.get(variant, "")}
  pin = lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
  out = subprocess.run([sys.executable, __file__, "--child", variant], env=env,
                       capture_output=True, text=True, preexec_fn=pin)
  if out.returncode:
    raise SystemExit(f"variant {variant} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--variants", default=",".join(VARIANTS))
  args = p.parse_args()
  variants = args.variants.split(",")
  if unknown := sorted(set(variants) - set(VARIANTS)):
    raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
  order = [KEPT, *variants]
  rates = {v: [] for v in order}
  for r in range(args.rounds):
    for v in (order if r % 2 == 0 else order[::-1]):
      rates[v].append(steps_per_s(v))
    print(f"round {r + 1}: " + ", ".join(f"{v} {x[-1]:,.0f}" for v, x in rates.items()), flush=True)
  print(f"\nstage-1 train steps/s, batch 32, one core, {args.rounds} alternating rounds, "
        f"load {os.getloadavg()[0]:.2f} at the end:")
  print("| variant | median steps/s | paired ratio to kept: median (each round) |\n|---|---|---|")
  for v, x in rates.items():
    ratios = [a / b for a, b in zip(x, rates[KEPT])]
    print(f"| {v} | {statistics.median(x):,.0f} | {statistics.median(ratios):.2f} "
          f"({', '.join(f'{q:.2f}' for q in ratios)}) |")


if __name__ == "__main__":
  if "--child" in sys.argv:
    _child(sys.argv[sys.argv.index("--child") + 1])
  else:
    main()
