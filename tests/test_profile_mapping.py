"""The stage-1 profile script (benchmarks/profile_mapping_step.py) reads jaxlib's trace format, a
private API that may change with a jax upgrade: run it once, as a user would (one CPU device, its
own process), so a break shows up here rather than in the README's numbers."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_profile_finds_matmuls_and_adam():
  env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
  run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_mapping_step.py"),
                        "--calls=1", "--top=3"], env=env, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  shares = {kind: int(pct) for kind, pct in re.findall(r"^\| ([^|]+?) \| \d+ \| (\d+)% \|$",
                                                       run.stdout, re.M)}
  assert set(shares) == {"matmul", "optimizer (Adam)", "other"}, run.stdout
  assert 98 <= sum(shares.values()) <= 102
  # A step is dozens of small matmuls and one Adam update of every parameter: both must be seen.
  assert shares["matmul"] >= 20 and shares["optimizer (Adam)"] >= 2, run.stdout
