"""Stage-1 steps/s of two git revisions of emojax, alternating on this machine: did a change help?

  .venv/bin/python benchmarks/compare_revisions.py 785a1c1 HEAD [--rounds=6] [--cores=1|all]

Each revision's `emojax/` and `benchmarks/` are extracted with `git archive` into a temporary
directory; then, round after round, each runs the steady-state measurement of its own
`benchmarks/bench_mapping.py` (a fresh process: compile, warm up, time 3,000 steps of the compiled
epoch) in alternating order, so drifting load from other jobs hits both alike. `--cores=1` pins
every child to one core before JAX starts (its thread pool then has one thread). Prints each
revision's median steps/s and the median over rounds of the paired ratio B / A.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def extract(revision: str, into: pathlib.Path) -> pathlib.Path:
  into.mkdir(parents=True)
  archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "emojax", "benchmarks"],
                           capture_output=True, check=True).stdout
  subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
  return into


def steady_steps_per_s(tree: pathlib.Path, one_core: bool) -> float:
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
  pin = (lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_core else None
  out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_mapping.py"), "--child",
                        "steady"], env=env, capture_output=True, text=True, check=True,
                       preexec_fn=pin)
  return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


def main() -> None:
  p = argparse.ArgumentParser()
  p.add_argument("a")
  p.add_argument("b")
  p.add_argument("--rounds", type=int, default=6)
  p.add_argument("--cores", choices=("1", "all"), default="1")
  args = p.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    trees = {rev: extract(rev, pathlib.Path(tmp) / str(i)) for i, rev in enumerate((args.a, args.b))}
    rates = {rev: [] for rev in trees}
    for r in range(args.rounds):
      for rev in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
        rates[rev].append(steady_steps_per_s(trees[rev], args.cores == "1"))
      print(f"round {r + 1}: " + ", ".join(f"{rev} {v[-1]:,.0f}" for rev, v in rates.items()),
            flush=True)
  ratios = [b / a for a, b in zip(rates[args.a], rates[args.b])]
  print(f"\nstage-1 steps/s, batch 32, {'one core' if args.cores == '1' else 'all cores'}, "
        f"{args.rounds} alternating rounds, load {os.getloadavg()[0]:.2f} at the end:")
  for rev, v in rates.items():
    print(f"  {rev}: median {statistics.median(v):,.0f} (range {min(v):,.0f}–{max(v):,.0f})")
  print(f"  {args.b} / {args.a}: median paired ratio {statistics.median(ratios):.3f} "
        f"(range {min(ratios):.3f}–{max(ratios):.3f})")


if __name__ == "__main__":
  main()
