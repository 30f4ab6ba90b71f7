"""The ridge probe (`emojax.probe`): closed form against numpy, penalty choice on dev, bad input."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from emojax import metrics, probe


def _data(rng, n, d=6, v=2, noise=0.0):
  x = rng.normal(size=(n, d)).astype(np.float32) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
  w = rng.normal(size=(d, v))
  y = x @ w + 0.3 + noise * rng.normal(size=(n, v))
  return x, y.astype(np.float32)


def test_ridge_fit_matches_numpy_closed_form():
  rng = np.random.default_rng(0)
  x, y = _data(rng, 50, noise=0.5)
  alphas = (1e-3, 0.1, 10.0)
  w, b = probe.ridge_fit(x, y, alphas)
  chex.assert_shape(w, (3, 6, 2))
  chex.assert_shape(b, (3, 2))
  x64, y64 = x.astype(np.float64), y.astype(np.float64)
  mu, sd = x64.mean(0), x64.std(0)
  z = (x64 - mu) / sd
  for a_i, alpha in enumerate(alphas):
    wz = np.linalg.solve(z.T @ z + 50 * alpha * np.eye(6), z.T @ (y64 - y64.mean(0)))
    pred_np = z @ wz + y64.mean(0)
    pred = np.asarray(probe.ridge_predict(w[a_i], b[a_i], x))
    chex.assert_trees_all_close(pred, pred_np, atol=2e-3, rtol=2e-3)


def test_ridge_fit_recovers_a_linear_map_and_ignores_constant_features():
  rng = np.random.default_rng(1)
  x, y = _data(rng, 80)
  x = np.concatenate([x, np.full((80, 1), 7.0, np.float32)], 1)  # constant: sd 0
  w, b = probe.ridge_fit(x, y, (1e-7,))
  chex.assert_tree_all_finite((w, b))
  assert float(np.abs(w[0, -1]).max()) == 0.0
  chex.assert_trees_all_close(np.asarray(probe.ridge_predict(w[0], b[0], x)), y, atol=1e-2)


def test_ridge_probe_chooses_a_strong_penalty_for_pure_noise_features():
  rng = np.random.default_rng(2)
  x_signal, y_all = _data(rng, 860, d=2, v=1, noise=1.0)
  x_all = np.concatenate([x_signal, rng.normal(size=(860, 40)).astype(np.float32)], 1)
  cut = {"train": slice(0, 60), "dev": slice(60, 460), "test": slice(460, 860)}  # 42 features, 60 rows
  x = {p: x_all[c] for p, c in cut.items()}
  y = {p: y_all[c] for p, c in cut.items()}
  out = probe.ridge_probe(x, y)
  weak = probe.ridge_probe(x, y, alphas=(probe.ALPHAS[0],))
  assert out["alpha"] > probe.ALPHAS[0]
  assert out["dev_mean"] > weak["dev_mean"]
  chex.assert_shape(out["test"], (1,))
  assert out["test_mean"] > weak["test_mean"] and out["test_mean"] > 0.3
  w_DxV, b_V = out["weights"]  # the chosen fit, as scored
  chex.assert_shape((w_DxV, b_V), ((42, 1), (1,)))
  np.testing.assert_allclose(probe.pearson(probe.ridge_predict(w_DxV, b_V, x["test"]), y["test"]), out["test"])


def test_ridge_probe_names_bad_input():
  rng = np.random.default_rng(3)
  x, y = _data(rng, 10)
  with pytest.raises(ValueError, match="'test' is missing"):
    probe.ridge_probe({"train": x, "dev": x}, {"train": y, "dev": y})
  with pytest.raises(ValueError, match="dev: 10 feature rows but 9 label rows"):
    probe.ridge_probe({"train": x, "dev": x, "test": x}, {"train": y, "dev": y[:9], "test": y})


def test_pearson_agrees_with_the_training_metric_and_is_zero_for_a_constant_column():
  rng = np.random.default_rng(4)
  pred, target = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
  chex.assert_trees_all_close(probe.pearson(pred, target),
                              np.asarray(metrics.pearson(jnp.asarray(pred), jnp.asarray(target))),
                              atol=1e-5)
  pred[:, 1] = 2.0
  chex.assert_trees_all_close(probe.pearson(pred, target)[1], 0.0)


# ------------------------------------------------------------------ word features from MiniLM

def test_minilm_word_features_last_layer_equal_the_sentence_encoder_without_normalising():
  from emojax.encoders import bert, word_encoder
  words = ["happy", "funeral", "TO PERMIT", "war"]
  ours = word_encoder.encoder_features("minilm_l6", words)
  reference = bert.TextEncoder(max_length=32).embed(words, batch_size=8, normalize=False)
  chex.assert_trees_all_close(ours, reference, atol=1e-4)
  l2 = word_encoder.encoder_features("minilm_l2", words)
  chex.assert_shape(l2, (4, 384))
  assert np.abs(l2 - ours).max() > 0.1  # another layer, other features


def test_mpnet_tokavg_averages_the_word_pieces_over_all_layers():
  # "happy" is one word piece: <s> happy </s>, so its tokavg feature is the mean over layers 1..12
  # of the hidden state at position 1 (computed here from the plain forward of one unpadded row).
  from emojax.encoders import bert, word_encoder
  params, config = bert.load_model("mpnet")
  ids, mask, _ = bert.tokenize(["happy"], 32, tokenizer=bert.load_tokenizer("mpnet"))
  n = int(mask.sum())
  assert n == 3
  h = np.asarray(bert.bert_forward(params, ids[:, :n], mask[:, :n], config=config, all_layers=True))
  ours = word_encoder.encoder_features("mpnet_tokavg", ["happy", "funeral"])
  chex.assert_shape(ours, (2, 768))
  chex.assert_trees_all_close(ours[0], h[1:, 0, 1].mean(0), atol=1e-4)
  with pytest.raises(ValueError, match="unknown sentence-encoder word representation 'mpnet_l13'"):
    word_encoder.encoder_features("mpnet_l13", ["happy"])


def test_word_features_concatenate_and_keep_the_word_vectors_oov_rule():
  from emojax import content_data
  x, found = content_data.word_features("glove50+minilm_l1", ["happy", "qqxzzvv"])
  glove, glove_found = content_data.word_features("glove50", ["happy", "qqxzzvv"])
  chex.assert_shape(x, (2, 50 + 384))
  np.testing.assert_array_equal(found, glove_found)
  np.testing.assert_array_equal(x[0, :50], glove[0])
  assert not found[1] and not x[1].any()  # OOV for GloVe: the whole row is out
  _, found_minilm = content_data.word_features("minilm_l1", ["qqxzzvv"])
  assert found_minilm.all()  # word pieces never run out of vocabulary
  with pytest.raises(ValueError, match="empty part"):
    content_data.word_features("glove50+", ["happy"])
  with pytest.raises(ValueError, match="unknown sentence-encoder word representation 'minilm_l9'"):
    content_data.word_features("minilm_l9", ["happy"])


def test_serving_completes_the_word_vector_part_with_the_encoder_parts():
  from emojax import content_data
  from emojax.encoders import word_encoder
  words = ["happy", "qqxzzvv", "war"]
  glove, found = content_data.word_features("glove50", words)
  x = word_encoder.complete("glove50+minilm_l3", words, glove, found)
  reference, ref_found = content_data.word_features("glove50+minilm_l3", words)
  chex.assert_trees_all_close(x, reference, atol=1e-5)
  np.testing.assert_array_equal(found, ref_found)
  assert word_encoder.vector_part("glove50+minilm_l3") == "glove50"
  assert word_encoder.vector_part("minilm_l3") is None
  with pytest.raises(ValueError, match="serving supports one"):
    word_encoder.vector_part("glove50+spacy300+minilm_l3")


# ------------------------------------------------------------------ stage 2: ridge rows, AdamW

def test_ridge_rows_of_a_stage2_run_are_the_probe_on_its_features(tmp_path):
  from emojax import content_data, train_content
  data = {"schmidtke_vad": content_data.load_words("schmidtke_vad", "glove50", tmp_path)}
  rows = train_content.ridge_rows(data)
  probe_r = probe.ridge_probe(data["schmidtke_vad"].x, data["schmidtke_vad"].y)
  assert rows["rows"]["schmidtke_vad"]["test"] == probe_r["test_mean"]
  assert rows["mean"]["test"] == probe_r["test_mean"]
  assert "| schmidtke_vad |" in train_content.ridge_markdown(rows)
  assert train_content.ridge_markdown({"rows": {}}) == ""


def test_weight_decay_switches_adam_to_adamw():
  import jax.numpy as jnp
  from emojax import train_content
  from emojax.run_configs import ContentConfig
  params = {"w": jnp.ones(3)}
  zero = {"w": jnp.zeros(3)}
  for wd, shrinks in ((0.0, False), (0.1, True)):
    tx = train_content.optimizer(ContentConfig(learning_rate=0.5, weight_decay=wd))
    updates, _ = tx.update(zero, tx.init(params), params)
    assert bool((updates["w"] < 0).all()) is shrinks
