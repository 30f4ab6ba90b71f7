"""Evaluation metrics as pure jnp functions: Pearson r per variable, accuracy, macro F1.

`format_scores` picks the paper's metric for a format's kind and always returns a vector, one
score per variable for regression and a single score for class formats, so per-direction results
stack into fixed-shape arrays inside jit.
"""

from __future__ import annotations

import jax.numpy as jnp

from emojax import formats


def pearson(pred_NxV, target_NxV, eps: float = 1e-12):
  """Pearson correlation of each column, shape [V]."""
  p = pred_NxV - pred_NxV.mean(axis=0)
  t = target_NxV - target_NxV.mean(axis=0)
  return jnp.sum(p * t, axis=0) / jnp.sqrt(jnp.maximum(jnp.sum(p * p, 0) * jnp.sum(t * t, 0), eps))


def accuracy(logits_NxC, onehot_NxC):
  return jnp.mean(jnp.argmax(logits_NxC, -1) == jnp.argmax(onehot_NxC, -1))


def macro_f1(logits_NxC, targets_NxC, eps: float = 1e-12):
  pred = logits_NxC > 0
  gold = targets_NxC > 0.5
  tp = jnp.sum(pred & gold, 0)
  fp = jnp.sum(pred & ~gold, 0)
  fn = jnp.sum(~pred & gold, 0)
  return jnp.mean(2 * tp / jnp.maximum(2 * tp + fp + fn, eps))


def format_scores(fmt: formats.LabelFormat, pred, target):
  if fmt.kind == formats.REGRESSION:
    return pearson(pred, target)
  if fmt.kind == formats.CLASSES:
    return accuracy(pred, target)[None]
  return macro_f1(pred, target)[None]
