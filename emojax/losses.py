"""Loss terms of the emotion codec as small pure array functions.

Each takes predictions and targets in canonical units (logits for class formats) and returns a
scalar mean, so training, tests and analysis use exactly the same arithmetic. The per-format
losses also take a mask of real columns, for the codec's formats padded to one width: the one
implementation serves unpadded callers and the padded stage-1/stage-2 steps. The soft-sharing
term reads the stacked head bank and the int array of tied row pairs compiled by
`formats.head_layout`: it depends only on row *directions*, so formats may keep their own scales.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from emojax import formats

PADDED_LOGIT = -1e9  # logit of a padded class: never predicted, no probability mass


def masked_mean(x_BxV, mask_V=None):
  """Mean of x; with `mask_V`, the mean over the real (mask 1) columns of padded arrays."""
  if mask_V is None:
    return jnp.mean(x_BxV)
  return jnp.sum(mask_V * x_BxV) / (jnp.sum(mask_V) * x_BxV.shape[0])


def mse(pred, target, mask_V=None):
  return masked_mean(jnp.square(pred - target), mask_V)


def softmax_cross_entropy(logits_BxC, onehot_BxC, mask_C=None):
  if mask_C is not None:
    logits_BxC = jnp.where(mask_C > 0, logits_BxC, PADDED_LOGIT)
  import optax  # here, not at the top: loading a model (which imports this module) needs no optimizer
  return jnp.mean(optax.softmax_cross_entropy(logits_BxC, onehot_BxC))


def sigmoid_cross_entropy(logits_BxC, targets_BxC, mask_C=None):
  import optax  # see softmax_cross_entropy
  return masked_mean(optax.sigmoid_binary_cross_entropy(logits_BxC, targets_BxC), mask_C)


# ℓ_F (docs/method.md) by format kind: MSE for regression, softmax CE for one label, sigmoid CE for
# label sets. Each takes (pred, target, mask=None); a mask marks the real columns of padded arrays.
LOSS_OF_KIND = {formats.REGRESSION: mse, formats.CLASSES: softmax_cross_entropy,
                formats.MULTILABEL: sigmoid_cross_entropy}


def format_loss(fmt: formats.LabelFormat, pred, target, mask_V=None):
  """ℓ_F (docs/method.md) for format `fmt` (`LOSS_OF_KIND`); `mask_V` for padded arrays."""
  return LOSS_OF_KIND[fmt.kind](pred, target, mask_V)


def cosine_rows(bank_VxE, pairs_Px2, eps: float = 1e-8):
  """Cosine similarity of each tied pair of bank rows, shape [P]."""
  wi_PxE, wj_PxE = bank_VxE[pairs_Px2[:, 0]], bank_VxE[pairs_Px2[:, 1]]
  dot_P = jnp.sum(wi_PxE * wj_PxE, axis=-1)
  norms_P = jnp.linalg.norm(wi_PxE, axis=-1) * jnp.linalg.norm(wj_PxE, axis=-1)
  return dot_P / jnp.maximum(norms_P, eps)


def soft_sharing_loss(bank_VxE, pairs_Px2):
  """Mean over tied pairs of 1 - cos(W_i, W_j); zero when no variable is tied."""
  if pairs_Px2.shape[0] == 0:
    return jnp.zeros((), bank_VxE.dtype)
  return jnp.mean(1.0 - cosine_rows(bank_VxE, pairs_Px2))


def embedding_similarity(e_a_BxE, e_b_BxE):
  return mse(e_a_BxE, e_b_BxE)


def l2_penalty(tree) -> jax.Array:
  return sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree))
