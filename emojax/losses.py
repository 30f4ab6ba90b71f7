"""Loss terms of the emotion codec as small pure array functions.

Each takes predictions and targets in canonical units (logits for class formats) and returns a
scalar mean, so training, tests and analysis use exactly the same arithmetic. The soft-sharing
term reads the stacked head bank and the int array of tied row pairs compiled by
`formats.head_layout`: it depends only on row *directions*, so formats may keep their own scales.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from emojax import formats


def mse(pred, target):
  return jnp.mean(jnp.square(pred - target))


def softmax_cross_entropy(logits_BxC, onehot_BxC):
  return jnp.mean(optax.softmax_cross_entropy(logits_BxC, onehot_BxC))


def sigmoid_cross_entropy(logits_BxC, targets_BxC):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits_BxC, targets_BxC))


def format_loss(fmt: formats.LabelFormat, pred, target):
  """ℓ_F of METHOD.md: MSE for regression, softmax CE for one label, sigmoid CE for label sets."""
  if fmt.kind == formats.REGRESSION:
    return mse(pred, target)
  if fmt.kind == formats.CLASSES:
    return softmax_cross_entropy(pred, target)
  return sigmoid_cross_entropy(pred, target)


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
