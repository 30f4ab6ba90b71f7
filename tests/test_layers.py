"""The shared building blocks of `emojax.layers`: dropout keep-masks and the lecun-normal init."""

import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emojax import codec, layers


def _murmur_keep(seed: int, shape, rate_C: np.ndarray) -> np.ndarray:
  """The documented algorithm in numpy: murmur3's 32-bit finaliser of (position, seed) < keep * 2^32."""
  with np.errstate(over="ignore"):
    h = np.arange(math.prod(shape), dtype=np.uint32).reshape(shape) * np.uint32(0x9E3779B1)
    h = h + np.uint32(seed)
    h = (h ^ (h >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    h = h ^ (h >> np.uint32(16))
  threshold_C = np.minimum(np.round((1.0 - rate_C) * 2**32), 2**32 - 1).astype(np.uint32)
  return (h < threshold_C) | (rate_C == 0.0)


class KeepMasksTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_keep_rate_shapes_and_determinism(self):
    draw = self.variant(lambda k: layers.keep_masks(k, (512, 2), (50, 256, 128), (0.2, 0.5, 0.0)))
    masks = draw(jax.random.key(1))
    chex.assert_shape(masks, [(512, 2, 50), (512, 2, 256), (512, 2, 128)])
    assert all(m.dtype == jnp.bool_ for m in masks)
    np.testing.assert_allclose([float(jnp.mean(m)) for m in masks[:2]], [0.8, 0.5], atol=0.01)
    assert bool(jnp.all(masks[2]))  # rate 0 keeps every entry
    chex.assert_trees_all_equal(masks, draw(jax.random.key(1)))  # same key, same masks
    other = draw(jax.random.key(2))
    assert not np.array_equal(np.asarray(masks[0]), np.asarray(other[0]))

  def test_masks_are_the_documented_hash(self):
    key = jax.random.key(7)
    seed = int(jax.random.bits(key, (), jnp.uint32))
    rate_C = np.repeat([0.2, 0.5], [30, 20])
    got = np.concatenate(layers.keep_masks(key, (16,), (30, 20), (0.2, 0.5)), -1)
    np.testing.assert_array_equal(got, _murmur_keep(seed, (16, 50), rate_C))

  def test_codec_and_one_rate_calls_draw_the_same_masks(self):
    cfg = codec.CodecConfig()
    key = jax.random.key(3)
    chex.assert_trees_all_equal(codec.dropout_masks(key, cfg, (4, 2)),
                                layers.keep_masks(key, (4, 2), cfg.hidden, (cfg.dropout,) * 2))
    none = codec.dropout_masks(key, codec.CodecConfig(dropout=0.0), (4,))
    assert all(bool(jnp.all(m)) for m in none)

  def test_dropout_keeps_the_expected_value(self):
    x = jnp.ones((4096, 64))
    keep, = layers.keep_masks(jax.random.key(0), (4096,), (64,), (0.3,))
    y = layers.dropout(x, keep, 0.3)
    np.testing.assert_allclose(np.unique(np.asarray(y)), [0.0, 1 / 0.7], rtol=1e-6)
    np.testing.assert_allclose(float(jnp.mean(y)), 1.0, atol=0.01)

  def test_one_rate_per_layer(self):
    with pytest.raises(ValueError, match="one dropout rate per layer"):
      layers.keep_masks(jax.random.key(0), (2,), (3, 4), (0.5,))


def test_truncated_std_is_the_std_of_the_normal_cut_at_two():
  pdf2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
  mass = math.erf(2 / math.sqrt(2))
  assert abs(layers.TRUNCATED_STD - math.sqrt(1 - 4 * pdf2 / mass)) < 1e-12


def test_lecun_normal_std_and_flax_agreement():
  key = jax.random.key(0)
  shapes = [(300, 256), (256, 128), (64, 10)]
  kernels = jax.jit(lambda k: layers.lecun_normal(k, shapes))(key)
  chex.assert_shape(kernels, shapes)
  for kernel, (fan_in, _) in zip(kernels, shapes[:2]):
    np.testing.assert_allclose(float(jnp.std(kernel)), 1 / math.sqrt(fan_in), rtol=0.03)
    bound = 2 / layers.TRUNCATED_STD / math.sqrt(fan_in)
    assert float(jnp.max(jnp.abs(kernel))) <= bound * (1 + 1e-6)
  # One kernel drawn alone is Flax's default Dense kernel from the same key, to rounding.
  one, = layers.lecun_normal(key, [(64, 10)])
  chex.assert_trees_all_close(one, nn.initializers.lecun_normal()(key, (64, 10)), rtol=1e-6, atol=1e-7)
