"""Geometry of the shared space: how the head rows of two formats sit, and where embeddings lie.

A head reads an embedding e through its rows W_VxE; a stage-2 encoder trained through format A's
head is constrained only in span(W_A). These pure functions measure that: cosines between the rows
of two formats, principal angles between their row spans, the share of an embedding's energy
outside a span, and its removal. The last two functions are post-hoc readings of a content
embedding through a foreign head (docs/snz.md): an affine PCA projection onto the region
the codec's label embeddings occupy, and the Gaussian conditional mean of a label embedding given
what head A reads from it (E[z | W_A z = W_A e]). Every function takes plain arrays (numpy or jax)
and returns jax arrays; shapes are in the names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from emojax import losses

RANK_TOL = 1e-6  # singular values below this times the largest one count as zero


def _matrix(name: str, x, ndim: int = 2) -> jnp.ndarray:
  x = jnp.asarray(x, jnp.float32)
  if x.ndim != ndim or 0 in x.shape:
    raise ValueError(f"{name} must be a non-empty {ndim}-d array, got shape {x.shape}")
  if not isinstance(x, jax.core.Tracer) and not bool(jnp.isfinite(x).all()):  # jit: unchecked
    raise ValueError(f"{name} holds NaN or Inf")
  return x


def _same_width(a, b, what: str) -> None:
  if a.shape[-1] != b.shape[-1]:
    raise ValueError(f"{what}: embedding widths differ ({a.shape[-1]} vs {b.shape[-1]})")


def row_cosines(W_AxE, W_BxE) -> jnp.ndarray:
  """[A, B] cosine of every row of one head with every row of another (`losses.cosine_rows`)."""
  W_AxE, W_BxE = _matrix("W_A", W_AxE), _matrix("W_B", W_BxE)
  _same_width(W_AxE, W_BxE, "row_cosines")
  A, B = W_AxE.shape[0], W_BxE.shape[0]
  pairs = np.stack(np.meshgrid(np.arange(A), A + np.arange(B), indexing="ij"), -1).reshape(-1, 2)
  return losses.cosine_rows(jnp.concatenate([W_AxE, W_BxE]), jnp.asarray(pairs)).reshape(A, B)


def _basis64(W_VxE) -> np.ndarray:
  W_VxE = _matrix("W", W_VxE)
  _, s, vt = np.linalg.svd(np.asarray(W_VxE, np.float64), full_matrices=False)
  rank = int(np.sum(s > RANK_TOL * s[0])) if s[0] > 0 else 0
  if rank == 0:
    raise ValueError("W is all zeros: its row span is empty")
  return vt[:rank].T


def span_basis(W_VxE) -> jnp.ndarray:
  """[E, r] orthonormal basis of the row span of W (r = its numerical rank)."""
  return jnp.asarray(_basis64(W_VxE), jnp.float32)


def principal_angles(W_AxE, W_BxE) -> jnp.ndarray:
  """Principal angles (radians, ascending) between the row spans of two heads, min(rank) of them:
  0 where the spans share a direction, π/2 where they are orthogonal."""
  Q_A, Q_B = _basis64(W_AxE), _basis64(W_BxE)  # float64: arccos is steep near cos = 1
  _same_width(Q_A.T, Q_B.T, "principal_angles")
  cos = np.linalg.svd(Q_A.T @ Q_B, compute_uv=False)
  return jnp.asarray(np.sort(np.arccos(np.clip(cos, -1.0, 1.0))), jnp.float32)


def project_span(e_NxE, W_VxE) -> jnp.ndarray:
  """[N, E] the component of each embedding inside span(W): what head W reads, nothing else."""
  e_NxE, Q_ExR = _matrix("e", e_NxE), span_basis(W_VxE)
  _same_width(e_NxE, Q_ExR.T, "project_span")
  return (e_NxE @ Q_ExR) @ Q_ExR.T


def remove_outside(e_NxE, W_VxE) -> jnp.ndarray:
  """Embeddings with their component outside span(W) removed (= `project_span`)."""
  return project_span(e_NxE, W_VxE)


def outside_energy(e_NxE, W_VxE, *, center: bool = False) -> jnp.ndarray:
  """Share of Σ ||e||² that lies outside span(W), in [0, 1]. `center`: of the variance over the
  rows instead (the spread across items, which is what a Pearson r reads)."""
  e_NxE = _matrix("e", e_NxE)
  if center:
    e_NxE = e_NxE - e_NxE.mean(0)
  total = jnp.sum(jnp.square(e_NxE))
  if float(total) == 0.0:
    raise ValueError("the embeddings have no energy (all zeros, or all equal with center=True)")
  outside = e_NxE - project_span(e_NxE, W_VxE)
  return jnp.sum(jnp.square(outside)) / total


def pca(z_NxE, k: int) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """Mean [E], top-k principal directions [E, k] and the share of variance each explains [k]."""
  z_NxE = _matrix("z", z_NxE)
  if not 1 <= k <= min(z_NxE.shape):
    raise ValueError(f"k={k} must be between 1 and min(N, E) = {min(z_NxE.shape)}")
  mu = np.asarray(z_NxE, np.float64).mean(0)
  _, s, vt = np.linalg.svd(np.asarray(z_NxE, np.float64) - mu, full_matrices=False)
  share = s ** 2 / np.sum(s ** 2)
  return jnp.asarray(mu, jnp.float32), jnp.asarray(vt[:k].T, jnp.float32), jnp.asarray(share[:k], jnp.float32)


def project_affine(e_NxE, mu_E, U_ExK) -> jnp.ndarray:
  """Orthogonal projection onto the affine subspace mu + span(U) (U orthonormal columns)."""
  e_NxE = _matrix("e", e_NxE)
  mu_E, U_ExK = jnp.asarray(mu_E, jnp.float32), jnp.asarray(U_ExK, jnp.float32)
  return mu_E + ((e_NxE - mu_E) @ U_ExK) @ U_ExK.T


def conditional_residual(W_AxE, cov_ExE, ridge: float = 1e-6) -> jnp.ndarray:
  """[E, E] N with (e − mu) N = e − E[z | W_A z = W_A e] for z ~ N(mu, cov): how far e lies from
  the label embedding most consistent with what head A reads from it. N = I − W_Aᵀ Gᵀ with the
  gain G = cov W_Aᵀ (W_A cov W_Aᵀ + ridge·I)⁻¹; W_A N = 0 (up to the ridge), so the residual is
  invisible to head A (stage 2's region readout, `emojax.region`)."""
  W_AxE, cov_ExE = _matrix("W_A", W_AxE), _matrix("cov", cov_ExE)
  if cov_ExE.shape != (W_AxE.shape[1],) * 2:
    raise ValueError(f"cov must be {W_AxE.shape[1]} x {W_AxE.shape[1]}, got {cov_ExE.shape}")
  gain_ExA = cov_ExE @ W_AxE.T @ jnp.linalg.inv(W_AxE @ cov_ExE @ W_AxE.T
                                                + ridge * jnp.eye(W_AxE.shape[0]))
  return jnp.eye(W_AxE.shape[1]) - W_AxE.T @ gain_ExA.T


def conditional_mean(e_NxE, W_AxE, mu_E, cov_ExE, ridge: float = 1e-6) -> jnp.ndarray:
  """E[z | W_A z = W_A e] for z ~ N(mu, cov): the label embedding most consistent with what head A
  reads from e, mu + cov W_Aᵀ (W_A cov W_Aᵀ + ridge·I)⁻¹ W_A (e − mu). Head A reads the same from
  it as from e (up to the ridge); every other head reads the label region's linear regression."""
  e_NxE, W_AxE = _matrix("e", e_NxE), _matrix("W_A", W_AxE)
  _same_width(e_NxE, W_AxE, "conditional_mean")
  residual_ExE = conditional_residual(W_AxE, cov_ExE, ridge)
  return e_NxE - (e_NxE - jnp.asarray(mu_E, jnp.float32)) @ residual_ExE
