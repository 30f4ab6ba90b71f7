"""The ridge probe: a linear read-out of frozen features, the bar every stage-2 head must clear.

`ridge_fit` solves ridge regression in closed form for a whole grid of penalties at once (one
eigendecomposition of the train Gram matrix; features standardised with the train mean and sd,
targets centred, the intercept unpenalised); `ridge_probe` picks the penalty with the best mean
dev Pearson r and scores that fit on test. Pure numpy functions (float64, on the host): the
representation study (`scripts/representations.py`) and the ridge rows of the stage-2 results
(`train_content.ridge_rows`) use them the same way.
"""

from __future__ import annotations

import numpy as np

# Penalties tried, relative to the number of training rows (the standardised Gram matrix is about
# N x the feature correlation matrix, so these are comparable across dataset sizes).
ALPHAS = tuple(float(a) for a in np.logspace(-4, 2, 13))


def ridge_fit(x_NxD, y_NxV, alphas_A):
  """Ridge weights for every penalty: W [A, D, V] and intercepts b [A, V] in the units of the raw
  features (`x @ W[a] + b[a]` predicts). Penalty alpha_a * N on the standardised features; a
  constant feature (sd 0) gets weight 0. Float64 on the host: one D x D eigendecomposition."""
  x_NxD, y_NxV = np.asarray(x_NxD, np.float64), np.asarray(y_NxV, np.float64)
  n = x_NxD.shape[0]
  mu_D, sd_D = x_NxD.mean(0), x_NxD.std(0)
  scale_D = np.divide(1.0, sd_D, out=np.zeros_like(sd_D), where=sd_D > 1e-12)
  z_NxD = (x_NxD - mu_D) * scale_D
  ym_V = y_NxV.mean(0)
  lam_D, U_DxD = np.linalg.eigh(z_NxD.T @ z_NxD)
  proj_DxV = U_DxD.T @ (z_NxD.T @ (y_NxV - ym_V))
  shrink_AxD = 1.0 / (np.maximum(lam_D, 0.0)[None] + n * np.asarray(alphas_A, np.float64)[:, None])
  w_AxDxV = np.einsum("ij,aj,jv->aiv", U_DxD, shrink_AxD, proj_DxV) * scale_D[None, :, None]
  b_AxV = ym_V[None] - np.einsum("d,adv->av", mu_D, w_AxDxV)
  return w_AxDxV, b_AxV


def ridge_predict(w_DxV, b_V, x_NxD):
  return np.asarray(x_NxD, np.float64) @ w_DxV + b_V


def pearson(pred_NxV, target_NxV):
  """Pearson r per column (0 where a column is constant), float64 on the host."""
  p = pred_NxV - pred_NxV.mean(0)
  t = target_NxV - target_NxV.mean(0)
  den = np.sqrt((p * p).sum(0) * (t * t).sum(0))
  return np.divide((p * t).sum(0), den, out=np.zeros(p.shape[1]), where=den > 0)


def ridge_probe(x: dict, y: dict, alphas=ALPHAS) -> dict:
  """Fit on x["train"], choose the penalty by mean dev Pearson r, score it on test (and dev).
  Returns {"alpha", "dev" (r per variable), "test" (r per variable), "dev_mean", "test_mean",
  "weights" (the chosen fit's W [D, V] and b [V], for `ridge_predict`)}."""
  for part in ("train", "dev", "test"):
    if part not in x or part not in y:
      raise ValueError(f"ridge_probe needs train, dev and test parts; {part!r} is missing")
    if len(x[part]) != len(y[part]):
      raise ValueError(f"{part}: {len(x[part])} feature rows but {len(y[part])} label rows")
    if len(x[part]) < 2:
      raise ValueError(f"{part}: {len(x[part])} rows; a Pearson r needs at least 2")
  w, b = ridge_fit(x["train"], y["train"], alphas)
  y_dev = np.asarray(y["dev"], np.float64)
  dev_AxV = np.stack([pearson(ridge_predict(w[a], b[a], x["dev"]), y_dev) for a in range(len(alphas))])
  best = int(np.argmax(dev_AxV.mean(1)))
  test_V = pearson(ridge_predict(w[best], b[best], x["test"]), np.asarray(y["test"], np.float64))
  return {"alpha": float(alphas[best]), "dev": dev_AxV[best], "test": test_V,
          "dev_mean": float(dev_AxV[best].mean()), "test_mean": float(test_V.mean()),
          "weights": (w[best], b[best])}
