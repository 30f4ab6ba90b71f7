"""Paired differences with bootstrap intervals and verdicts (`emojax.stats`), by hand."""

import chex
import numpy as np
import pytest

from emojax import stats


def _target(n=30, v=2, seed=0):
  return np.random.default_rng(seed).normal(size=(n, v))


def test_mean_r_matches_numpy():
  rng = np.random.default_rng(1)
  y, p = _target(), rng.normal(size=(3, 30, 2))
  want = [np.mean([np.corrcoef(p[s, :, v], y[:, v])[0, 1] for v in range(2)]) for s in range(3)]
  chex.assert_trees_all_close(stats.mean_r(p, y), np.array(want), atol=1e-5)


def test_perfect_against_reversed_is_two_on_every_resample():
  y = _target()
  a, b = np.stack([y, 2 * y + 1]), np.stack([-y, -y])  # r = 1 and r = -1 on any resample
  out = stats.bootstrap([stats.Group(a, y, b)], resamples=200)
  chex.assert_trees_all_close((out["difference"], out["low"], out["high"]), (2.0, 2.0, 2.0), atol=1e-4)
  assert out["per_seed"] == pytest.approx([2.0, 2.0], abs=1e-4)


def test_difference_averages_datasets_then_seeds_and_is_deterministic():
  rng = np.random.default_rng(3)
  groups = []
  for n in (25, 40):
    y = _target(n, 3, seed=n)
    groups.append(stats.Group(y + rng.normal(size=(4, n, 3)), y, y + 3 * rng.normal(size=(4, n, 3))))
  per_seed = np.mean([stats.mean_r(g.pred_a, g.target) - stats.mean_r(g.pred_b, g.target)
                      for g in groups], 0)
  one = stats.bootstrap(groups, resamples=300, seed=7)
  assert one["difference"] == pytest.approx(float(per_seed.mean()), abs=1e-6)
  assert one == stats.bootstrap(groups, resamples=300, seed=7)  # seeded: the same interval
  assert one["low"] < one["difference"] < one["high"]
  assert one["low"] > 0  # a much noisier b is worse, clearly
  # the same condition on both sides is exactly no difference
  same = stats.bootstrap([stats.Group(g.pred_a, g.target, g.pred_a) for g in groups], resamples=100)
  assert (same["low"], same["high"]) == (0.0, 0.0)


def test_against_zero_and_noise_gives_not_shown():
  rng = np.random.default_rng(5)
  y = _target(40)
  out = stats.bootstrap([stats.Group(rng.normal(size=(3, 40, 2)), y)], resamples=500)
  assert out["low"] < 0 < out["high"]
  assert stats.verdict(out["low"], out["high"], "greater") == "not shown"


@pytest.mark.parametrize("low, high, claim, margin, want", [
    (0.01, 0.2, "greater", 0.0, "holds"), (-0.01, 0.2, "greater", 0.0, "not shown"),
    (-0.3, -0.1, "greater", 0.0, "contradicted"), (0.02, 0.2, "greater", 0.05, "not shown"),
    (-0.2, -0.01, "less", 0.0, "holds"), (0.1, 0.3, "less", 0.0, "contradicted"),
    (-0.005, 0.008, "within", 0.01, "holds"), (-0.005, 0.02, "within", 0.01, "not shown"),
    (0.011, 0.05, "within", 0.01, "contradicted"), (-0.015, 0.1, "not_worse", 0.02, "holds"),
    (-0.05, -0.03, "not_worse", 0.02, "contradicted"), (-0.03, 0.1, "not_worse", 0.02, "not shown")])
def test_verdicts(low, high, claim, margin, want):
  assert stats.verdict(low, high, claim, margin) == want


def test_bad_input_is_refused():
  y = _target()
  with pytest.raises(ValueError, match="same N"):
    stats.Group(np.zeros((2, 29, 2)), y)
  with pytest.raises(ValueError, match="pred_a's shape"):
    stats.Group(np.zeros((2, 30, 2)), y, np.zeros((3, 30, 2)))
  with pytest.raises(ValueError, match="NaN"):
    stats.Group(np.full((2, 30, 2), np.nan), y)
  with pytest.raises(ValueError, match="same seeds"):
    stats.bootstrap([stats.Group(np.zeros((2, 30, 2)) + y, y), stats.Group(np.zeros((3, 30, 2)) + y, y)])
  with pytest.raises(ValueError, match="claim must be"):
    stats.verdict(0.0, 1.0, "bigger")
  with pytest.raises(ValueError, match="low <= high"):
    stats.verdict(1.0, 0.0, "greater")
