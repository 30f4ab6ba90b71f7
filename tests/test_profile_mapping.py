"""The stage-1 profile script (benchmarks/profile_mapping_step.py) reads jaxlib's trace format, a
private API that may change with a jax upgrade: run it once, as a user would (one CPU device, its
own process), so a break shows up here rather than in the README's numbers. And the floor that
bench_step_floor.py times must be the step's own matmuls."""

import re
import subprocess
import sys

import jax
import numpy as np

from conftest import ROOT, one_device_env


def test_profile_finds_matmuls_and_adam():
  env = one_device_env(XLA_FLAGS="")  # the profile users get: XLA's default optimisation level
  run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_mapping_step.py"),
                        "--calls=1", "--top=3"], env=env, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  shares = {kind: int(pct) for kind, pct in re.findall(r"^\| ([^|]+?) \| \d+ \| (\d+)% \|$",
                                                       run.stdout, re.M)}
  assert set(shares) == {"matmul", "optimizer (Adam)", "other"}, run.stdout
  assert 98 <= sum(shares.values()) <= 102
  # A step is dozens of small matmuls and one Adam update of every parameter: both must be seen.
  assert shares["matmul"] >= 20 and shares["optimizer (Adam)"] >= 2, run.stdout


def _scan_dots(jaxpr, inside_scan=False):
  """(k, smaller, larger) of every dot_general inside a scan of `jaxpr` (k: contracted size)."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general" and inside_scan:
      (contract_lhs, _), _ = eqn.params["dimension_numbers"]
      lhs, rhs = (v.aval.shape for v in eqn.invars)
      k = int(np.prod([lhs[i] for i in contract_lhs]))
      m, n = int(np.prod(lhs)) // k, int(np.prod(rhs)) // k
      found.append((k, min(m, n), max(m, n)))
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        sub = getattr(sub, "jaxpr", sub)
        if hasattr(sub, "eqns"):
          found += _scan_dots(sub, inside_scan or eqn.primitive.name == "scan")
  return found


def test_floor_gemms_are_the_steps_matmuls():
  """bench_step_floor.py times a list of GEMMs it derives from parameter shapes: it must be
  exactly the matmuls of the compiled stage-1 train step (the scan body of the epoch)."""
  sys.path.insert(0, str(ROOT / "benchmarks"))
  import bench_mapping
  import bench_step_floor
  from emojax import mapping_data, train_mapping

  epoch, state, train, dev, key, cfg = bench_mapping.compiled_epoch()
  packing = train_mapping.packing_of(cfg, [mapping_data.load_pair(p) for p in cfg.pairs])
  step_dots = _scan_dots(jax.make_jaxpr(epoch)(state, train, dev, key).jaxpr)
  floor = [(k, min(m, n), max(m, n))
           for m, k, n in bench_step_floor.step_gemms(state["params"], cfg, packing)]
  assert len(floor) == 19
  assert sorted(step_dots) == sorted(floor)
