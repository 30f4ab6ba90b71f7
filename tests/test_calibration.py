"""The calibrated strongest emotion (`emojax.calibration`): pure functions on hand-computed values,
the record of a real model, and the calibration.json guard."""

import json

import chex
import numpy as np
import pandas as pd
import pytest

from emojax import calibration, formats


def test_fit_hand_computed():
  x = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]])
  s = calibration.fit(x, n_quantiles=3)
  assert s["n"] == 4
  chex.assert_trees_all_close(np.array(s["mean"]), np.array([1.5, 25.0]))
  # population sd of 0,1,2,3: sqrt(1.25)
  chex.assert_trees_all_close(np.array(s["sd"]), np.array([1.25 ** 0.5, 10 * 1.25 ** 0.5]))
  chex.assert_trees_all_close(np.array(s["quantiles"]), np.array([[0.0, 1.5, 3.0], [10.0, 25.0, 40.0]]))
  with pytest.raises(ValueError, match="NaN"):
    calibration.fit(np.array([[0.0], [np.nan]]))
  with pytest.raises(ValueError, match="shape"):
    calibration.fit(np.zeros((1, 3)))


def test_weighted_fit_hand_computed():
  """Weights count items: integer weights equal repeating the items (mean, sd), a weight of 0 drops
  one, and the weighted quantiles run from the smallest to the largest value through the midpoints
  of each value's share of the weight."""
  x = np.array([[0.0, 10.0], [1.0, 20.0], [4.0, 40.0]])
  s = calibration.fit(x, n_quantiles=3, weights_N=[1, 1, 2])
  repeated = calibration.fit(x[[0, 1, 2, 2]])
  chex.assert_trees_all_close(np.array(s["mean"]), np.array(repeated["mean"]), np.array([2.25, 27.5]))
  chex.assert_trees_all_close(np.array(s["sd"]), np.array(repeated["sd"]))
  assert s["n"] == 3
  dropped = calibration.fit(x, weights_N=[0.0, 3.0, 3.0])
  chex.assert_trees_all_close(np.array(dropped["mean"]), np.array([2.5, 30.0]))
  # shares .25, .25, .5: midpoints .125, .375, .75; the median (.5) lies a third of the way from 1 to 4
  chex.assert_trees_all_close(calibration.weighted_quantiles(x[:, 0], np.array([1.0, 1.0, 2.0]),
                                                             [0.0, 0.5, 1.0]), np.array([0.0, 2.0, 4.0]))
  chex.assert_trees_all_close(np.array(s["quantiles"]), np.array([[0.0, 2.0, 4.0], [10.0, 26.666666666666668, 40.0]]))
  assert calibration.fit(x, weights_N=[2.0, 2.0, 2.0]) == calibration.fit(x)  # equal weights are none
  for bad in ([1, 1], [1, -1, 1], [0, 0, 0], [1, np.nan, 1]):
    with pytest.raises(ValueError, match="weights"):
      calibration.fit(x, weights_N=bad)


def test_part_weights_weigh_every_part_the_same():
  w = calibration.part_weights([2, 1, 4])
  chex.assert_trees_all_close(w, np.array([1 / 6, 1 / 6, 1 / 3, 1 / 12, 1 / 12, 1 / 12, 1 / 12]))
  assert w.sum() == pytest.approx(1.0)
  with pytest.raises(ValueError, match="at least one item"):
    calibration.part_weights([3, 0])


