"""Pure functions of the codec checked with chex: losses, metrics, padding and masking."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emojax import codec, formats, losses, metrics


def test_cosine_loss_against_hand_computation():
  bank = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
  pairs = jnp.array([[0, 1], [0, 2]], jnp.int32)
  # cos(0,1) = 1/sqrt(2); cos(0,2) = 0  ->  mean(1 - cos) = (1 - 0.7071 + 1) / 2
  chex.assert_trees_all_close(losses.soft_sharing_loss(bank, pairs), (2 - 2 ** -0.5) / 2, atol=1e-6)
  chex.assert_shape(losses.cosine_rows(bank, pairs), (2,))


def test_cosine_loss_is_invariant_to_row_scaling():
  bank = jax.random.normal(jax.random.key(0), (6, 100))
  pairs = jnp.array([[0, 3], [1, 4], [2, 5]], jnp.int32)
  scaled = bank * jnp.array([0.1, 3.0, 7.0, 2.0, 0.5, 11.0])[:, None]
  chex.assert_trees_all_close(losses.soft_sharing_loss(bank, pairs),
                              losses.soft_sharing_loss(scaled, pairs), atol=1e-6)
  assert float(losses.soft_sharing_loss(bank, jnp.zeros((0, 2), jnp.int32))) == 0.0


def test_pearson_matches_numpy():
  rng = np.random.default_rng(0)
  p, t = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
  want = [np.corrcoef(p[:, i], t[:, i])[0, 1] for i in range(3)]
  chex.assert_trees_all_close(metrics.pearson(jnp.asarray(p), jnp.asarray(t)), jnp.asarray(want),
                              atol=1e-5)


def test_f1_and_accuracy_match_numpy_and_ignore_padding():
  rng = np.random.default_rng(4)
  logits, gold = rng.normal(size=(40, 6)).astype(np.float32), rng.random((40, 6)) > 0.6
  pred = logits > 0
  tp, fp, fn = (pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0)
  want_C = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
  y = gold.astype(np.float32)
  chex.assert_trees_all_close(metrics.per_class_f1(logits, y), want_C.astype(np.float32), atol=1e-6)
  chex.assert_trees_all_close(metrics.macro_f1(logits, y), np.float32(want_C.mean()), atol=1e-6)
  # Padded rows (past n) and padded columns (mask 0) change nothing.
  padded_l = np.full((50, 8), 5.0, np.float32); padded_l[:40, :6] = logits
  padded_y = np.ones((50, 8), np.float32); padded_y[:40, :6] = y
  mask_C = np.asarray([1.0] * 6 + [0.0] * 2, np.float32)
  assert float(metrics.macro_f1(padded_l, padded_y, 40, mask_C)) == float(metrics.macro_f1(logits, y))
  onehot = np.eye(6, dtype=np.float32)[logits.argmax(1)]
  onehot[:10] = np.roll(onehot[:10], 1, axis=1)  # 10 of 40 wrong
  assert float(metrics.accuracy(logits, onehot)) == 0.75
  padded_1h = np.zeros((50, 8), np.float32); padded_1h[:40, :6] = onehot
  assert float(metrics.accuracy(padded_l, padded_1h, 40, mask_C)) == 0.75


@pytest.fixture(scope="module")
def model():
  layout = formats.head_layout(["va", "be5", "isear7"])
  packing = codec.Packing.of(layout)
  cfg = codec.CodecConfig()
  return cfg, packing, codec.init_params(jax.random.key(0), cfg, packing)


def _unpadded_encoder(params, packing, name):
  f = packing.index(name)
  one = jax.tree.map(lambda x: x[f], params["encoders"])
  size = formats.get_format(name).size
  return {**one, "Dense_0": {**one["Dense_0"], "kernel": one["Dense_0"]["kernel"][:size]}}


def test_params_layout(model):
  cfg, packing, params = model
  chex.assert_shape(params["bank"], (2 + 5 + 7, 100))
  chex.assert_shape(params["encoders"]["Dense_0"]["kernel"], (3, 7, 128))
  # Padding rows of a narrow format's first kernel start (and stay, see below) at zero.
  assert float(jnp.abs(params["encoders"]["Dense_0"]["kernel"][0, 2:]).max()) == 0.0


@pytest.mark.parametrize("name", ["va", "be5", "isear7"])
def test_masked_loss_equals_per_format_loss(model, name):
  cfg, packing, params = model
  fmt = formats.get_format(name)
  rng = np.random.default_rng(1)
  pred = rng.normal(size=(8, fmt.size)).astype(np.float32)
  if fmt.is_classes:
    y = np.eye(fmt.size, dtype=np.float32)[rng.integers(0, fmt.size, 8)]
  else:
    y = rng.uniform(fmt.low, fmt.high, size=(8, fmt.size)).astype(np.float32)
  padded_pred = packing.pad(pred)
  padded_pred[:, fmt.size:] = 123.0  # junk in padded columns must not matter
  got = codec.masked_loss(packing, packing.index(name), jnp.asarray(padded_pred), jnp.asarray(packing.pad(y)))
  chex.assert_trees_all_close(got, losses.format_loss(fmt, jnp.asarray(pred), jnp.asarray(y)), atol=1e-5)


def test_pair_loss_terms_against_unpadded_computation(model):
  cfg, packing, params = model
  rng = np.random.default_rng(2)
  y_a = rng.uniform(-1, 1, size=(16, 2)).astype(np.float32)
  y_b = rng.uniform(0, 1, size=(16, 5)).astype(np.float32)
  weights = codec.LossWeights()
  total, terms = codec.pair_loss(params, cfg, packing, weights, packing.index("va"),
                                 packing.index("be5"), jnp.asarray(packing.pad(y_a)),
                                 jnp.asarray(packing.pad(y_b)))
  module = codec.LabelEncoder(cfg.hidden, cfg.embedding_dim, cfg.dropout, cfg.leaky_slope)
  e_a = module.apply({"params": _unpadded_encoder(params, packing, "va")}, y_a, deterministic=True)
  e_b = module.apply({"params": _unpadded_encoder(params, packing, "be5")}, y_b, deterministic=True)
  h_a, h_b = params["bank"][0:2], params["bank"][2:7]
  mse = lambda p, t: jnp.mean((p - t) ** 2)
  want = {"reconstruction": mse(e_a @ h_a.T, y_a) + mse(e_b @ h_b.T, y_b),
          "mapping": mse(e_a @ h_b.T, y_b) + mse(e_b @ h_a.T, y_a),
          "similarity": mse(e_a, e_b),
          "sharing": losses.soft_sharing_loss(params["bank"], jnp.asarray(packing.layout.tie_pairs))}
  chex.assert_trees_all_close(terms, want, atol=1e-5)
  chex.assert_trees_all_close(total, sum(want.values()), atol=1e-5)


def test_class_targets_are_down_weighted(model):
  cfg, packing, params = model
  y_a = jnp.asarray(packing.pad(np.full((4, 5), 0.5, np.float32)))
  y_b = jnp.asarray(packing.pad(np.eye(7, dtype=np.float32)[:4]))
  args = (params, cfg, packing)
  fa, fb = packing.index("be5"), packing.index("isear7")
  _, full = codec.pair_loss(*args, codec.LossWeights(class_target=1.0), fa, fb, y_a, y_b)
  _, tenth = codec.pair_loss(*args, codec.LossWeights(class_target=0.1), fa, fb, y_a, y_b)
  be5_part = codec.masked_loss(packing, fa, codec.decode(params, packing, fa,
                                                         codec.encode(params, cfg, fa, y_a)), y_a)
  class_part = full["reconstruction"] - be5_part
  chex.assert_trees_all_close(tenth["reconstruction"], be5_part + 0.1 * class_part, atol=1e-5)


def test_masked_scores_match_numpy(model):
  cfg, packing, params = model
  rng = np.random.default_rng(3)
  pred, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
  padded_p = np.zeros((40, 7), np.float32); padded_p[:30, :5] = pred
  padded_y = np.zeros((40, 7), np.float32); padded_y[:30, :5] = y
  got = codec.masked_scores(packing, packing.index("be5"), jnp.asarray(padded_p), jnp.asarray(padded_y), 30)
  want = [np.corrcoef(pred[:, i], y[:, i])[0, 1] for i in range(5)]
  chex.assert_trees_all_close(got[:5], jnp.asarray(want, jnp.float32), atol=1e-5)
  mask = codec.score_mask(packing, packing.index("be5"))
  np.testing.assert_array_equal(np.asarray(mask), [1, 1, 1, 1, 1, 0, 0])
  # accuracy of a class format lives in entry 0
  onehot = np.eye(7, dtype=np.float32)[rng.integers(0, 7, 30)]
  padded = np.zeros((40, 7), np.float32); padded[:30] = onehot
  acc = codec.masked_scores(packing, packing.index("isear7"), jnp.asarray(padded), jnp.asarray(padded), 30)
  assert float(acc[0]) == 1.0


class EncodeTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_encode_shapes_and_dropout(self):
    packing = codec.Packing.of(formats.head_layout(["va", "be5"]))
    cfg = codec.CodecConfig()
    params = codec.init_params(jax.random.key(0), cfg, packing)
    y = jnp.ones((4, 5))
    e = self.variant(lambda p, y: codec.encode(p, cfg, 1, y))(params, y)
    chex.assert_shape(e, (4, 100))
    chex.assert_tree_all_finite(e)
    dropped = codec.encode(params, cfg, 1, y, dropout_rng=jax.random.key(1))
    assert not np.allclose(np.asarray(e), np.asarray(dropped))


def test_padding_rows_get_no_gradient(model):
  cfg, packing, params = model
  y_a = jnp.asarray(packing.pad(np.full((4, 2), 0.3, np.float32)))
  y_b = jnp.asarray(packing.pad(np.full((4, 5), 0.3, np.float32)))
  grads = jax.grad(lambda p: codec.pair_loss(p, cfg, packing, codec.LossWeights(), 0, 1, y_a, y_b,
                                             jax.random.key(0))[0])(params)
  kernel_grad = grads["encoders"]["Dense_0"]["kernel"]
  assert float(jnp.abs(kernel_grad[0, 2:]).max()) == 0.0  # va's padding rows
  assert float(jnp.abs(kernel_grad[2]).max()) == 0.0  # isear7 was not in this batch
  chex.assert_tree_all_finite(grads)


@pytest.mark.parametrize("fa, fb", [(0, 1), (1, 0), (2, 0), (1, 1)])
def test_step_gradient_equals_gradient_of_the_whole_stack(model, fa, fb):
  """The stage-1 step differentiates the two picked encoders and rebuilds the stack's gradient
  with `stacked_gradient`; it must equal differentiating `pair_loss` through the whole stack
  (zero for other formats, the sum of both slices when a pair uses one format twice)."""
  cfg, packing, params = model
  rng = np.random.default_rng(2)
  y_a = jnp.asarray(packing.pad(rng.uniform(-1, 1, (6, 2)).astype(np.float32)))
  y_b = jnp.asarray(packing.pad(rng.uniform(0, 1, (6, 5)).astype(np.float32)))
  masks = codec.dropout_masks(jax.random.key(3), cfg, (2, 6))
  masks = (tuple(m[0] for m in masks), tuple(m[1] for m in masks))
  args = (cfg, packing, codec.LossWeights(), fa, fb, y_a, y_b)
  whole = jax.grad(lambda p: codec.pair_loss(p, *args, masks=masks)[0])(params)
  picked = (codec.encoder_of(params, fa), codec.encoder_of(params, fb), params["bank"])
  g_a, g_b, g_bank = jax.grad(lambda t: codec.selected_pair_loss(*t, *args, masks=masks)[0])(picked)
  rebuilt = {"encoders": codec.stacked_gradient(g_a, fa, g_b, fb, params["encoders"]), "bank": g_bank}
  chex.assert_trees_all_equal_shapes_and_dtypes(rebuilt, whole)
  chex.assert_trees_all_close(rebuilt, whole, atol=1e-6)
  others = np.array([f for f in range(3) if f not in (fa, fb)])
  assert all(float(jnp.abs(x[others]).max()) == 0.0 for x in jax.tree.leaves(rebuilt["encoders"]))
