"""The stage-1 profile script (benchmarks/profile_mapping_step.py) reads jaxlib's trace format, a
private API that may change with a jax upgrade: run it once, as a user would (one CPU device, its
own process), so a break shows up here rather than in the README's numbers. And the floor that
bench_step_floor.py times must be the step's own matmuls, and the Adam variant that
bench_step_variants.py times must be Adam."""

import re
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

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


def test_torch_arranged_adam_is_optax_adam_but_for_rounding():
  sys.path.insert(0, str(ROOT / "benchmarks"))
  import bench_step_variants

  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.standard_normal((4, 3)), jnp.float32), "b": jnp.zeros(3)}
  ours, theirs = optax.adam(1e-3), bench_step_variants.torch_arranged_adam(1e-3)
  p_ours, p_theirs, s_ours, s_theirs = params, params, ours.init(params), theirs.init(params)
  for _ in range(20):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), jnp.float32), params)
    u_ours, s_ours = ours.update(grads, s_ours, p_ours)
    u_theirs, s_theirs = theirs.update(grads, s_theirs, p_theirs)
    p_ours, p_theirs = optax.apply_updates(p_ours, u_ours), optax.apply_updates(p_theirs, u_theirs)
    chex.assert_trees_all_close(u_theirs, u_ours, rtol=1e-5, atol=1e-9)
  chex.assert_trees_all_close(p_theirs, p_ours, rtol=1e-6)
  assert not np.allclose(p_ours["w"], params["w"])  # the updates did move the parameters
