"""The networks a stage-2 model adds on top of the frozen stage-1 space, shared by training and loading.

The content encoder G (`ContentEncoder`: features -> Dropout/Dense/LeakyReLU blocks -> Dense 100,
plus Bsl's own output layer on the same trunk) is built from an `EncoderConfig` by
`encoder_module`; `exported_params` is the part of its parameters a model exports, `backbone_of`
the trained part of the ported MobileNetV2 that image fine-tuning exports. The trainers
(`train_content`, `finetune_image`, `new_format`) and the loaded models (`emojax.api`) both build
them here, so loading a model never imports a trainer.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from emojax import layers


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """Content encoder: Dropout(dropout[0]), then per hidden width Dense -> LeakyReLU -> Dropout."""

  hidden: tuple[int, ...] = (256, 128)  # words (the paper's); texts/images: () on pooled features
  dropout: tuple[float, ...] = (0.2, 0.5, 0.5)  # texts: (0.1, 0.3); images: (0.5,)
  leaky_slope: float = 0.01


class ContentEncoder(nn.Module):
  """Features -> emotion embedding; with `own_width`, also Bsl's own output layer (same trunk)."""

  hidden: tuple[int, ...]
  dropout: tuple[float, ...]
  leaky_slope: float
  embedding_dim: int
  own_width: int = 0

  @nn.compact
  def __call__(self, x_BxD, *, deterministic: bool = True, keep=None):
    """Dropout from Flax's rng stream (deterministic=False) or from `keep` masks (`dropout_keep`)."""
    def drop(i, h):
      if keep is not None:
        return layers.dropout(h, keep[i], self.dropout[i])
      return nn.Dropout(self.dropout[i])(h, deterministic=deterministic)

    h = drop(0, x_BxD)
    for i, width in enumerate(self.hidden):
      h = drop(i + 1, nn.leaky_relu(nn.Dense(width)(h), self.leaky_slope))
    e_BxE = nn.Dense(self.embedding_dim, name="embed")(h)
    if not self.own_width:
      return e_BxE
    return e_BxE, nn.Dense(self.own_width, name="own")(h)


def encoder_module(cfg: EncoderConfig, embedding_dim: int, own_width: int = 0) -> ContentEncoder:
  if len(cfg.dropout) != len(cfg.hidden) + 1:
    raise ValueError(f"encoder.dropout needs one rate before the first layer and one per hidden "
                     f"layer: {len(cfg.hidden) + 1} values, got {cfg.dropout}")
  return ContentEncoder(cfg.hidden, cfg.dropout, cfg.leaky_slope, embedding_dim, own_width)


def exported_params(params):
  """The encoder as `emojax.load` serves it: the shared-space path, without Bsl's own output."""
  return {k: v for k, v in params.items() if k != "own"}


def backbone_of(params) -> dict:
  """The trained part of the ported network: everything but the ImageNet classifier."""
  return {k: params[k] for k in ("stem", "blocks", "head")}
