"""Same seed, same config, same machine: does stage 1 give bit-identical parameters? Runs
`launch/mapping.py` several times at once (one process each, same seed and overrides) and compares
the exported parameters leaf by leaf. On a GPU it also runs the variant with
XLA_FLAGS=--xla_gpu_deterministic_ops=true, since XLA may otherwise pick non-deterministic
kernels (scatter-adds, reductions with atomics).

  python benchmarks/check_determinism.py --accelerator=cpu --out=/tmp/det steps=200
  python benchmarks/check_determinism.py --accelerator=gpu --out=$OUT       # default config, seed 0

Writes <out>/determinism.json: per variant, whether every run equals the first bit for bit, the
largest absolute parameter difference, and each run's test mean r.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default="cpu")
  p.add_argument("--out", default="/tmp/determinism")
  p.add_argument("--runs", type=int, default=2)
  p.add_argument("--mem-fraction", default=".2", help="XLA_PYTHON_CLIENT_MEM_FRACTION of each GPU run")
  args, overrides = p.parse_known_args(argv)
  out = pathlib.Path(args.out).resolve()
  variants = {"default": ""}
  if args.accelerator == "gpu":
    variants["deterministic_ops"] = "--xla_gpu_deterministic_ops=true"
  out.mkdir(parents=True, exist_ok=True)
  procs, t0 = {}, time.perf_counter()
  for name, flags in variants.items():
    for i in range(args.runs):
      env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(),
                 XLA_PYTHON_CLIENT_MEM_FRACTION=args.mem_fraction, PYTHONUNBUFFERED="1")
      workdir = out / f"{name}_{i}"
      log = open(out / f"{name}_{i}.log", "w")
      cmd = [sys.executable, str(ROOT / "launch" / "mapping.py"), f"--accelerator={args.accelerator}",
             "--seeds=0", f"--workdir={workdir}", "baseline_epochs=0", *overrides]
      procs[(name, i)] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), workdir)
  failed = {f"{n}_{i}": p.wait() for (n, i), (p, _) in procs.items()}
  failed = {k: rc for k, rc in failed.items() if rc}
  if failed:
    raise SystemExit(f"runs failed (exit codes {failed}); logs in {out}")
  os.environ["JAX_PLATFORMS"] = "cpu"  # comparing needs no accelerator
  import jax
  import numpy as np
  import emojax
  report = {"accelerator": args.accelerator, "overrides": overrides, "runs": args.runs,
            "wall_s": round(time.perf_counter() - t0, 1), "variants": {}}
  for name in variants:
    dirs = [procs[(name, i)][1] for i in range(args.runs)]
    params = [jax.tree.leaves(emojax.load(d).params) for d in dirs]
    diffs = [max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                 for a, b in zip(params[0], other)) for other in params[1:]]
    equal = [all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(params[0], other))
             for other in params[1:]]
    test_r = [json.loads((d / "results.json").read_text())["codec"]["test"]["mean"]["mean"] for d in dirs]
    report["variants"][name] = {"xla_flags": variants[name], "bit_identical": all(equal),
                                "max_abs_param_diff": max(diffs), "test_mean_r": test_r}
    print(f"{name}: bit-identical {all(equal)}, max |Δparam| {max(diffs):.3g}, test mean r {test_r}")
  (out / "determinism.json").write_text(json.dumps(report, indent=1) + "\n")
  return report


if __name__ == "__main__":
  main()