def test_calibrate_each_method_hand_computed():
  stats = {"mean": [0.5, 0.1], "sd": [0.2, 0.05], "quantiles": [[0.0, 0.5, 1.0], [0.0, 0.1, 0.2]]}
  x = np.array([[0.7, 0.2], [0.5, 0.05]])
  chex.assert_trees_all_close(calibration.calibrate(x, stats, "raw"), x)
  chex.assert_trees_all_close(calibration.calibrate(x, stats, "center"), np.array([[0.2, 0.1], [0.0, -0.05]]))
  chex.assert_trees_all_close(calibration.calibrate(x, stats, "zscore"), np.array([[1.0, 2.0], [0.0, -1.0]]))
  # 0.7 lies 40 % of the way from the median 0.5 to the max 1.0: 0.5 + 0.4 * 0.5; 0.2 is the max
  chex.assert_trees_all_close(calibration.calibrate(x, stats, "quantile"), np.array([[0.7, 1.0], [0.5, 0.25]]))
  with pytest.raises(ValueError, match="unknown calibration method"):
    calibration.calibrate(x, stats, "softmax")
  with pytest.raises(ValueError, match="do not fit"):
    calibration.calibrate(np.zeros((2, 3)), stats)


def test_percentile_flat_run_and_clipping():
  # quantiles 0, 1, 1, 1, 2 at levels 0, .25, .5, .75, 1: the run of 1s is read at its middle (.5)
  got = calibration.percentile(np.array([-1.0, 0.5, 1.0, 1.5, 3.0]), [0.0, 1.0, 1.0, 1.0, 2.0])
  chex.assert_trees_all_close(got, np.array([0.0, 0.125, 0.5, 0.875, 1.0]))


def test_strongest_ties_and_nan():
  s = np.array([[0.1, 0.3, 0.2], [1.0, 1.0, 0.0], [np.nan, 0.0, 0.0]])
  np.testing.assert_array_equal(calibration.strongest(s), [1, 0, -1])
  tiebreak = np.array([[0.0, 0.0, 9.0], [0.0, 5.0, 9.0], [0.0, 0.0, 0.0]])
  # only tied maxima compete on the tie-break: row 0 has no tie, row 1 picks 1 (not 2, not tied)
  np.testing.assert_array_equal(calibration.strongest(s, tiebreak), [1, 1, -1])


def test_balanced_accuracy_hand_computed():
  gold, pred = np.array([0, 0, 0, 1, 2, 2]), np.array([0, 0, 1, 1, 0, 2])
  # recalls 2/3, 1/1, 1/2
  assert calibration.balanced_accuracy(gold, pred, 3) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
  # a class absent from gold does not count; always predicting one class scores 1 / (classes present)
  assert calibration.balanced_accuracy(gold, np.zeros(6, int), 5) == pytest.approx(1 / 3)
  assert calibration.balanced_accuracy(gold, np.full(6, -1), 3) == 0.0
  with pytest.raises(ValueError, match="0..2"):
    calibration.balanced_accuracy(np.array([0, 3]), np.array([0, 0]), 3)
  with pytest.raises(ValueError, match="equal"):
    calibration.balanced_accuracy(np.array([0, 1]), np.array([0]), 3)


def test_bootstrap_interval_degenerate_and_paired():
  gold, pred = np.array([0, 0, 0, 1, 2, 2]), np.array([0, 0, 1, 1, 0, 2])
  full = np.tile(np.arange(6), (20, 1))  # every "resample" is the data itself
  lo, hi = calibration.bootstrap_interval(gold, pred, 3, full)
  assert lo == pytest.approx(hi) == pytest.approx(calibration.balanced_accuracy(gold, pred, 3))
  idx = calibration.bootstrap_indices(6, 200, seed=0)
  chex.assert_shape(idx, (200, 6))
  np.testing.assert_array_equal(idx, calibration.bootstrap_indices(6, 200, seed=0))
  assert calibration.bootstrap_interval(gold, pred, 3, idx, pred) == (0.0, 0.0)
  lo, hi = calibration.bootstrap_interval(gold, pred, 3, idx)
  assert 0.0 <= lo <= calibration.balanced_accuracy(gold, pred, 3) <= hi <= 1.0


