"""The labelled, forgiving API of a loaded model (issue 26, point 3), on the pretrained models.

`predict` reads the model's own modality and returns a DataFrame (one row per item, `format.variable`
columns in the order asked for) whose values are the array path's; `formats` takes None, "all", a
name or a list; one `oov` vocabulary ("error" | "skip" | "nan", the old "raise" warns); batch_size
does not change the numbers; the old `predict(items, modality, fmt)` still returns an array, with a
DeprecationWarning; a words model refuses a sentence naming the texts model; map_labels reads and
gives DataFrames; repr says what a model is; the issue's one-liner from another directory.
"""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import emojax
from emojax import api, predict
from conftest import one_device_env

SENTENCES = ["I lost my job today and my dog died", "What a wonderful surprise party!"]
WORDS = ["happy", "war", "funeral", "table"]


@pytest.fixture(scope="module")
def texts():
  # The serving API is the same for both texts models; texts_fast (MiniLM) keeps this module fast.
  # The shipped texts model (all-mpnet-base-v2) is served in test_pretrained and the README line below.
  return emojax.load("texts_fast")


@pytest.fixture(scope="module")
def words():
  # The serving API is the same for both words models; words_fast (MiniLM) keeps this module fast.
  # The shipped words model (all-mpnet-base-v2) is served in test_pretrained.
  return emojax.load("words_fast")


def columns_of(model, names):
  return [f"{n}.{v}" for n in names for v in model.formats[n].variables]


def test_texts_model_predicts_labelled_in_its_own_modality_and_format(texts):
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # the new call warns about nothing
    df = texts.predict(SENTENCES)  # no modality=, no formats=
  assert isinstance(df, pd.DataFrame) and list(df.index) == SENTENCES
  assert texts.default_format == "vad" and list(df.columns) == ["vad.valence", "vad.arousal", "vad.dominance"]
  assert df.loc[SENTENCES[0], "vad.valence"] < 0 < df.loc[SENTENCES[1], "vad.valence"]
  np.testing.assert_array_equal(df.to_numpy(), texts.predict_array(SENTENCES, "vad"))
  np.testing.assert_array_equal(df.to_numpy(), texts.decode_embeddings(texts.embed(SENTENCES), "vad"))


def test_formats_all_a_name_or_a_list_in_the_order_asked(words):
  every = words.predict(WORDS, formats="all")
  assert list(every.columns) == columns_of(words, list(words.formats))
  for names in (["be5", "va"], ["va", "be5"]):
    df = words.predict(WORDS, formats=names)
    assert list(df.columns) == columns_of(words, names) and list(df.index) == WORDS
    for n in names:
      np.testing.assert_array_equal(df[columns_of(words, [n])].to_numpy(), words.predict_array(WORDS, n))
      np.testing.assert_array_equal(df[columns_of(words, [n])].to_numpy(), every[columns_of(words, [n])].to_numpy())
  assert list(words.predict(WORDS, "be5").columns) == columns_of(words, ["be5"])
  assert list(words.predict(WORDS, "vad, be5").columns) == columns_of(words, ["vad", "be5"])
  assert words.predict("happy").shape == (1, 3)  # a lone string is one item
  with pytest.raises(ValueError, match=r"unknown label format 'pad'.*knows \['va'"):
    words.predict(WORDS, formats=["va", "pad"])
  with pytest.raises(ValueError, match="predict_array needs fmt"):
    words.predict_array(WORDS)


def test_rows_are_named_by_ids_or_a_series_index(words):
  assert list(words.predict(WORDS, ids=["a", "b", "c", "d"]).index) == ["a", "b", "c", "d"]
  series = pd.Series(WORDS, index=[10, 11, 12, 13])
  df = words.predict(series, formats="va")
  assert list(df.index) == [10, 11, 12, 13]
  np.testing.assert_array_equal(df.to_numpy(), words.predict_array(WORDS, "va"))
  assert list(words.predict(iter(WORDS)).index) == WORDS  # a generator is read once
  with pytest.raises(ValueError, match="3 ids for 4 items"):
    words.predict(WORDS, ids=["a", "b", "c"])


def test_one_oov_vocabulary_error_skip_nan_and_the_old_raise_warns(words):
  given = ["happy", "qqxzzv", "war"]
  with pytest.raises(ValueError, match=r"out of vocabulary.*'qqxzzv'.*oov='skip'"):
    words.predict(given)  # oov="error" by default
  nan = words.predict(given, oov="nan")
  assert list(nan.index) == given and nan.loc["qqxzzv"].isna().all() and nan.drop("qqxzzv").notna().all().all()
  skip = words.predict(given, oov="skip")
  assert list(skip.index) == ["happy", "war"]
  pd.testing.assert_frame_equal(skip, nan.drop("qqxzzv"))
  assert words.embed(given, oov="skip").shape == (2, 100)
  assert words.predict_array(given, "vad", oov="skip").shape == (2, 3)
  assert np.isnan(words.embed(given, oov="nan")[1]).all()
  for call in (lambda: words.embed(given, oov="raise"), lambda: words.predict(given, oov="raise"),
               lambda: predict.embed_items(words, predict.from_arguments(given, "words"), oov="raise",
                                           show_progress=False)):
    with pytest.warns(DeprecationWarning, match="oov='raise' is deprecated: use oov='error'"):
      with pytest.raises(ValueError, match="out of vocabulary"):
        call()
  with pytest.raises(ValueError, match="oov must be one of 'error', 'skip', 'nan'"):
    words.predict(given, oov="ignore")
  assert api.OOV == ("error", "skip", "nan")


