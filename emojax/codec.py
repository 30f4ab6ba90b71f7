"""The emotion codec: one label encoder per format into a shared space, one bias-free head per format.

Parameters are a plain pytree `{"encoders": stacked Flax params, "bank": W_VxE}`. The heads of all
formats are row blocks of one bank (layout in `formats.HeadLayout`), so every emotion variable is
literally a vector of the shared space and the soft-sharing loss is a gather over index pairs.
The per-format encoders are stacked along a leading format axis (as `nn.vmap` would stack them):
every label vector is zero-padded to the widest format and first-layer kernels carry padding rows
that only ever see zeros. A train step picks the two encoders and heads of the mapping dataset it
drew *by index*: one small compiled graph for any number of datasets, where a `lax.switch` branch
per dataset made tracing and compiling grow with the data. Losses on padded vectors are masked so
they equal the unpadded per-format losses exactly (tested against an unpadded computation).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from emojax import config as config_lib, formats, layers, losses, metrics

_KIND_ID = {formats.REGRESSION: 0, formats.CLASSES: 1, formats.MULTILABEL: 2}


@dataclasses.dataclass(frozen=True)
class CodecConfig:
  embedding_dim: int = 100
  hidden: tuple[int, ...] = (128, 128)
  dropout: float = 0.2
  leaky_slope: float = 0.01


@dataclasses.dataclass(frozen=True)
class LossWeights:
  reconstruction: float = 1.0
  mapping: float = 1.0
  similarity: float = 1.0
  sharing: float = 1.0
  class_target: float = 0.1  # multiplies terms whose target is a class format (authors' final run)


config_lib.declare(CodecConfig, {"embedding_dim": config_lib.POSITIVE_INT,
                                 "hidden": config_lib.each(config_lib.POSITIVE_INT),
                                 "dropout": config_lib.RATE, "leaky_slope": config_lib.NON_NEGATIVE})
config_lib.declare(LossWeights, {f.name: config_lib.NON_NEGATIVE for f in dataclasses.fields(LossWeights)})


class LabelEncoder(nn.Module):
  """Label vector (one-hot for classes) -> Dense/LeakyReLU/Dropout blocks -> embedding.

  Dropout comes either from explicit keep-masks (`layers.keep_masks`, one [B, width] per hidden
  layer) or from Flax's rng stream (`deterministic=False`): the stage-1 step draws a whole epoch of
  masks in one RNG call, because on CPU every RNG call inside the step is its own chain of small
  kernels. The rng-stream path (Flax's bernoulli dropout) is what `baselines` trains with: stage 1's
  baselines and stage 2's BsZ mapping nets, whose published numbers depend on its draws.
  """

  hidden: tuple[int, ...]
  embedding_dim: int
  dropout: float
  leaky_slope: float

  @nn.compact
  def __call__(self, y_BxV, *, deterministic: bool = True, masks=None):
    x = y_BxV
    for i, width in enumerate(self.hidden):
      x = nn.leaky_relu(nn.Dense(width)(x), self.leaky_slope)
      if masks is not None:
        x = layers.dropout(x, masks[i], self.dropout)
      else:
        x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
    return nn.Dense(self.embedding_dim)(x)


def dropout_masks(rng, cfg: "CodecConfig", shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
  """Keep-masks for every hidden layer, shape (*shape, width) each, from ONE random draw
  (`layers.keep_masks`)."""
  return layers.keep_masks(rng, shape, cfg.hidden, (cfg.dropout,) * len(cfg.hidden))


def _module(cfg: CodecConfig) -> LabelEncoder:
  return LabelEncoder(cfg.hidden, cfg.embedding_dim, cfg.dropout, cfg.leaky_slope)


@dataclasses.dataclass(frozen=True)
class Packing:
  """The formats of one model, padded to `width` variables each (static, hashable by identity).

  `conditions` optionally names the mapping datasets an encoder may be told about: their one-hot
  is appended to the padded labels (all zeros = unconditioned), so each rater population can have
  its own way into the one shared space while every head stays shared.
  """

  layout: formats.HeadLayout
  width: int
  rows_FxW: np.ndarray  # bank row of each (format, variable); padded entries point at row 0
  mask_FxW: np.ndarray  # 1.0 for real variables
  kind_F: np.ndarray  # 0 regression, 1 classes, 2 multi-label
  conditions: tuple[str, ...] = ()

  @property
  def input_width(self) -> int:
    return self.width + len(self.conditions)

  @classmethod
  def of(cls, layout: formats.HeadLayout, conditions: tuple[str, ...] = ()) -> "Packing":
    fmts = [layout.format(n) for n in layout.formats]
    width = max(f.size for f in fmts)
    rows = np.zeros((len(fmts), width), np.int32)
    mask = np.zeros((len(fmts), width), np.float32)
    for i, f in enumerate(fmts):
      sl = layout.rows(f.name)
      rows[i, :f.size] = np.arange(sl.start, sl.stop)
      mask[i, :f.size] = 1.0
    kinds = np.asarray([_KIND_ID[f.kind] for f in fmts], np.int32)
    return cls(layout, width, rows, mask, kinds, tuple(conditions))

  def index(self, name: str) -> int:
    if name not in self.layout.formats:
      raise KeyError(f"format {name!r} is not in this model; it has {list(self.layout.formats)}")
    return self.layout.formats.index(name)

  def pad(self, y_NxV) -> np.ndarray:
    y_NxV = np.asarray(y_NxV, np.float32)
    out = np.zeros((y_NxV.shape[0], self.width), np.float32)
    out[:, :y_NxV.shape[1]] = y_NxV
    return out

  def encoder_input(self, y_BxW, condition_B=None):
    """Padded labels plus the one-hot of each row's dataset (index -1 or None: unconditioned)."""
    if not self.conditions:
      return y_BxW
    if condition_B is None:
      condition_B = jnp.full(y_BxW.shape[:1], -1)
    onehot = jax.nn.one_hot(condition_B, len(self.conditions), dtype=y_BxW.dtype)
    return jnp.concatenate([y_BxW, onehot], axis=-1)


def init_params(rng: jax.Array, cfg: CodecConfig, packing: Packing) -> dict:
  keys = jax.random.split(rng, len(packing.layout.formats) + 1)
  module = _module(cfg)
  trees = []
  conds = len(packing.conditions)
  for key, name in zip(keys[1:], packing.layout.formats):
    # Initialised at the format's own input width (fan-in), then padded with zero rows.
    size = packing.layout.format(name).size
    tree = module.init(key, jnp.zeros((1, size + conds)), deterministic=True)["params"]
    first = tree["Dense_0"]
    kernel = jnp.zeros((packing.input_width, first["kernel"].shape[1]))
    kernel = kernel.at[:size].set(first["kernel"][:size]).at[packing.width:].set(first["kernel"][size:])
    trees.append({**tree, "Dense_0": {**first, "kernel": kernel}})
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  # Same scale as a Dense kernel of fan-in embedding_dim, from a plain (untruncated) normal.
  bank = jax.random.normal(keys[0], (packing.layout.num_rows, cfg.embedding_dim))
  return {"encoders": stacked, "bank": bank / jnp.sqrt(cfg.embedding_dim)}


def encoder_of(params, f) -> dict:
  """The Flax params of format index f's encoder: its slice of the stacked encoders."""
  return jax.tree.map(lambda x: x[f], params["encoders"])


def stacked_gradient(grad_a, fa, grad_b, fb, encoders) -> dict:
  """Gradient of the stacked `encoders` from the gradients of encoders fa and fb: zero for every
  other format, their sum where fa == fb (what the transpose of the two slices gives). Being
  elementwise, XLA fuses it into the optimizer update; differentiating through the slices instead
  made a zeroed stack per leaf and scattered into it, every step (~10% of a CPU step)."""
  def one(a, b, stack):
    format_F = jnp.arange(stack.shape[0]).reshape(-1, *([1] * a.ndim))
    return jnp.where(format_F == fa, a[None], 0.0) + jnp.where(format_F == fb, b[None], 0.0)
  return jax.tree.map(one, grad_a, grad_b, encoders)


def encode(params, cfg: CodecConfig, f, y_BxW, *, dropout_rng=None, masks=None):
  """Embeds padded labels (`Packing.encoder_input` when the model is conditioned) with the encoder
  of format index f; dropout iff an rng or masks are given."""
  if dropout_rng is not None:
    masks = dropout_masks(dropout_rng, cfg, y_BxW.shape[:1])
  return apply_encoder(encoder_of(params, f), cfg, y_BxW, masks=masks)


def apply_encoder(encoder, cfg: CodecConfig, y_BxW, *, masks=None):
  """One encoder's Flax params applied to (padded) labels; dropout iff masks are given."""
  return _module(cfg).apply({"params": encoder}, y_BxW, masks=masks)


def decode(params, packing: Packing, f, e_BxE):
  """Head of format index f: bias-free linear map, rows from the shared bank; padded columns junk."""
  return e_BxE @ params["bank"][jnp.asarray(packing.rows_FxW)[f]].T


def masked_loss(packing: Packing, f, pred_BxW, y_BxW):
  """ℓ_F (docs/method.md) on the real columns (`losses.format_loss` with the format's column mask).

  Only the kinds this model has are computed (the common all-regression model pays for MSE alone).
  """
  mask_W = jnp.asarray(packing.mask_FxW)[f]
  kind = jnp.asarray(packing.kind_F)[f]
  by_kind = {_KIND_ID[k]: functools.partial(loss, pred_BxW, y_BxW, mask_W)
             for k, loss in losses.LOSS_OF_KIND.items()}
  return _select_kind(packing, kind, by_kind)


def _select_kind(packing: Packing, kind, by_kind: dict):
  """by_kind[kind]() for a traced kind, building only the kinds present in this model."""
  present = sorted(set(packing.kind_F.tolist()))
  out = by_kind[present[-1]]()
  for k in present[:-1]:
    out = jnp.where(kind == k, by_kind[k](), out)
  return out


def pair_loss(params, cfg: CodecConfig, packing: Packing, weights: LossWeights, fa, fb,
              y_a_BxW, y_b_BxW, dropout_rng=None, masks=None, condition_B=None):
  """The stage-1 loss for one batch of a mapping dataset (A, B); returns (loss, terms).

  Dropout: from `dropout_rng`, or `masks` = (masks of encoder A, masks of encoder B); neither means
  deterministic. `condition_B`: dataset index per row for a conditioned model (-1: none)."""
  if dropout_rng is not None:
    masks = dropout_masks(dropout_rng, cfg, (2, y_a_BxW.shape[0]))
    masks = (tuple(m[0] for m in masks), tuple(m[1] for m in masks))
  return selected_pair_loss(encoder_of(params, fa), encoder_of(params, fb), params["bank"], cfg,
                            packing, weights, fa, fb, y_a_BxW, y_b_BxW, masks, condition_B)


def selected_pair_loss(encoder_a, encoder_b, bank_VxE, cfg: CodecConfig, packing: Packing,
                       weights: LossWeights, fa, fb, y_a_BxW, y_b_BxW, masks=None, condition_B=None):
  """`pair_loss` given the two encoders already picked out of the stack, so that a gradient can
  be taken with respect to them alone (the stage-1 step does, see `stacked_gradient`)."""
  masks_a, masks_b = (None, None) if masks is None else masks
  e_a = apply_encoder(encoder_a, cfg, packing.encoder_input(y_a_BxW, condition_B), masks=masks_a)
  e_b = apply_encoder(encoder_b, cfg, packing.encoder_input(y_b_BxW, condition_B), masks=masks_b)
  # Both embeddings through both heads in ONE matmul with one gather of head rows; the four
  # [B, W] predictions are its blocks (same products as four `decode` calls, a quarter of the
  # tiny kernels, which on CPU cost more to launch than to compute).
  B, W = y_a_BxW.shape[0], packing.width
  rows_F = jnp.asarray(packing.rows_FxW)
  pred = jnp.concatenate([e_a, e_b]) @ bank_VxE[jnp.concatenate([rows_F[fa], rows_F[fb]])].T
  a_through_a, a_through_b = pred[:B, :W], pred[:B, W:]
  b_through_a, b_through_b = pred[B:, :W], pred[B:, W:]

  def target_term(f, pred_BxW, y_BxW):
    scale = jnp.where(jnp.asarray(packing.kind_F)[f] == 0, 1.0, weights.class_target)
    return scale * masked_loss(packing, f, pred_BxW, y_BxW)

  terms = {
      "reconstruction": (target_term(fa, a_through_a, y_a_BxW)
                         + target_term(fb, b_through_b, y_b_BxW)),
      "mapping": target_term(fb, a_through_b, y_b_BxW) + target_term(fa, b_through_a, y_a_BxW),
      "similarity": losses.embedding_similarity(e_a, e_b),
      "sharing": losses.soft_sharing_loss(bank_VxE, jnp.asarray(packing.layout.tie_pairs)),
  }
  total = sum(getattr(weights, name) * value for name, value in terms.items())
  return total, terms


def masked_scores(packing: Packing, f, pred_NxW, y_NxW, n):
  """Score of target format f over the first n rows: Pearson r per variable, or accuracy/macro F1
  in entry 0 for class formats (see `score_mask`). Only the kinds this model has are computed."""
  mask_W = jnp.asarray(packing.mask_FxW)[f]
  kind = jnp.asarray(packing.kind_F)[f]
  first_W = lambda score: jnp.zeros_like(mask_W).at[0].set(score)
  return _select_kind(packing, kind, {
      0: lambda: metrics.pearson(pred_NxW, y_NxW, n),
      1: lambda: first_W(metrics.accuracy(pred_NxW, y_NxW, n, mask_W)),
      2: lambda: first_W(metrics.macro_f1(pred_NxW, y_NxW, n, mask_W))})


def score_mask(packing: Packing, f) -> jax.Array:
  """Real entries of masked_scores: every variable for regression, entry 0 for class formats."""
  single_W = jnp.zeros((packing.width,)).at[0].set(1.0)
  return jnp.where(jnp.asarray(packing.kind_F)[f] == 0, jnp.asarray(packing.mask_FxW)[f], single_W)


def map_padded(params, cfg: CodecConfig, packing: Packing, src, tgt, y_NxW, condition_N=None):
  """Deterministic source -> target prediction through the shared space (padded in and out)."""
  return decode(params, packing, tgt, encode(params, cfg, src, packing.encoder_input(y_NxW, condition_N)))
