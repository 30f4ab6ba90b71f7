"""Geometry of head rows and embeddings (`emojax.geometry`), against hand-computed values."""

import chex
import jax
import numpy as np
import pytest

from emojax import geometry

S2 = 2 ** -0.5


def test_row_cosines_by_hand():
  W_A = np.array([[1.0, 0, 0], [0, 1, 0]])
  W_B = np.array([[1.0, 1, 0], [0, 0, 2], [-3, 0, 0]])
  got = geometry.row_cosines(W_A, W_B)
  chex.assert_shape(got, (2, 3))
  chex.assert_trees_all_close(got, np.array([[S2, 0, -1], [S2, 0, 0]]), atol=1e-6)


def test_principal_angles_by_hand():
  W_A = np.array([[1.0, 0, 0], [0, 1, 0]])
  # span{(1,1,0), e3}: shares (1,1,0) with span A (angle 0), e3 is orthogonal to it (pi/2)
  chex.assert_trees_all_close(geometry.principal_angles(W_A, np.array([[1.0, 1, 0], [0, 0, 5]])),
                              np.array([0.0, np.pi / 2]), atol=1e-5)
  # one row at 30 degrees out of the plane: one angle, pi/6, whatever its length
  tilted = 4 * np.array([[np.cos(np.pi / 6), 0, np.sin(np.pi / 6)]])
  chex.assert_trees_all_close(geometry.principal_angles(W_A, tilted), np.array([np.pi / 6]), atol=1e-5)
  # rows that repeat a direction count once (rank, not row count)
  assert geometry.principal_angles(W_A, np.array([[1.0, 0, 0], [2, 0, 0]])).shape == (1,)


def test_span_projection_and_outside_energy_by_hand():
  e = np.array([[3.0, 0, 4]])
  chex.assert_trees_all_close(geometry.outside_energy(e, np.array([[2.0, 0, 0]])), 16 / 25, atol=1e-6)
  chex.assert_trees_all_close(geometry.remove_outside(e, np.array([[1.0, 1, 0]])),
                              np.array([[1.5, 1.5, 0]]), atol=1e-6)
  # centred: the rows differ by (2, 0, 2), half of it along z, outside span{e1}
  e2 = np.array([[1.0, 0, 0], [3, 0, 2]])
  chex.assert_trees_all_close(geometry.outside_energy(e2, np.array([[1.0, 0, 0]]), center=True), 0.5,
                              atol=1e-6)
  # inside a span nothing is outside; projecting twice changes nothing
  W = np.random.default_rng(0).normal(size=(3, 10))
  x = np.random.default_rng(1).normal(size=(7, 10))
  inside = geometry.remove_outside(x, W)
  chex.assert_trees_all_close(geometry.outside_energy(inside, W), 0.0, atol=1e-5)
  chex.assert_trees_all_close(geometry.remove_outside(inside, W), inside, atol=1e-5)
  # what the head reads is unchanged by the removal
  chex.assert_trees_all_close(inside @ W.T, x @ W.T, atol=1e-4)


def test_pca_and_affine_projection_by_hand():
  mu, U, share = geometry.pca(np.array([[0.0, 0], [1, 1], [2, 2]]), 1)
  chex.assert_trees_all_close(mu, np.array([1.0, 1.0]), atol=1e-6)
  chex.assert_trees_all_close(np.abs(U[:, 0]), np.array([S2, S2]), atol=1e-6)
  chex.assert_trees_all_close(share, np.array([1.0]), atol=1e-6)
  chex.assert_trees_all_close(geometry.project_affine(np.array([[3.0, 5]]), np.array([1.0, 1]),
                                                      np.array([[1.0], [0]])), np.array([[3.0, 1]]))


def test_conditional_mean_by_hand():
  W_A = np.array([[1.0, 0]])
  # correlated coordinates: E[z2 | z1 = 2] = 0.5 * 2 with cov [[1, .5], [.5, 1]], mean 0
  got = geometry.conditional_mean(np.array([[2.0, 7]]), W_A, np.zeros(2), np.array([[1.0, 0.5], [0.5, 1]]))
  chex.assert_trees_all_close(got, np.array([[2.0, 1.0]]), atol=1e-5)
  # independent coordinates: the rest goes to its mean (3)
  got = geometry.conditional_mean(np.array([[2.0, 7]]), W_A, np.array([0.0, 3]), np.diag([1.0, 4]))
  chex.assert_trees_all_close(got, np.array([[2.0, 3.0]]), atol=1e-5)
  # head A reads the same from the conditional mean as from e (random, full-rank cov)
  rng = np.random.default_rng(2)
  L = rng.normal(size=(6, 6))
  W, e = rng.normal(size=(2, 6)), rng.normal(size=(5, 6))
  out = jax.jit(geometry.conditional_mean)(e, W, rng.normal(size=6), L @ L.T + np.eye(6))
  chex.assert_trees_all_close(out @ W.T, e @ W.T, atol=1e-3)


def test_bad_input_is_refused():
  with pytest.raises(ValueError, match="widths differ"):
    geometry.row_cosines(np.ones((2, 3)), np.ones((2, 4)))
  with pytest.raises(ValueError, match="NaN"):
    geometry.outside_energy(np.array([[np.nan, 1.0]]), np.ones((1, 2)))
  with pytest.raises(ValueError, match="no energy"):
    geometry.outside_energy(np.ones((3, 2)), np.ones((1, 2)), center=True)
  with pytest.raises(ValueError, match="all zeros"):
    geometry.principal_angles(np.zeros((2, 3)), np.ones((1, 3)))
  with pytest.raises(ValueError, match="k=5"):
    geometry.pca(np.ones((3, 2)), 5)
  with pytest.raises(ValueError, match="cov must be"):
    geometry.conditional_mean(np.ones((1, 3)), np.ones((1, 3)), np.zeros(3), np.eye(2))
