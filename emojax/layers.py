"""Building blocks every emojax network shares: dropout keep-masks and the lecun-normal initialiser.

Dropout draws its keep-masks from a counter-based hash instead of `jax.random.bernoulli`: one
random 32-bit seed per call, then murmur3's 32-bit finaliser of each entry's position, kept when it
falls below keep * 2^32. That is ample randomness for dropout at a few integer ops per entry,
where threefry plus a float compare took ~40% of a stage-1 step on CPU; one call draws the masks
of every layer (and of a whole epoch, see `train_mapping`), and positions come from an iota, so
sharded and unsharded runs draw the same masks. Stage 1 (`codec`), stage 2 (`train_content`) and
full fine-tuning (`finetune`) use `keep_masks`; Flax's own `nn.Dropout` remains only behind the
encoders' `deterministic=False` path, which the label-to-label baselines (stage 1's baseline, stage
2's BsZ nets) train with: redrawing their dropout would move their published numbers.
`lecun_normal` is Flax's default Dense kernel init (truncated normal, variance 1/fan_in) drawn
for many kernels at once: a vmapped `module.init` compiles one random chain per layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

# Standard deviation of a standard normal truncated to [-2, 2]: dividing such draws by it gives
# unit variance (the constant Flax's `variance_scaling(..., "truncated_normal")` divides by).
TRUNCATED_STD = 0.87962566103423978


def keep_masks(rng: jax.Array, shape: Sequence[int], widths: Sequence[int],
               rates: Sequence[float]) -> tuple[jax.Array, ...]:
  """Boolean keep-masks of consecutive dropout layers from ONE random draw: mask i has shape
  (*shape, widths[i]) and drops entries with probability rates[i] (rate 0 keeps every entry)."""
  if len(widths) != len(rates):
    raise ValueError(f"one dropout rate per layer: widths {tuple(widths)}, rates {tuple(rates)}")
  full = (*shape, sum(widths))
  rate_C = np.repeat(np.asarray(rates, np.float64), widths)
  threshold_C = np.minimum(np.round((1.0 - rate_C) * 2**32), 2**32 - 1).astype(np.uint32)
  seed = jax.random.bits(rng, (), jnp.uint32)
  h = jax.lax.iota(jnp.uint32, math.prod(full)).reshape(full) * jnp.uint32(0x9E3779B1) + seed
  h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
  h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
  h = h ^ (h >> 16)
  if threshold_C.size and (threshold_C == threshold_C[0]).all():
    keep = h < jnp.uint32(threshold_C[0])  # one rate: a scalar compare
  else:
    keep = h < jnp.asarray(threshold_C)
  if (rate_C == 0.0).all():
    keep = jnp.ones(full, bool)
  elif (rate_C == 0.0).any():  # threshold 2^32 - 1 would still drop the hash value 2^32 - 1
    keep = keep | jnp.asarray(rate_C == 0.0)
  bounds = np.cumsum((0, *widths))
  return tuple(keep[..., a:b] for a, b in zip(bounds[:-1], bounds[1:]))


def dropout(x: jax.Array, keep: jax.Array, rate: float) -> jax.Array:
  """Inverted dropout with a given keep-mask: kept entries scaled by 1 / (1 - rate)."""
  return jnp.where(keep, x / (1.0 - rate), 0.0)


def lecun_normal(key: jax.Array, shapes: Sequence[Sequence[int]]) -> list[jax.Array]:
  """Kernels of the given [fan_in, ...] shapes from ONE truncated-normal draw, each with variance
  1/fan_in: Flax's default `nn.Dense` kernel init (there `* stddev` with stddev = sqrt(1/fan_in) /
  TRUNCATED_STD, so values agree to rounding, not bit for bit)."""
  sizes = [math.prod(s) for s in shapes]
  z_P = jax.random.truncated_normal(key, -2.0, 2.0, (sum(sizes),)) / TRUNCATED_STD
  bounds = np.cumsum((0, *sizes))
  return [z_P[a:b].reshape(s) / math.sqrt(s[0]) for s, a, b in zip(shapes, bounds[:-1], bounds[1:])]