def test_zscore_removes_a_baseline_that_wins_everywhere():
  """The failure of issue 25: variable 0 sits 0.5 above the others, so the raw argmax is always 0;
  read against the training items' own spread, each item's true class wins."""
  baseline = np.array([0.6, 0.1, 0.1])
  gold = np.array([0, 1, 2, 0, 1, 2])
  pred = baseline + 0.1 * np.eye(3)[gold]
  stats = calibration.fit(pred)
  assert calibration.balanced_accuracy(gold, calibration.strongest(pred), 3) == pytest.approx(1 / 3)
  top = calibration.strongest(calibration.calibrate(pred, stats, "zscore"))
  assert calibration.balanced_accuracy(gold, top, 3) == 1.0


def test_is_emotion_format():
  assert calibration.is_emotion_format(formats.get_format("be5"))
  assert calibration.is_emotion_format(formats.get_format("be6"))
  for name in ("va", "vad", "isear7", "ekman6"):
    assert not calibration.is_emotion_format(formats.get_format(name))


def test_calibrated_frame_hand_computed():
  record = {"formats": {"be5": {"variables": list(formats.BE5), "mean": [0.5, 0.1, 0.2, 0.4, 0.1],
                                "sd": [0.1] * 5, "quantiles": [[0.0, 1.0]] * 5}}}
  frame = pd.DataFrame([[0.1, 0.58, 0.15, 0.2, 0.45, 0.12], [0.0, np.nan, 0.1, 0.2, 0.4, 0.1]],
                       index=["a", "b"], columns=["va.valence"] + [f"be5.{v}" for v in formats.BE5])
  out = calibration.calibrated_frame(frame, record, ["va", "be5"])
  assert list(out.columns) == list(frame.columns) + ["be5.strongest"]
  # row a: z of joy .8, anger .5, sadness 0, fear .5, disgust .2 -> joy
  chex.assert_trees_all_close(out.loc["a", [f"be5.{v}" for v in formats.BE5]].to_numpy(np.float64),
                              np.array([0.8, 0.5, 0.0, 0.5, 0.2]), atol=1e-9)
  assert out.loc["a", "be5.strongest"] == "joy"
  assert pd.isna(out.loc["b", "be5.strongest"]) and np.isnan(out.loc["b", "be5.joy"])
  assert out.loc["a", "va.valence"] == 0.1  # other formats untouched
  frame.loc["a", "be5.anger"] = 0.3  # z of anger 2.0 now beats joy's 0.8
  assert calibration.calibrated_frame(frame, record, ["be5"]).loc["a", "be5.strongest"] == "anger"
  with pytest.raises(ValueError, match="lack the column"):
    calibration.calibrated_frame(frame.drop(columns="be5.fear"), record, ["be5"])
  with pytest.raises(ValueError, match="none of"):
    calibration.calibrated_frame(frame, record, ["va"])


def test_calibrated_predictions_arrays_match_the_frame():
  record = {"formats": {"be5": {"variables": list(formats.BE5), "mean": [0.5, 0.1, 0.2, 0.4, 0.1],
                                "sd": [0.1] * 5, "quantiles": [[0.0, 1.0]] * 5}}}
  va = np.array([[0.1], [0.2]])
  be5 = np.array([[0.58, 0.15, 0.2, 0.45, 0.12], [0.5, 0.1, 0.2, 0.4, np.nan]])
  values, top = calibration.calibrated_predictions({"va": va, "be5": be5}, record)
  assert values["va"] is va and list(top) == ["be5"]
  chex.assert_trees_all_close(values["be5"][0], np.array([0.8, 0.5, 0.0, 0.5, 0.2]), atol=1e-9)
  assert np.isnan(values["be5"][1]).all() and top["be5"] == ["joy", None]
  _, top = calibration.calibrated_predictions({"be5": be5}, record, "quantile")
  # percentiles against [0, 1]: joy .58 is the largest value, so the largest percentile
  assert top["be5"] == ["joy", None]
  with pytest.raises(ValueError, match="shape"):
    calibration.calibrated_predictions({"be5": be5[:, :4]}, record)