def test_batch_size_gives_the_same_numbers_and_a_progress_line_only_past_one_batch(words, texts, capsys):
  many = WORDS * 5
  whole = words.predict(many, formats="all")
  capsys.readouterr()
  # a sentence encoder reads the words in batches of another padded shape: float rounding only
  pd.testing.assert_frame_equal(words.predict(many, formats="all", batch_size=3), whole, atol=1e-6)
  assert "embedding words: 20/20 items" in capsys.readouterr().err
  pd.testing.assert_frame_equal(words.predict(many, formats="all", batch_size=3, progress=False), whole,
                                atol=1e-6)
  assert capsys.readouterr().err == ""
  words.predict(many)  # one batch: no progress line
  assert capsys.readouterr().err == ""
  np.testing.assert_allclose(texts.predict(SENTENCES * 3, batch_size=2).to_numpy(),
                             texts.predict(SENTENCES * 3).to_numpy(), atol=1e-6)
  with pytest.raises(ValueError, match="batch_size must be a positive"):
    words.predict(WORDS, batch_size=0)


def test_the_old_call_returns_the_array_with_a_deprecation_warning(texts, words):
  want = texts.predict_array(SENTENCES, "vad")
  with pytest.warns(DeprecationWarning, match=r"predict\(items, formats='vad'\) returns a labelled"):
    np.testing.assert_array_equal(texts.predict(SENTENCES, modality="texts", fmt="vad"), want)
  with pytest.warns(DeprecationWarning, match="predict_array"):
    np.testing.assert_array_equal(texts.predict(SENTENCES, "texts", "vad"), want)  # positional
  with pytest.warns(DeprecationWarning):
    np.testing.assert_array_equal(words.predict(["happy"], fmt="be5"), words.predict_array(["happy"], "be5"))
  df = texts.predict(SENTENCES, modality="texts")  # modality= alone is the new call, checked
  np.testing.assert_array_equal(df.to_numpy(), want)
  pd.testing.assert_frame_equal(texts.predict(SENTENCES, "texts"), df)  # a modality where formats go
  with pytest.raises(ValueError, match="reads 'texts'"):
    texts.predict(SENTENCES, modality="words")


def test_a_words_model_refuses_a_sentence_naming_the_texts_model(words):
  with pytest.raises(ValueError, match=r'item 1 .* is 9 words.*words model.*emojax.load\("texts"\)'):
    words.predict(["happy", SENTENCES[0]])
  with pytest.raises(ValueError, match=r'emojax.load\("texts"\)'):
    words.predict_array([SENTENCES[1]], "vad")
  mean = words.predict(["happy war"], aggregate="mean")  # averaged only when asked for
  assert mean.shape == (1, 3) and list(mean.index) == ["happy war"]


def test_map_labels_stays_numpy_first_and_reads_a_dataframe_by_column_name():
  codec = emojax.load("codec")
  y = np.array([[0.8, 0.3], [-0.7, -0.2]], np.float32)
  out = codec.map_labels(y, "va", "be5")
  assert isinstance(out, np.ndarray) and out.shape == (2, 5)
  frame = pd.DataFrame({"arousal": y[:, 1], "valence": y[:, 0]}, index=["glad", "sad"])
  mapped = codec.map_labels(frame, "va", "be5")
  assert isinstance(mapped, pd.DataFrame) and list(mapped.index) == ["glad", "sad"]
  assert list(mapped.columns) == list(codec.formats["be5"].variables)
  np.testing.assert_array_equal(mapped.to_numpy(), out)
  labelled = codec.map_labels(frame.rename(columns=lambda c: f"va.{c}"), "va", "be5")  # as predict names them
  assert list(labelled.columns) == [f"be5.{v}" for v in codec.formats["be5"].variables]
  np.testing.assert_array_equal(labelled.to_numpy(), out)
  assert isinstance(codec.embed_labels(frame, "va"), np.ndarray)


def test_map_labels_reads_predict_output(words):
  va = words.predict(WORDS, formats="va")
  np.testing.assert_allclose(words.map_labels(va.clip(-1, 1), "va", "be5").to_numpy(),
                             words.map_labels(va.clip(-1, 1).to_numpy(), "va", "be5"), atol=0)


def test_repr_says_what_the_model_is(texts, words):
  assert repr(texts).startswith("<emojax ContentModel: reads texts")
  for part in ("pretrained 'texts_fast'", "predicts 'vad' by default", "'be5'", "codec from pretrained 'codec'"):
    assert part in repr(texts), part
  assert "reads words" in repr(words) and "pretrained 'words_fast'" in repr(words)
  codec = repr(emojax.load("codec"))
  assert "stage-1 codec" in codec and "pretrained 'codec'" in codec and "'va'" in codec


def test_the_issue_one_liner_from_another_directory(tmp_path):
  code = ("import emojax; print(emojax.load('texts').predict(['I lost my job today and my dog died', "
          "'What a wonderful surprise party!']))")
  out = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], cwd=tmp_path,
                       env=one_device_env(), capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.splitlines()
  assert "vad.valence" in lines[0]
  sad = next(line for line in lines if line.startswith("I lost my job"))
  glad = next(line for line in lines if line.startswith("What a wonderful"))
  assert float(sad.split()[-3]) < 0 < float(glad.split()[-3])
