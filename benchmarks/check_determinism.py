"""Same seed, same config, same machine: bit-identical results? Runs a launcher several times at
once (one process each, same seed and overrides) and compares what they wrote. On a GPU it runs
both settings of XLA_FLAGS=--xla_gpu_deterministic_ops: true (what the launchers ask for,
`emojax.mesh.XLA_DEFAULTS`) and false (XLA's own default, whose kernels may
reduce in a different order from run to run).

  --stage=mapping (default): `launch/mapping.py` (seed 0, no baselines); the exported parameters
      are compared leaf by leaf.
  --stage=images: configs/images_finetune.py (Sng on the US raters, seed 0, no export);
  --stage=texts: configs/texts_finetune.py (Sng on EmoBank, seed 0, no export): for both, every
      step's loss and dev r (metrics.jsonl) and the test r are compared.

  python benchmarks/check_determinism.py --accelerator=cpu --out=/tmp/det steps=200
  python benchmarks/check_determinism.py --accelerator=gpu --out=$OUT       # default config, seed 0
  python benchmarks/check_determinism.py --accelerator=gpu --stage=images --out=$OUT max_steps=60
  python benchmarks/check_determinism.py --accelerator=gpu --stage=texts --out=$OUT max_steps=600

Writes <out>/determinism.json: per variant, whether every run equals the first bit for bit, and
the largest difference (parameters, or losses) and each run's test mean r.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compare_mapping(dirs: list[pathlib.Path]) -> dict:
  """Exported stage-1 parameters, leaf by leaf."""
  import jax
  import numpy as np
  import emojax
  params = [[np.asarray(a) for a in jax.tree.leaves(emojax.load(d).params)] for d in dirs]
  equal = all(np.array_equal(a, b) for other in params[1:] for a, b in zip(params[0], other))
  diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for other in params[1:]
             for a, b in zip(params[0], other))
  test_r = [json.loads((d / "results.json").read_text())["codec"]["test"]["mean"]["mean"] for d in dirs]
  return {"bit_identical": equal, "max_abs_param_diff": diff, "test_mean_r": test_r}


def compare_finetuning(dirs: list[pathlib.Path]) -> dict:
  """Every step's loss and dev r of every run (metrics.jsonl), and every run's test r: a list of r
  per variable (texts) or a {dataset: that list} (images)."""
  import numpy as np

  def metrics(d):
    return {run.name: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            for run in sorted((d / "runs").iterdir())}

  runs = [metrics(d) for d in dirs]
  tests = [[r["test"] for r in json.loads((d / "results.json").read_text())["runs"]] for d in dirs]
  losses = [np.asarray([rec["loss"] for name in sorted(r) for rec in r[name]]) for r in runs]

  def mean_r(test):
    return np.mean([np.mean(v) for v in test.values()]) if isinstance(test, dict) else np.mean(test)

  return {"bit_identical": all(r == runs[0] for r in runs) and all(t == tests[0] for t in tests),
          "max_abs_loss_diff": max(float(np.max(np.abs(x - losses[0]))) for x in losses),
          "steps": len(losses[0]),
          "test_mean_r": [float(np.mean([mean_r(test) for test in t])) for t in tests]}


# Both settings of XLA's GPU kernel choice, named as the reports name them (also used by
# bench_deterministic_ops.py, which times them).
GPU_KERNEL_SETTINGS = {"xla_default_kernels": "--xla_gpu_deterministic_ops=false",
                       "deterministic_ops": "--xla_gpu_deterministic_ops=true"}


def env_with_xla_flags(flags: str, **extra) -> dict:
  """This process's environment with `flags` appended to XLA_FLAGS (read by a child's XLA once)."""
  return dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(), **extra)


COMMANDS = {"mapping": ("launch/mapping.py", "baseline_epochs=0"),
            "images": ("launch/content.py", "--config=configs/images_finetune.py", "conditions=Sng",
                       "datasets=bass_us_va", "export="),
            "texts": ("launch/content.py", "--config=configs/texts_finetune.py", "conditions=Sng",
                      "datasets=emobank_vad", "export=")}
COMPARE = {"mapping": compare_mapping, "images": compare_finetuning, "texts": compare_finetuning}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default="cpu")
  p.add_argument("--out", default="/tmp/determinism")
  p.add_argument("--stage", choices=tuple(COMMANDS), default="mapping")
  p.add_argument("--runs", type=int, default=2)
  p.add_argument("--mem-fraction", default=".2", help="XLA_PYTHON_CLIENT_MEM_FRACTION of each GPU run")
  args, overrides = p.parse_known_args(argv)
  out = pathlib.Path(args.out).resolve()
  variants = {"default": ""}
  if args.accelerator == "gpu":  # both settings explicit: the launchers ask for deterministic ops
    variants = GPU_KERNEL_SETTINGS
  out.mkdir(parents=True, exist_ok=True)
  procs, t0 = {}, time.perf_counter()
  for name, flags in variants.items():
    for i in range(args.runs):
      env = env_with_xla_flags(flags, XLA_PYTHON_CLIENT_MEM_FRACTION=args.mem_fraction, PYTHONUNBUFFERED="1")
      workdir = out / f"{name}_{i}"
      log = open(out / f"{name}_{i}.log", "w")
      cmd = [sys.executable, str(ROOT / COMMANDS[args.stage][0]), f"--accelerator={args.accelerator}",
             "--seeds=0", f"--workdir={workdir}", *COMMANDS[args.stage][1:], *overrides]
      procs[(name, i)] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), workdir)
  failed = {f"{n}_{i}": p.wait() for (n, i), (p, _) in procs.items()}
  failed = {k: rc for k, rc in failed.items() if rc}
  if failed:
    raise SystemExit(f"runs failed (exit codes {failed}); logs in {out}")
  os.environ["JAX_PLATFORMS"] = "cpu"  # comparing needs no accelerator
  report = {"accelerator": args.accelerator, "stage": args.stage, "overrides": overrides,
            "runs": args.runs, "wall_s": round(time.perf_counter() - t0, 1), "variants": {}}
  for name in variants:
    dirs = [procs[(name, i)][1] for i in range(args.runs)]
    report["variants"][name] = {"xla_flags": variants[name], **COMPARE[args.stage](dirs)}
    print(f"{name}: {report['variants'][name]}")
  (out / "determinism.json").write_text(json.dumps(report, indent=1) + "\n")
  return report


if __name__ == "__main__":
  main()