def test_read_checks_fingerprint(tmp_path):
  assert calibration.read(tmp_path, "abc") is None
  record = {"version": calibration.VERSION, "fingerprint": "abc", "formats": {}}
  (tmp_path / calibration.CALIBRATION_JSON).write_text(json.dumps(record))
  assert calibration.read(tmp_path, "abc") == record
  with pytest.raises(ValueError, match="another model export"):
    calibration.read(tmp_path, "def")


def test_compute_on_the_pretrained_texts_model():
  """A real model's record: BE5, BE6 and POS7 (no VA/VAD), stats equal to those of its own heads."""
  import emojax
  model = emojax.load("texts")
  labels = np.random.RandomState(0).uniform(-1, 1, (64, 3)).astype(np.float32)
  e = model.embed_labels(labels, "vad")  # embeddings through the codec: no MiniLM pass
  record = calibration.compute(model, embeddings_NxE=e, source={"test": True})
  assert sorted(record["formats"]) == ["be5", "be6", "pos7"]
  stats = record["formats"]["be5"]
  assert stats["variables"] == list(formats.BE5) and stats["n"] == 64
  chex.assert_trees_all_close(np.array(stats["mean"]), model.decode_embeddings(e, "be5").mean(0),
                              atol=1e-6)
  weights = np.r_[np.zeros(32), np.ones(32)]  # only the second half counts
  half = calibration.compute(model, embeddings_NxE=e, weights_N=weights)["formats"]["be5"]
  chex.assert_trees_all_close(np.array(half["mean"]), model.decode_embeddings(e[32:], "be5").mean(0),
                              atol=1e-6)
  run = model.content_meta["encoder"]["run"]  # e.g. Mlt/emobank_vad+afftext_be5
  assert calibration.training_datasets(model) == run.partition("/")[2].split("+") == ["emobank_vad", "afftext_be5"]


def meta(run: str, modality: str = "texts"):
  """What `training_datasets` and `pool_datasets` read of a model: its exported run and modality."""
  import types
  return types.SimpleNamespace(content_meta={"encoder": {"run": run}}, workdir="w", modality=modality,
                               content_config=types.SimpleNamespace(datasets=()))


def test_training_datasets_from_the_recorded_run():
  assert calibration.training_datasets(meta("Aug/warriner_vad")) == ["warriner_vad"]
  assert calibration.training_datasets(meta("Mlt/emobank_vad+afftext_be5")) == ["emobank_vad", "afftext_be5"]
  with pytest.raises(ValueError, match=r"trained on \['my_texts'\], not declared in this process.*"
                                       r"calibration.write\(model\)"):
    calibration.training_datasets(meta("Aug/my_texts"))


def test_trained_formats_come_from_model_json_without_the_data_declared():
  """A model of the user's own data names the formats it was trained on (`encoder.formats`, written
  at export): its calibrated formats need no declaration of the data."""
  model = meta("Aug/my_texts")
  model.content_meta["encoder"]["formats"] = ["vad"]
  model.content_config.augment = ("vad:be5",)
  model.formats = {n: formats.get_format(n) for n in ("va", "vad", "be5", "be6")}
  assert calibration.trained_formats(model) == ["vad", "be5"]


def test_the_pool_adds_each_bundled_genre_a_text_model_was_not_trained_on():
  assert calibration.pool_datasets(meta("Mlt/emobank_vad+afftext_be5")) == ["goemotions_ekman"]
  # Affective Text's BE6 labels are on the same headlines as its BE5 labels: that genre is trained on
  assert calibration.pool_datasets(meta("Aug/afftext_be6")) == ["emobank_vad", "goemotions_ekman"]
  assert calibration.pool_datasets(meta("Mlt/emobank_vad+afftext_be5"), leave_out=("goemotions_ekman",)) == []
  assert calibration.pool_datasets(meta("Aug/warriner_vad", "words")) == []
  assert calibration.pool_datasets(meta("Aug/bass_us_va", "images")) == []


