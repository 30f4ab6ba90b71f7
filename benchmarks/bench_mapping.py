"""Stage-1 speed on this machine: codec steps/s, 10,000-step wall times, whole launcher wall time.

  .venv/bin/python benchmarks/bench_mapping.py            # prints a table; --json=PATH saves it

Measures, each in a fresh process so compile costs are real:
1. steady-state codec steps/s of the compiled epoch (100 steps + dev evaluation per call),
   after warm-up, over all bundled mapping datasets at the paper's batch size 32;
2. the paper's schedule (10,000 steps, dev evaluation every 100) end to end, including the cold
   compile, with an empty persistent compilation cache, then again with it warm;
3. the whole default `python launch/mapping.py` process (imports, data, codec, per-direction
   baselines, results, Orbax checkpoints), with the compilation cache warm.
The authors' PyTorch code needs about 70 s for the 10,000 steps on this machine (~150 steps/s).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
AUTHORS_STEPS_PER_S = 150.0  # measured on this machine by the author (10,000 steps ~ 70 s)


def compiled_epoch(cfg=None):
  """The stage-1 training "epoch" (eval_every steps + dev evaluation, one compiled call) over all
  bundled mapping datasets, with its initial state and data on the devices: (epoch, state, train,
  dev, key, cfg). `benchmarks/bench_gpu.py` measures the same function."""
  if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
  import jax
  from emojax import mapping_data, mesh as mesh_lib, train_mapping
  mesh_lib.ask_xla_defaults()  # the launchers' XLA options (read when the backend starts, next)
  cfg = cfg or train_mapping.MappingConfig()
  pairs = [mapping_data.load_pair(p) for p in cfg.pairs]
  mesh = mesh_lib.make_mesh()
  packing = train_mapping.packing_of(cfg, pairs)
  rep = mesh_lib.replicated(mesh)
  train = jax.device_put(train_mapping.train_arrays(packing, pairs), rep)
  dev = jax.device_put(train_mapping.direction_arrays(packing, pairs, "dev"), rep)
  init = jax.jit(lambda k: train_mapping.init_state(k, cfg, packing), out_shardings=rep)
  state = init(jax.random.key(0))
  return train_mapping.make_epoch_fn(cfg, packing, mesh), state, train, dev, jax.random.key(1), cfg


def _child(mode: str) -> None:
  """Runs inside a subprocess; prints one JSON line."""
  start = time.perf_counter()
  import jax
  epoch, state, train, dev, key, cfg = compiled_epoch()
  t0 = time.perf_counter()
  if mode == "steady":
    for _ in range(3):  # warm-up, includes compile
      state, out = epoch(state, train, dev, key)
    jax.block_until_ready(out)
    t1, c1 = time.perf_counter(), time.process_time()
    calls = 30
    for _ in range(calls):
      state, out = epoch(state, train, dev, key)
    jax.block_until_ready(out)
    wall = time.perf_counter() - t1
    print(json.dumps({"steps_per_s": calls * cfg.eval_every / wall,
                      "cpu_steps_per_s": calls * cfg.eval_every / (time.process_time() - c1)}))
  else:
    outs = []
    for _ in range(cfg.epochs):
      state, out = epoch(state, train, dev, key)
      outs.append(out["dev"])
    jax.block_until_ready(outs)
    print(json.dumps({"train_s": time.perf_counter() - t0, "process_s": time.perf_counter() - start}))


def _run_child(mode: str, cache: str) -> dict:
  # JAX reads its config flags from JAX_* environment variables at import.
  env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache, "JAX_PLATFORMS": "cpu",
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5"}
  out = subprocess.run([sys.executable, __file__, "--child", mode], env=env,
                       capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--json", default=None)
  args = p.parse_args()
  with tempfile.TemporaryDirectory() as cache:
    steady = _run_child("steady", cache + "/unused")
    cold = _run_child("schedule", cache)
    warm = _run_child("schedule", cache)
    with tempfile.TemporaryDirectory() as workdir:
      env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache}
      cmd = [sys.executable, str(ROOT / "launch" / "mapping.py"), f"--workdir={workdir}"]
      subprocess.run(cmd, env=env, check=True, capture_output=True)  # fills the cache
      t = time.perf_counter()
      subprocess.run(cmd, env=env, check=True, capture_output=True)
      launcher_s = time.perf_counter() - t
  load = os.getloadavg()[0]
  rows = [
      ("codec steps/s, steady state (wall)", f"{steady['steps_per_s']:,.0f}",
       f"{steady['steps_per_s'] / AUTHORS_STEPS_PER_S:.1f}x the authors' ~150"),
      ("codec steps/s, steady state (CPU time)", f"{steady['cpu_steps_per_s']:,.0f}", ""),
      ("10,000 steps + 100 dev evals, cold compile", f"{cold['train_s']:.1f} s",
       f"process incl. imports {cold['process_s']:.1f} s"),
      ("10,000 steps + 100 dev evals, warm compilation cache", f"{warm['train_s']:.1f} s",
       f"process incl. imports {warm['process_s']:.1f} s"),
      ("whole `python launch/mapping.py` (warm cache)", f"{launcher_s:.1f} s",
       "codec + per-direction baselines + results + checkpoints"),
  ]
  print(f"| measurement | value | note |\n|---|---|---|")
  for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} |")
  print(f"\n(load average when finished: {load:.2f} on {os.cpu_count()} cores)")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(
        {"steady": steady, "cold": cold, "warm": warm, "launcher_s": launcher_s, "load": load}, indent=2))


if __name__ == "__main__":
  if "--child" in sys.argv:
    _child(sys.argv[sys.argv.index("--child") + 1])
  else:
    main()
