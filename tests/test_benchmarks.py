"""What the stage-1 benchmarks compare must be what they claim: the GEMMs that
benchmarks/bench_step_floor.py times as the step's floor are exactly the matmuls of the compiled
stage-1 step, and the Adam of the PyTorch side (torch.optim.Adam, as benchmarks/torch_codec.py
trains) is optax's Adam, which train_mapping uses, but for rounding."""

from __future__ import annotations

import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from conftest import ROOT


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


def torch_arranged_adam(learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
  """`optax.adam` as `torch.optim.Adam` computes it: the step size lr / (1 - b1^t) and the square
  root of 1 - b2^t are scalars, so a parameter needs one division where optax's has three. (Timed
  as a stage-1 step variant on 2026-12-04: no faster, benchmarks/README.md.)"""

  def init(params):
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)
    return jnp.zeros((), jnp.int32), zeros(), zeros()

  def update(grads, state, params=None):
    del params
    count, mu, nu = state
    count = count + 1
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, nu, grads)
    t = count.astype(jnp.float32)
    step_size, root_correction = learning_rate / (1 - b1**t), jnp.sqrt(1 - b2**t)
    updates = jax.tree.map(lambda m, v: -step_size * m / (jnp.sqrt(v) / root_correction + eps), mu, nu)
    return updates, (count, mu, nu)

  return optax.GradientTransformation(init, update)


def test_torch_arranged_adam_is_optax_adam_but_for_rounding():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.standard_normal((4, 3)), jnp.float32), "b": jnp.zeros(3)}
  ours, theirs = optax.adam(1e-3), torch_arranged_adam(1e-3)
  p_ours, p_theirs, s_ours, s_theirs = params, params, ours.init(params), theirs.init(params)
  for _ in range(20):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape), jnp.float32), params)
    u_ours, s_ours = ours.update(grads, s_ours, p_ours)
    u_theirs, s_theirs = theirs.update(grads, s_theirs, p_theirs)
    p_ours, p_theirs = optax.apply_updates(p_ours, u_ours), optax.apply_updates(p_theirs, u_theirs)
    chex.assert_trees_all_close(u_theirs, u_ours, rtol=1e-5, atol=1e-9)
  chex.assert_trees_all_close(p_theirs, p_ours, rtol=1e-6)
  assert not np.allclose(p_ours["w"], params["w"])  # the updates did move the parameters