def test_from_items_on_the_pretrained_words_model():
  import emojax
  model = emojax.load("words")
  words = ["happy", "sad", "angry", "afraid", "disgusting", "calm", "zzqxv"]
  record = calibration.from_items(model, words)  # the unknown word is left out
  assert record["source"] == {"items": 7, "embedded": 6} and record["formats"]["be5"]["n"] == 6
  values, top = calibration.calibrated_predictions(
      {"be5": model.predict_array(words[:6], "be5")}, record)
  chex.assert_trees_all_close(values["be5"].mean(0), np.zeros(5), atol=1e-5)  # z over the same items
  assert top["be5"][0] == "joy"


def test_for_model_reads_its_own_json_and_recomputes_and_stores_a_stale_one(tiny_words, tmp_path,
                                                                             monkeypatch):
  import shutil
  import warnings

  import emojax
  where = tmp_path / "words"  # the session's tiny words model (195 German training words, GloVe)
  shutil.copytree(tiny_words[0], where)
  stale = {"version": calibration.VERSION, "fingerprint": "not this export", "formats": {}}
  (where / calibration.CALIBRATION_JSON).write_text(json.dumps(stale))
  model = emojax.load(where)
  with pytest.warns(UserWarning, match="another model export.*computing the calibration"):
    record = calibration.for_model(model)
  assert record["source"]["datasets"][0]["dataset"] == "schmidtke_vad" and "be5" in record["formats"]
  assert calibration.for_model(model) is record  # once per model object
  # Stored in place of the stale file: the next load reads it and computes nothing.
  assert json.loads((where / calibration.CALIBRATION_JSON).read_text()) == json.loads(json.dumps(record))
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)
    assert calibration.for_model(emojax.load(where)) == json.loads(json.dumps(record))
  calibration.write(model)  # the same record, written on purpose
  assert json.loads((where / calibration.CALIBRATION_JSON).read_text()) == json.loads(json.dumps(record))
  # A folder it cannot write to (a read-only install): computed all the same, the file untouched.
  (where / calibration.CALIBRATION_JSON).write_text(json.dumps(stale))
  def read_only(record, path):
    raise PermissionError(f"{path}: read-only file system")
  monkeypatch.setattr(calibration, "_store", read_only)
  with pytest.warns(UserWarning, match="another model export"):
    assert calibration.for_model(emojax.load(where)) == record
  assert json.loads((where / calibration.CALIBRATION_JSON).read_text()) == stale
  # Nor is the installed package written to (a shipped model whose file were stale, say).
  monkeypatch.setattr(calibration, "_PACKAGE_DIR", where.resolve().parent)
  monkeypatch.setattr(calibration, "_store", lambda record, path: pytest.fail(f"wrote {path}"))
  with pytest.warns(UserWarning, match="another model export"):
    assert calibration.for_model(emojax.load(where)) == record


