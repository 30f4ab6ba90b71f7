"""Statistics for the paper's findings: paired differences over seeds with bootstrap intervals.

A finding compares two conditions (or one against 0) on the same test items, mean Pearson r over
a dataset's variables, then over datasets, then over seeds. Conditions trained with the same seed
share their initial trunk and batches, so differences are paired by seed. The interval is a
percentile bootstrap that resamples both sources of chance together: the test items of every
dataset (with replacement, the same draw for both conditions) and the seeds (with replacement,
the same draw for every dataset). It is seeded, so the same inputs give the same interval. Pearson r
is `metrics.pearson`, the one implementation the trainers score with. A verdict says "holds"
only when the whole interval lies on the claimed side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from emojax import metrics

CLAIMS = ("greater", "less", "within", "not_worse")


@dataclasses.dataclass(frozen=True)
class Group:
  """One dataset of a finding: predictions of conditions a and b [S, N, V] on the same N test
  items (b=None: compared with 0) and the gold labels [N, V]."""

  pred_a: np.ndarray
  target: np.ndarray
  pred_b: np.ndarray | None = None

  def __post_init__(self):
    a, t = np.asarray(self.pred_a), np.asarray(self.target)
    if a.ndim != 3 or t.ndim != 2 or a.shape[1:] != t.shape:
      raise ValueError(f"pred_a must be [S, N, V] and target [N, V] with the same N, V; got "
                       f"{a.shape} and {t.shape}")
    if self.pred_b is not None and np.shape(self.pred_b) != a.shape:
      raise ValueError(f"pred_b {np.shape(self.pred_b)} must have pred_a's shape {a.shape} "
                       f"(same seeds, items and variables)")
    if a.shape[1] < 3:
      raise ValueError(f"a Pearson r needs at least 3 items, got {a.shape[1]}")
    for name, x in (("pred_a", a), ("target", t), ("pred_b", self.pred_b)):
      if x is not None and not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or Inf")


def mean_r(pred_SxNxV, target_NxV) -> jnp.ndarray:
  """[S] mean over variables of the Pearson r of each seed's predictions."""
  return jax.vmap(lambda p: metrics.pearson(p, target_NxV).mean())(jnp.asarray(pred_SxNxV))


def seed_differences(groups: Sequence[Group]) -> np.ndarray:
  """[S] per seed: mean over datasets of r(a) − r(b) (r(a) when b is None)."""
  diffs = []
  for g in groups:
    d = mean_r(g.pred_a, g.target)
    if g.pred_b is not None:
      d = d - mean_r(g.pred_b, g.target)
    diffs.append(np.asarray(d))
  return np.mean(diffs, 0)


@jax.jit
def _resampled_r(pred_SxNxV, target_NxV, items_BxN):
  """[B, S] mean r of every seed on every resample of the items."""
  one = lambda idx: mean_r(pred_SxNxV[:, idx], target_NxV[idx])
  return jax.lax.map(one, items_BxN)


def bootstrap(groups: Sequence[Group], *, resamples: int = 2000, seed: int = 0,
              level: float = 0.95) -> dict:
  """Paired difference (mean over seeds of `seed_differences`) with its percentile interval.

  Returns {"difference", "low", "high", "per_seed": [S], "resamples", "level"}."""
  if not groups:
    raise ValueError("a finding needs at least one dataset (group)")
  S = {np.shape(g.pred_a)[0] for g in groups}
  if len(S) != 1:
    raise ValueError(f"every dataset of a finding needs the same seeds; got seed counts {sorted(S)}")
  S = S.pop()
  if not 0 < level < 1 or resamples < 100:
    raise ValueError(f"need 0 < level < 1 and resamples >= 100, got {level}, {resamples}")
  rng = np.random.default_rng(seed)
  seeds_BxS = rng.integers(0, S, (resamples, S))
  stat_B = np.zeros(resamples)
  for g in groups:
    N = np.shape(g.target)[0]
    items_BxN = jnp.asarray(rng.integers(0, N, (resamples, N)))
    d_BxS = np.asarray(_resampled_r(jnp.asarray(g.pred_a, jnp.float32), jnp.asarray(g.target, jnp.float32),
                                    items_BxN))
    if g.pred_b is not None:
      d_BxS = d_BxS - np.asarray(_resampled_r(jnp.asarray(g.pred_b, jnp.float32),
                                              jnp.asarray(g.target, jnp.float32), items_BxN))
    d_BxS = np.nan_to_num(d_BxS)  # a resample of constant items has no r: counts as 0
    stat_B += np.take_along_axis(d_BxS, seeds_BxS, 1).mean(1) / len(groups)
  per_seed = seed_differences(groups)
  tail = (1 - level) / 2 * 100
  low, high = np.percentile(stat_B, [tail, 100 - tail])
  return {"difference": float(per_seed.mean()), "low": float(low), "high": float(high),
          "per_seed": per_seed.tolist(), "resamples": resamples, "level": level}


def verdict(low: float, high: float, claim: str, margin: float = 0.0) -> str:
  """"holds" when the interval [low, high] lies wholly where the claim says, "contradicted" when it
  lies wholly on the other side, else "not shown". Claims on a difference d:
    greater    d > margin             less       d < −margin
    within     −margin < d < margin   not_worse  d > −margin (non-inferiority)"""
  if claim not in CLAIMS:
    raise ValueError(f"claim must be one of {CLAIMS}, got {claim!r}")
  if not low <= high or margin < 0:
    raise ValueError(f"need low <= high and margin >= 0, got [{low}, {high}], margin {margin}")
  if claim == "greater":
    return "holds" if low > margin else "contradicted" if high <= margin else "not shown"
  if claim == "less":
    return "holds" if high < -margin else "contradicted" if low >= -margin else "not shown"
  if claim == "not_worse":
    return "holds" if low > -margin else "contradicted" if high <= -margin else "not shown"
  if -margin < low and high < margin:
    return "holds"
  return "contradicted" if low >= margin or high <= -margin else "not shown"
