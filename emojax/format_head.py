"""A label format learned onto a frozen space: its label encoder E_F and its bias-free head H_F.

`emojax.new_format` learns them against a trained model's frozen space; the loaded
`NewFormatModel` (`emojax.api`) rebuilds them from its export. E_F is the codec's label encoder
at the format's width, H_F is scaled as the codec's head bank.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from emojax import codec, formats


def label_encoder(cfg: codec.CodecConfig) -> codec.LabelEncoder:
  return codec.LabelEncoder(cfg.hidden, cfg.embedding_dim, cfg.dropout, cfg.leaky_slope)


def init_params(rng, cfg: codec.CodecConfig, fmt: formats.LabelFormat) -> dict:
  """{"encoder": label encoder at the format's width, "head": H_VxE}, scaled as the codec's bank."""
  k_enc, k_head = jax.random.split(rng)
  enc = label_encoder(cfg).init(k_enc, jnp.zeros((1, fmt.size)), deterministic=True)["params"]
  head = jax.random.normal(k_head, (fmt.size, cfg.embedding_dim)) / jnp.sqrt(cfg.embedding_dim)
  return {"encoder": enc, "head": head}