def test_the_shipped_texts_model_predicts_the_calibrated_reading(capsys, tmp_path):
  """predict(..., calibrated=True), strongest_emotion and `emojax predict --calibrated` read the
  calibration.json shipped beside the model (nothing computed, so no warning)."""
  import warnings

  import emojax
  from conftest import run_cli
  items = ["I lost my job today and my dog died", "I am so angry I could scream", "This is disgusting"]
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)
    model = emojax.load("texts")
    raw = model.predict(items, formats=["vad", "be5"])
    cal = model.predict(items, formats=["vad", "be5"], calibrated=True)
  assert list(cal.columns) == [*raw.columns, "be5.strongest"]
  vad = [c for c in raw.columns if c.startswith("vad.")]
  pd.testing.assert_frame_equal(cal[vad], raw[vad])  # dimensions are not calibrated
  record = calibration.for_model(model)
  stats = record["formats"]["be5"]
  # its pool: the training split (EmoBank, Affective Text) and Reddit comments, each half the weight
  pool = record["source"]["datasets"]
  assert [d["dataset"] for d in pool] == ["emobank_vad", "afftext_be5", "goemotions_ekman"]
  assert [d["n"] for d in pool] == [8062, 991, calibration.POOL_ITEMS]
  chex.assert_trees_all_close([d["weight"] for d in pool], [1 / 2 * 8062 / 9053, 1 / 2 * 991 / 9053, 1 / 2])
  be5 = [f"be5.{v}" for v in formats.BE5]
  z = (raw[be5].to_numpy() - np.array(stats["mean"])) / np.array(stats["sd"])
  np.testing.assert_allclose(cal[be5].to_numpy(), z, atol=1e-9)
  assert list(cal["be5.strongest"]) == [formats.BE5[i] for i in z.argmax(1)]
  assert model.strongest_emotion(items).tolist() == list(cal["be5.strongest"])
  assert calibration.trained_formats(model) == ["vad", "be5"]  # Aug/emobank_vad, augment vad:be5
  assert list(model.predict(items[:1], calibrated=True).columns) == list(cal.columns)  # by default
  with pytest.warns(UserWarning, match=r"never trained through the be6 head.*through: vad, be5"):
    model.predict(items[:1], formats="be6", calibrated=True)  # surprise: a direction nothing trained
  with pytest.raises(ValueError, match=r"none of \['vad'\] is one"):
    model.predict(items, formats="vad", calibrated=True)
  status, out, _ = run_cli(capsys, "predict", *items, "--format", "vad,be5", "--calibrated")
  assert status == 0 and "be5 strongest" in out.splitlines()[0]
  rows = out.splitlines()[3:]
  assert [r.split("|")[-1].strip() for r in rows] == list(cal["be5.strongest"])
  status, _, _ = run_cli(capsys, "predict", *items, "--format", "be5", "--calibrated",
                         "--output", str(tmp_path / "p.csv"))
  written = pd.read_csv(tmp_path / "p.csv")
  assert status == 0 and list(written["be5:strongest"]) == list(cal["be5.strongest"])
  status, _, err = run_cli(capsys, "predict", "fine", "--format", "vad", "--calibrated")
  assert status == 2 and "calibrated reading is for emotion-category formats" in err
  # --calibrate-on: the same reading against the model's predictions on the user's own items
  posts = ["lol this made my day", "worst customer service ever, never again", "I miss her so much",
           "that spider in my shower nearly killed me", "ew who puts pineapple on that", "ok thanks",
           "congrats on the new job!!", "this ref is a joke", "RIP buddy, you were the best",
           "my exam is tomorrow and I know nothing", "gross, the milk went off", "see you at 5"]
  (tmp_path / "posts.txt").write_text("\n".join(posts) + "\n")
  status, out, _ = run_cli(capsys, "predict", *items, "--format", "be5", "--calibrate-on",
                           str(tmp_path / "posts.txt"))
  domain = calibration.from_items(model, posts)["formats"]["be5"]
  assert domain["n"] == len(posts) and domain["mean"] != stats["mean"]
  z = (raw[be5].to_numpy() - np.array(domain["mean"])) / np.array(domain["sd"])
  rows = [r.split("|") for r in out.splitlines()[3:]]
  assert status == 0 and [r[-1].strip() for r in rows] == [formats.BE5[i] for i in z.argmax(1)]
  np.testing.assert_allclose([[float(v) for v in r[1].split()] for r in rows], z, atol=6e-4)  # 3 decimals
  (tmp_path / "one.txt").write_text("only one\n")
  status, _, err = run_cli(capsys, "predict", "fine", "--calibrate-on", str(tmp_path / "one.txt"))
  assert status == 2 and "--calibrate-on" in err and "1 of 1 item(s) read" in err


def test_the_strongest_emotion_script_counts_confusions_and_never_reads_the_evaluated_part_as_domain():
  from conftest import launcher_module
  script = launcher_module("scripts/strongest_emotion.py")
  gold, pred = np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, -1])  # -1: a NaN row, counted nowhere
  assert script.confusion(gold, pred, 3) == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
  assert all(domain != part for part, domain in script.DOMAIN_PART.items())
  assert set(script.DOMAIN_PART) == {"test", "dev"}
