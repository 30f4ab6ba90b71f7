"""What XLA's deterministic GPU kernels cost in speed. The launchers ask for them
(`emojax.mesh.XLA_DEFAULTS`: XLA_FLAGS=--xla_gpu_deterministic_ops=true) because
fine-tuning was not reproducible without them (benchmarks/README.md, GPU table). This runs
benchmarks/bench_gpu.py in fresh processes (XLA reads its flags once per process), alternating
--xla_gpu_deterministic_ops=false and =true for --rounds rounds, and prints every measurement's
rate under both settings and their ratio (deterministic / default; < 1 = the kernels cost speed).

  python benchmarks/bench_deterministic_ops.py --out=$OUT [--rounds=2] [bench_gpu.py flags]
  bash benchmarks/gpu.sh deterministic-ops          # on a GPU machine (setup, then this script)

Writes <out>/deterministic_ops.json and each process's bench_gpu JSON. On a CPU the flag does
nothing, so the ratios there are run-to-run noise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

from check_determinism import GPU_KERNEL_SETTINGS as SETTINGS, env_with_xla_flags

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rates(report: dict) -> dict[str, float]:
  """Each measurement of one bench_gpu.py report by name: steps, examples or images per second."""
  out = {}
  if report.get("stage1"):
    out["stage 1, batch 32 (steps/s)"] = report["stage1"]["steps_per_s"]
  for row in report.get("text_finetune", []):
    out[f"text fine-tuning, {row['compute_dtype']}, batch {row['batch_size']} (examples/s)"] = row["examples_per_s"]
  for row in report.get("image_finetune", []):
    out[f"image fine-tuning, {row['compute_dtype']}, batch {row['batch_size']} (images/s)"] = row["images_per_s"]
  return out


def compare(reports: dict[str, list[dict]]) -> dict[str, dict]:
  """Per measurement: the rates of every round under each setting, and the ratio of the medians
  (deterministic / default). Measurements missing from a report (a failed part) are left out."""
  per_setting = {name: [rates(r) for r in runs] for name, runs in reports.items()}
  names = [n for n in rates(reports["xla_default_kernels"][0])
           if all(n in r for runs in per_setting.values() for r in runs)]
  table = {}
  for n in names:
    row = {name: [r[n] for r in runs] for name, runs in per_setting.items()}
    row["ratio"] = statistics.median(row["deterministic_ops"]) / statistics.median(row["xla_default_kernels"])
    table[n] = row
  return table


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default=os.environ.get("OUT", "/tmp/deterministic_ops"))
  p.add_argument("--rounds", type=int, default=1)
  args, bench_flags = p.parse_known_args(argv)
  out = pathlib.Path(args.out).resolve()
  out.mkdir(parents=True, exist_ok=True)
  reports = {name: [] for name in SETTINGS}
  for i in range(args.rounds):
    for name, flag in SETTINGS.items():
      env = env_with_xla_flags(flag, PYTHONUNBUFFERED="1")
      json_path = out / f"bench_gpu_{name}_{i}.json"
      print(f"round {i + 1}/{args.rounds}: {flag}", flush=True)
      subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), f"--out={json_path}", *bench_flags],
                     env=env, cwd=ROOT, check=False)
      if not json_path.exists():
        raise SystemExit(f"bench_gpu.py wrote nothing with {flag}")
      reports[name].append(json.loads(json_path.read_text()))
  table = compare(reports)
  report = {"device": reports["xla_default_kernels"][0]["device"], "rounds": args.rounds,
            "bench_flags": bench_flags, "measurements": table}
  (out / "deterministic_ops.json").write_text(json.dumps(report, indent=1) + "\n")
  print(f"\n{'measurement':60s} {'default':>10s} {'determ.':>10s} {'ratio':>6s}")
  for n, row in table.items():
    print(f"{n:60s} {statistics.median(row['xla_default_kernels']):10.0f} "
          f"{statistics.median(row['deterministic_ops']):10.0f} {row['ratio']:6.3f}")
  return report


if __name__ == "__main__":
  main()
