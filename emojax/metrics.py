"""Evaluation metrics as pure jnp functions: Pearson r per variable, accuracy, per-class and macro F1.

Each score is written once and serves two callers: plain arrays (every row, every column) and the
padded arrays of a compiled evaluation, where `n` counts the real rows (the rest are padding, `n`
may be traced) and a class mask marks the real columns of a format padded to the codec's width.
`format_scores` picks the paper's metric for a format's kind and always returns a vector, one
score per variable for regression and a single score for class formats, so per-direction results
stack into fixed-shape arrays inside jit.
"""

from __future__ import annotations

import jax.numpy as jnp

from emojax import formats, losses


def _rows(x_N, n):
  """[N, 1] weight of each row: 1 for the first n (all rows when n is None), else 0; and n."""
  n = x_N.shape[0] if n is None else n
  return (jnp.arange(x_N.shape[0]) < n).astype(jnp.float32)[:, None], n


def pearson(pred_NxV, target_NxV, n=None):
  """Pearson correlation of each column over the first n rows (all by default), shape [V]."""
  row_N, n = _rows(pred_NxV, n)
  mean = lambda x: jnp.sum(row_N * x, 0) / n
  p, t = pred_NxV - mean(pred_NxV), target_NxV - mean(target_NxV)
  return mean(p * t) / jnp.sqrt(jnp.maximum(mean(p * p) * mean(t * t), 1e-24))


def accuracy(logits_NxC, onehot_NxC, n=None, mask_C=None):
  """Share of the first n rows whose argmax matches; `mask_C`: real classes (padding is never
  predicted)."""
  row_N, n = _rows(logits_NxC, n)
  if mask_C is not None:
    logits_NxC = jnp.where(mask_C > 0, logits_NxC, losses.PADDED_LOGIT)
  hits_N = jnp.argmax(logits_NxC, -1) == jnp.argmax(onehot_NxC, -1)
  return (jnp.sum(row_N * hits_N[:, None].astype(jnp.float32), 0) / n)[0]


def per_class_f1(logits_NxC, targets_NxC, n=None):
  """F1 of every class at logit > 0 (p > 0.5) over the first n rows: the terms macro F1 averages."""
  row_N, _ = _rows(logits_NxC, n)
  pred_on, gold_on = (logits_NxC > 0) & (row_N > 0), (targets_NxC > 0.5) & (row_N > 0)
  tp, fp = jnp.sum(pred_on & gold_on, 0), jnp.sum(pred_on & ~gold_on, 0)
  fn = jnp.sum(~pred_on & gold_on, 0)
  return 2 * tp / jnp.maximum(2 * tp + fp + fn, 1)


def macro_f1(logits_NxC, targets_NxC, n=None, mask_C=None):
  """Mean per-class F1 over the (real, `mask_C`) classes."""
  f1_C = per_class_f1(logits_NxC, targets_NxC, n)
  if mask_C is None:
    return jnp.mean(f1_C)
  return jnp.sum(mask_C * f1_C) / jnp.sum(mask_C)


def format_scores(fmt: formats.LabelFormat, pred, target):
  if fmt.kind == formats.REGRESSION:
    return pearson(pred, target)
  if fmt.kind == formats.CLASSES:
    return accuracy(pred, target)[None]
  return macro_f1(pred, target)[None]
