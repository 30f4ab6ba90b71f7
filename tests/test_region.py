"""The label region and the stage-2 readout that uses it (`emojax.region`, `ContentConfig.readout`):
the residual operator by hand and on a trained codec (invisible to the heads it is built from), the
readout folded into an encoder's last layer, what `train_content.region_readout` moves and keeps,
and the error for a stage-1 pair this process does not know."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emojax import content_data, content_plan, geometry, region
from emojax import train_content as tc

GERMAN = ("schmidtke_vad", "briesemeister_be5")


def test_conditional_residual_by_hand():
  # head reads z1; cov [[1, .5], [.5, 1]]: E[z2 | z1] = .5 z1, so the residual of (2, 7) is (0, 6)
  N = geometry.conditional_residual(np.array([[1.0, 0]]), np.array([[1.0, 0.5], [0.5, 1]]))
  chex.assert_trees_all_close(N, np.array([[0.0, -0.5], [0.0, 1.0]]), atol=1e-5)
  chex.assert_trees_all_close(np.array([2.0, 7]) @ N, np.array([0.0, 6.0]), atol=1e-5)
  with pytest.raises(ValueError, match="cov must be"):
    geometry.conditional_residual(np.ones((1, 3)), np.eye(2))


@pytest.fixture(scope="module")
def setup(tiny_stage1, tmp_path_factory):
  cfg = tc.ContentConfig(stage1=str(tiny_stage1), datasets=GERMAN, seeds=(0,), batch_size=64)
  model, _ = tc.load_stage1(cfg.stage1)
  features = tmp_path_factory.mktemp("features")
  data = {n: content_data.load_words(n, cfg.vectors, features) for n in GERMAN}
  return cfg, model, tc.Pool(data, model.packing, model, tc.augment_map(cfg.augment))


def test_residual_is_invisible_to_its_heads(setup):
  _, model, _ = setup
  bank = np.asarray(model.params["bank"])
  mu, cov = region.fit(model)
  chex.assert_shape((mu, cov), ((bank.shape[1],), (bank.shape[1],) * 2))
  for fmts in (("vad",), ("be5",), ("vad", "be5")):
    N = region.residual(model, cov, fmts)
    for fmt in fmts:  # every head it is built from reads nothing of the residual
      chex.assert_trees_all_close(bank[model.layout.rows(fmt)] @ N.T, 0.0, atol=2e-3)
    chex.assert_trees_all_close(N @ N, N, atol=2e-3)  # a projection: the residual of a residual is itself
  chex.assert_trees_all_equal(region.residual(model, cov, ()), np.zeros_like(cov))


def _train(setup, epochs: int = 1):
  """Bsl and Sng encoders of one German lexicon after `epochs` compiled epochs: params [2, ...]."""
  cfg, model, pool = setup
  runs = [content_plan.Run(c, (GERMAN[0],), 0) for c in ("Bsl", "Sng")]
  arrays = tc.run_arrays(runs, pool, model.packing, cfg, num_slots=1)
  module = tc.encoder_module(cfg.encoder, 100, model.packing.width)
  epoch_fn = tc.make_epoch_fn(cfg, module, model.packing, tc.content_mesh(1), 1, int(arrays["steps"].max()))
  state = tc.init_state(cfg, module, pool.arrays["x"].shape[1], jnp.asarray(arrays["key"]))
  device = jax.tree.map(jnp.asarray, (arrays, model.params, pool.arrays))
  for e in range(epochs):
    state, _ = epoch_fn(state, *device, jnp.int32(e))
  return jax.device_get(state["params"]), module


def test_fold_into_embed_moves_the_output_to_the_conditional_mean():
  rng = np.random.default_rng(0)
  W, L = rng.normal(size=(2, 6)), rng.normal(size=(6, 6))
  mu, cov = rng.normal(size=6).astype(np.float32), (L @ L.T + np.eye(6)).astype(np.float32)
  params = {"embed": {"kernel": rng.normal(size=(4, 6)), "bias": rng.normal(size=6)}, "other": np.ones(3)}
  h = rng.normal(size=(5, 4))
  folded = region.fold_into_embed(params, mu, geometry.conditional_residual(W, cov))
  e = h @ params["embed"]["kernel"] + params["embed"]["bias"]
  got = h @ folded["embed"]["kernel"] + folded["embed"]["bias"]
  chex.assert_trees_all_close(got, geometry.conditional_mean(e, W, mu, cov), atol=1e-4)
  chex.assert_trees_all_close(got @ W.T, e @ W.T, atol=1e-3)  # what the trained head reads
  assert folded["other"] is params["other"]
  same = region.fold_into_embed(params, mu, np.zeros((6, 6), np.float32))  # N = 0: unchanged
  chex.assert_trees_all_close(same["embed"], params["embed"], atol=1e-6)


def test_readout_moves_sng_and_aug_keeps_bsl_and_their_own_heads(setup):
  cfg, model, pool = setup
  cfg = dataclasses.replace(cfg, readout="region")
  trained, module = _train(setup)
  runs = [content_plan.Run(c, (GERMAN[0],), 0) for c in ("Bsl", "Sng")]
  mu, cov = region.fit(model)
  read = tc.region_readout(cfg, runs, trained, model, (mu, cov), model.packing)
  chex.assert_trees_all_equal(jax.tree.map(lambda a: a[0], read), jax.tree.map(lambda a: a[0], trained))
  assert tc.region_readout(dataclasses.replace(cfg, readout="raw"), runs, trained, model, (mu, cov),
                           model.packing) is trained
  x = pool.arrays["x"][pool.rows(GERMAN[0], "test")]
  embed = lambda p: np.asarray(module.apply({"params": jax.tree.map(lambda a: a[1], p)}, x, deterministic=True)[0])
  raw, moved = embed(trained), embed(read)
  bank = np.asarray(model.params["bank"])
  W_vad, W_be5 = bank[model.layout.rows("vad")], bank[model.layout.rows("be5")]
  chex.assert_trees_all_close(moved @ W_vad.T, raw @ W_vad.T, atol=1e-3)  # its own head: unchanged
  chex.assert_trees_all_close(moved, geometry.conditional_mean(raw, W_vad, mu, cov), atol=1e-3)
  assert not np.allclose(moved @ W_be5.T, raw @ W_be5.T, atol=1e-2)  # a foreign head: the region's reading


def test_a_stage1_pair_this_process_does_not_know_is_named():
  import types
  stage1 = types.SimpleNamespace(config=types.SimpleNamespace(pairs=("my_own_pair",)), workdir="/tmp/my_codec")
  with pytest.raises(ValueError, match=r"'my_own_pair' is not declared.*readout='raw'"):
    region.fit(stage1)
