"""Compile time at each LLVM optimisation level of XLA's CPU backend: why the test suite sets one.

  .venv/bin/python benchmarks/bench_compile_level.py [--levels=0,1,3] [--rounds=2]

Most of the test suite's time is XLA compiling small programs (tests/conftest.py, README "Tests").
This compiles two of them — the tiny BERT of the tests, forward pass with dropout, and its
AdamW training step — each in a fresh process per level (`XLA_FLAGS=--xla_backend_optimization_level=N`,
so nothing is cached), alternating the levels over rounds, and prints the median seconds and each
level's speed-up over XLA's default (3).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORKLOADS = ("forward", "train_step")


def compile_seconds(workload: str) -> float:
  """Seconds to compile `workload` in this process (lowering excluded)."""
  import jax
  import jax.numpy as jnp
  import optax
  from emojax.encoders import bert
  cfg = bert.BertConfig(hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64, max_position=64)
  params = bert.init_params(jax.random.key(0), cfg)
  ids = mask = jnp.ones((8, 8), jnp.int32)

  def loss(p, key):
    h = bert.bert_forward(p, ids, mask, config=cfg, dropout_rng=key, deterministic=False)
    return jnp.mean(bert.mean_pool(h, mask) ** 2)

  tx = optax.adamw(1e-3, weight_decay=0.01)

  def train_step(p, opt, key):
    updates, opt = tx.update(jax.grad(loss)(p, key), opt, p)
    return optax.apply_updates(p, updates), opt

  fn, args = {"forward": (loss, (params, jax.random.key(1))),
              "train_step": (train_step, (params, tx.init(params), jax.random.key(1)))}[workload]
  lowered = jax.jit(fn).lower(*args)
  t = time.perf_counter()
  lowered.compile()
  return time.perf_counter() - t


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--levels", default="0,1,3")
  p.add_argument("--rounds", type=int, default=2)
  p.add_argument("--child", default=None, help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    print(json.dumps({w: compile_seconds(w) for w in WORKLOADS}))
    return
  levels = [int(x) for x in args.levels.split(",")]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  seconds = {lv: {w: [] for w in WORKLOADS} for lv in levels}
  for r in range(args.rounds):
    for lv in levels:
      env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": root,
             "XLA_FLAGS": f"--xla_backend_optimization_level={lv}"}
      out = subprocess.run([sys.executable, __file__, "--child=1"], env=env, capture_output=True,
                           text=True, check=True)
      for w, s in json.loads(out.stdout.strip().splitlines()[-1]).items():
        seconds[lv][w].append(s)
      print(f"round {r + 1}, level {lv}: " + ", ".join(f"{w} {seconds[lv][w][-1]:.2f} s" for w in WORKLOADS),
            flush=True)
  base = {w: statistics.median(seconds[3][w]) for w in WORKLOADS} if 3 in levels else None
  print("\n| level | " + " | ".join(f"{w} (s)" for w in WORKLOADS) + " |")
  print("|---|" + "---|" * len(WORKLOADS))
  for lv in levels:
    cells = []
    for w in WORKLOADS:
      m = statistics.median(seconds[lv][w])
      cells.append(f"{m:.2f}" + (f" ({base[w] / m:.1f}× faster than 3)" if base and lv != 3 else ""))
    print(f"| {lv} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()
