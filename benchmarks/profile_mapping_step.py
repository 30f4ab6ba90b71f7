"""Where a stage-1 step's CPU time goes: XLA kernel times from a `jax.profiler` trace, by kind.

  .venv/bin/python benchmarks/profile_mapping_step.py [--calls=5] [--top=15]
  taskset -c 0 .venv/bin/python benchmarks/profile_mapping_step.py      # one core, as measured

Traces `--calls` compiled epochs (100 steps each, the function `bench_mapping.py` times) after
warm-up and sums the durations of the XLA:CPU kernels the trace records, by kind: matrix
multiplies (XLA's own `dot` and YNNPACK `ynn_fusion` kernels), the optimizer (the loop fusions
XLA names `multiply_add_fusion` are Adam's updates), and everything else (small elementwise and
reduction fusions, slices, copies). Per step, in microseconds of kernel time (the profiler adds
about a microsecond to each kernel, so the total is above the untraced step time); `--top` lists
the most expensive kernels with their op names.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import jax  # noqa: E402
from jax._src.lib import _profile_data  # noqa: E402  (jaxlib's reader of the trace it writes)

import bench_mapping  # noqa: E402


def kind_of(kernel: str) -> str:
  if kernel.startswith(("dot", "ynn_fusion")):
    return "matmul"
  if kernel.startswith("multiply_add_fusion"):
    return "optimizer (Adam)"
  return "other"


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("--calls", type=int, default=5)
  p.add_argument("--top", type=int, default=15)
  args = p.parse_args()
  epoch, state, train, dev, key, cfg = bench_mapping.compiled_epoch()
  for _ in range(3):  # compile and warm up outside the trace
    state, out = epoch(state, train, dev, key)
  jax.block_until_ready(out)
  with tempfile.TemporaryDirectory() as tmp:
    with jax.profiler.trace(tmp):
      for _ in range(args.calls):
        state, out = epoch(state, train, dev, key)
      jax.block_until_ready(out)
    trace = next(pathlib.Path(tmp).rglob("*.xplane.pb"))
    profile = _profile_data.ProfileData.from_file(str(trace))
  total_ns, count = collections.Counter(), collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      if "XLAEigen" not in line.name:  # the threads that run XLA's kernels
        continue
      for event in line.events:
        if event.name.startswith(("ThunkExecutor", "while", "end:")):
          continue  # containers and completion markers, not kernels
        total_ns[event.name] += event.duration_ns
        count[event.name] += 1
  steps = args.calls * cfg.eval_every
  by_kind = collections.Counter()
  for name, ns in total_ns.items():
    by_kind[kind_of(name)] += ns
  all_ns = sum(by_kind.values())
  print(f"Stage-1 step, batch {cfg.batch_size}, {steps} steps traced: "
        f"{all_ns / steps / 1e3:.0f} us of kernel time per step, "
        f"{sum(count.values()) / steps:.0f} kernels per step\n")
  print("| kind | us/step | share |\n|---|---|---|")
  for kind, ns in by_kind.most_common():
    print(f"| {kind} | {ns / steps / 1e3:.0f} | {ns / all_ns:.0%} |")
  print(f"\nTop {args.top} kernels (us per step, runs per step):")
  for name, ns in total_ns.most_common(args.top):
    print(f"  {ns / steps / 1e3:6.1f}  {count[name] / steps:4.1f}x  {name}")


if __name__ == "__main__":
  main()
