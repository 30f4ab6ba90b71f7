"""The label region: where the codec puts label embeddings, and a stage-2 readout that uses it.

A stage-2 encoder trained through format A's head is constrained only in the span of A's head
rows; the rest of its output is free, and a foreign head reads mostly that free part, which is why
zero-shot through the heads (SnZ) collapses (docs/snz.md). The codec's label embeddings of the
mapping data say where an embedding with a given A-reading should lie: fitted as a Gaussian (mean
mu, covariance cov), the conditional mean E[z | W_A z = W_A e] is the label embedding most
consistent with what head A reads from e. `residual` is the linear map from e − mu to e's
distance from that conditional mean; it lies in the null space of A's rows, so `fold_into_embed`
can move an encoder's output there without changing what head A reads, and every other head then
reads the label region's regression of its variables on A's (`ContentConfig.readout="region"`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from emojax import datasets, geometry, mapping_data

COV_RIDGE = 1e-4  # added to the covariance's diagonal: the label embeddings fill ~30-50 of 100 dims


def label_embeddings(stage1, part: str = "train") -> np.ndarray:
  """[N, E] unconditioned embeddings of both sides of every mapping pair the codec was trained on."""
  out = []
  for name in stage1.config.pairs:
    if name not in datasets.pair_names():
      raise ValueError(
          f"the label region of stage-1 model {stage1.workdir} is read from its mapping pairs, and pair "
          f"{name!r} is not declared in this process: declare it in this run's config too (import the "
          "module that registers it, docs/own_data.md), or set readout='raw'")
    data = mapping_data.load_pair(name)
    out += [stage1.embed_labels(data.a[part], data.format_a.name),
            stage1.embed_labels(data.b[part], data.format_b.name)]
  return np.concatenate(out)


def fit(stage1) -> tuple[np.ndarray, np.ndarray]:
  """Mean [E] and (ridged) covariance [E, E] of the codec's label embeddings of the train items."""
  z = label_embeddings(stage1).astype(np.float64)
  cov = np.cov(z, rowvar=False) + COV_RIDGE * np.eye(z.shape[1])
  return z.mean(0).astype(np.float32), cov.astype(np.float32)


def residual(stage1, cov_ExE: np.ndarray, fmts: tuple[str, ...]) -> np.ndarray:
  """[E, E] `geometry.conditional_residual` of the head rows of `fmts` together (() = zeros)."""
  bank = np.asarray(stage1.params["bank"])
  if not fmts:
    return np.zeros((bank.shape[1],) * 2, np.float32)
  every = np.arange(bank.shape[0])
  rows = np.unique(np.concatenate([every[stage1.layout.rows(f)] for f in fmts]))
  return np.asarray(geometry.conditional_residual(bank[rows], cov_ExE))


def fold_into_embed(params, mu_E, residual_ExE):
  """Encoder params whose output is the conditional mean of the old output e given what the heads
  of `residual_ExE` read from it: e − (e − mu) N, folded into the last Dense layer ("embed",
  e = h K + b), K' = K (I − N), b' = b (I − N) + mu N. Those heads read exactly what they read
  before; every other head reads the label region's regression on them. N = 0 leaves e as it is."""
  keep_ExE = jnp.eye(residual_ExE.shape[-1]) - residual_ExE
  embed = params["embed"]
  folded = {"kernel": embed["kernel"] @ keep_ExE, "bias": embed["bias"] @ keep_ExE + mu_E @ residual_ExE}
  return {**params, "embed": folded}
