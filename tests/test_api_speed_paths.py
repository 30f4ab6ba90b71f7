"""The fast paths of prediction (issue 26, point 8) give the numbers of the plain paths.

Texts: `bert.length_groups` covers every text once, in length order, within batch_size and the
token budget; MiniLM features computed in length groups padded to a power of two rows equal, to
1e-5, those of one batch of every text padded to the longest, and one sentence alone equals it
inside a batch. Words: `WordVectors.key_rows` + `lookup` (one dictionary look-up per word, tokens
only for the rest) give each word the rows of `rows` / `strict_rows`; `normalize_text` returns
ASCII unchanged, as NFKC does; the bulk input check still names the first bad item.
"""

import re
import unicodedata

import chex
import numpy as np
import pytest

import emojax
from emojax import text_data
from emojax.encoders import bert, word_vectors

SENTENCES = ["What a wonderful surprise party!", "I lost my job today and my dog died",
             "ok", "The committee met on Tuesday to discuss the budget for the coming fiscal year, "
             "and after a long and heated debate it decided to postpone the vote until next month.",
             "Thanks!", "He smiled.", "We will never forget what they did to us in that terrible war."]


def test_length_groups_cover_every_text_in_order_within_the_limits():
  n_N = np.sort(np.random.default_rng(0).integers(3, 128, 300))
  for batch_size in (1, 7, 64, 300):
    groups = bert.length_groups(n_N, batch_size)
    np.testing.assert_array_equal(np.concatenate(groups), np.arange(len(n_N)))
    for g in groups:
      L = bert.padded_length(int(n_N[g].max()))
      assert 1 <= len(g) <= batch_size
      assert len(g) == 1 or bert.bucket_rows(len(g), batch_size) * L <= bert.TOKENS_PER_CALL
  assert bert.length_groups(np.zeros(0, int), 8) == []
  assert [len(g) for g in bert.length_groups(np.full(5, 10), 4)] == [4, 1]
  assert [bert.bucket_rows(n, 64) for n in (1, 2, 3, 5, 33, 64)] == [1, 2, 4, 8, 64, 64]
  assert bert.bucket_rows(70, 100) == 100 and bert.padded_length(9) == 16


def test_grouped_features_equal_one_padded_batch():
  enc = text_data._encoder(128, "minilm")
  t = bert.tokenize(SENTENCES, 128, tokenizer=enc.tokenizer)
  rows = 8  # every text in one batch, padded to the longest: no grouping, no row buckets
  ids, mask = np.zeros((rows, t.ids_BxL.shape[1]), np.int32), np.zeros((rows, t.ids_BxL.shape[1]), np.int32)
  ids[:len(SENTENCES)], mask[:len(SENTENCES)] = t.ids_BxL, t.mask_BxL
  want = np.asarray(bert.sentence_embedding(enc.params, ids, mask, config=enc.config,
                                            normalize=False))[:len(SENTENCES)]
  got = enc.embed_tokens(t, batch_size=64, normalize=False)
  chex.assert_trees_all_close(got, want, atol=1e-5)
  alone = np.concatenate([enc.embed([s], normalize=False) for s in SENTENCES])
  chex.assert_trees_all_close(alone, want, atol=1e-5)
  two = enc.embed(SENTENCES, batch_size=2, normalize=False)  # groups of at most 2 rows
  chex.assert_trees_all_close(two, want, atol=1e-5)


def test_texts_predict_does_not_depend_on_batching():
  model = emojax.load("texts_fast")  # the grouping code is the same for both encoders
  together = model.predict(SENTENCES, formats="all")
  alone = np.concatenate([model.predict([s], formats="all").to_numpy() for s in SENTENCES])
  chex.assert_trees_all_close(alone, together.to_numpy(), atol=1e-5)
  by_three = model.predict(SENTENCES, formats="all", batch_size=3, progress=False)
  chex.assert_trees_all_close(by_three.to_numpy(), together.to_numpy(), atol=1e-5)


WORDS = ["happy", "Happy", "HAPPY", "qzxqzxq", "", "TO PERMIT", "BOAR (MALE PIG)", "wild boar",
         "xqzzyv happy", "o'clock", "the", "to the", "war-torn", "café", "Root"]


@pytest.mark.parametrize("name", ["glove50", "spacy300"])
@pytest.mark.parametrize("strict", [False, True])
def test_key_rows_lookup_equals_the_per_word_rows(name, strict):
  wv = word_vectors.load_word_vectors(name)
  rows_of = wv.strict_rows if strict else wv.rows
  want_X = np.zeros((len(WORDS), wv.dim), np.float32)
  want_found = np.zeros(len(WORDS), bool)
  for i, w in enumerate(WORDS):
    rs = rows_of(w)
    if rs:
      want_X[i], want_found[i] = np.mean(wv.E_VxD[np.array(rs)], axis=0, dtype=np.float32), True
  X, found = wv.lookup(WORDS, strict=strict)
  np.testing.assert_array_equal(found, want_found)
  np.testing.assert_array_equal(X, want_X)
  key = wv.key_rows(WORDS)
  assert key.dtype == np.int64 and key.shape == (len(WORDS),)
  for w, r in zip(WORDS, key):
    assert (r >= 0) == wv.is_key(w) and (r < 0 or [r] == wv.rows(w))


def test_normalize_text_leaves_ascii_as_nfkc_does():
  for s in ["happy", "Hello, World!", "tab\there", "a\x00b", "".join(map(chr, range(128)))]:
    assert word_vectors.normalize_text(s) == unicodedata.normalize("NFKC", s)
  assert word_vectors.normalize_text("hap\u00adpy") == "happy"
  assert word_vectors.normalize_text("\ufb01ne") == "fine"  # NFKC still runs on non-ASCII


def test_bulk_input_check_still_names_the_first_bad_item():
  model = emojax.load("words")
  cases = [(["happy", "", "war", b"x"], ValueError, "item 1 is an empty string"),
           (["happy", b"x", ""], TypeError, "item 1 is bytes"),
           (["happy", 3], TypeError, "item 1 is int"),
           (["happy", "war\udc80", " "], ValueError, "item 1 is not valid Unicode"),
           (["happy", "\u200b"], ValueError, "item 1 ('\\u200b') holds only invisible characters"),
           (["happy", "war", "my dog died"], ValueError, "item 2 ('my dog died') is 3 words")]
  for items, error, message in cases:
    with pytest.raises(error, match=re.escape(message)):
      model.predict(items)
  df = model.predict(["happy", "qzxqzxq", "war"], oov="nan")
  assert np.isnan(df.iloc[1]).all() and np.isfinite(df.iloc[[0, 2]]).all().all()
