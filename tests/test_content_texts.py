"""Stage 2 for texts: split alignment with stage 1, the feature cache, a tiny launcher run, load()
on strings, and a few steps of full fine-tuning (tiny random BERT, batch sharded over 8 devices)."""

import dataclasses
import json
import shutil
import types
import warnings

import chex
import jax
import numpy as np
import pytest

import emojax
from emojax import calibration, checkpoint, content_data, content_plan, datasets, finetune_text, formats, mapping_data, splits, text_data
from emojax import train_content as tc
from emojax.encoders import bert
from conftest import ROOT, launch

TINY = ["epochs=1", "mapping_epochs=1", "batch_size=8", "max_groups=1", "max_items=8",
        "max_length=32"]


# ----------------------------------------------------------------------------------------- data

def test_text_splits_align_with_the_stage1_split():
  pair = splits.load_split("en_vad_be6")
  stage1_train = set(pair["train"])
  for name in datasets.names("texts"):
    split = splits.split_of(name)
    part = splits.part_of(split)
    keys = text_data.text_table(name)[0]
    assert sorted(part) == sorted(keys) and sum(map(len, split.values())) == len(keys), name
    assert all(part[k] == p for k, p in splits.part_of(pair).items()), name  # shared items stay
    assert not stage1_train & set(split["test"]) and not stage1_train & set(split["dev"]), name
  emobank = splits.split_of("emobank_vad")
  assert [len(emobank[p]) for p in splits.PARTS] == [8062, 1000, 1000]  # official column
  assert [len(v) for v in splits.split_of("afftext_be5").values()] == [991, 130, 129]
  # The BE5 view of the pair holds the same items in the same parts as the stage-1 pair.
  be5 = splits.load_split("en_vad_be5")
  assert {p: set(v) for p, v in be5.items()} == {p: set(v) for p, v in pair.items()}
  assert "en_vad_be5" not in mapping_data.DEFAULT_PAIRS  # stage 1 never sees the items twice


def test_afftext_be5_is_be6_without_surprise():
  k5, y5 = datasets.read_labels(datasets.get_dataset("afftext_be5"))
  k6, y6 = datasets.read_labels(datasets.get_dataset("afftext_be6"))
  assert k5 == k6 and len(k5) == 1250
  np.testing.assert_array_equal(y5, y6[:, :5])
  keys, _, texts, _ = text_data.text_table("afftext_be5")
  assert texts[keys.index("SemEval_500")] == "Test to predict breast cancer relapse is approved"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """Features of the tiny subsets the launcher test uses (computed once, then cache hits)."""
  path = tmp_path_factory.mktemp("features")
  for name in datasets.names("texts"):
    text_data.load_texts(name, path, max_length=32, max_items=8, show_progress=False)
  return path


def test_feature_cache_hit_and_features(cache, monkeypatch):
  entries = sorted(p.name for p in cache.iterdir())
  assert len(entries) == 2 and all(".minilm32." in e for e in entries)

  def fail(*args, **kwargs):
    raise AssertionError("features recomputed despite a cache entry")

  monkeypatch.setattr(text_data, "text_features", fail)
  d = text_data.load_texts("emobank_vad", cache, max_length=32, max_items=8, show_progress=False)
  assert sorted(p.name for p in cache.iterdir()) == entries
  assert d.format == "vad" and d.x["train"].shape == (8, 384) and d.y["test"].shape == (8, 3)
  assert d.items["train"] == splits.split_of("emobank_vad")["train"][:8]
  monkeypatch.undo()
  # Cached rows are MiniLM's mean-pooled (unnormalised) output of those very texts.
  keys, _, texts, _ = text_data.text_table("emobank_vad")
  first = texts[keys.index(d.items["dev"][0])]
  np.testing.assert_allclose(d.x["dev"][0], text_data.text_features([first], 32)[0], atol=1e-5)
  with pytest.raises(ValueError, match="empty or whitespace"):
    text_data.text_features(["fine", "  "], 32)


# -------------------------------------------------------------------------------- launcher, load

@pytest.fixture(scope="module")
def texts_run(tiny_stage1, cache, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("texts")
  # configs/texts_fast.py: MiniLM, whose features the `cache` fixture holds (the default config,
  # on all-mpnet-base-v2, is the next test's).
  proc = launch("launch/content.py", f"--config={ROOT / 'configs' / 'texts_fast.py'}", f"--workdir={workdir}",
                "--seeds=0", f"stage1={tiny_stage1}", f"feature_cache={cache}", *TINY)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc


def test_launcher_writes_the_text_experiment(texts_run, cache):
  workdir, proc = texts_run
  assert "minilm features" not in proc.stderr  # the cache of the fixture was hit
  results = json.loads((workdir / "results.json").read_text())
  assert results["modality"] == "texts" and set(results["datasets"]) == set(datasets.names("texts"))
  assert all(results["means"][c] for c in content_plan.CONDITIONS), results["means"]
  rows = results["conditions"]["AuZ"]["test"]["rows"]
  assert set(rows) == {"emobank_vad→afftext_be5", "afftext_be5→emobank_vad"}
  assert set(rows["afftext_be5→emobank_vad"]["variables"]) == {"valence", "arousal", "dominance"}
  assert results["paper"]["emobank_vad"]["Aug"] == .629
  md = (workdir / "results.md").read_text()
  assert "paper (BERT-base, fine-tuned)" in md and "| emobank_vad | valence, paper |" in md
  meta = json.loads((workdir / "model.json").read_text())
  assert meta["feature"] == {"kind": "minilm", "max_length": 32, "dim": 384}


def test_load_embeds_and_predicts_texts(texts_run):
  model = emojax.load(texts_run[0])
  assert isinstance(model, emojax.api.ContentModel) and model.modality == "texts"
  texts = ["I am so happy today!", "The war killed thousands.", "ok"]
  e = model.embed(texts, modality="texts")
  assert e.shape == (3, 100) and np.isfinite(e).all()
  np.testing.assert_allclose(model.embed(texts[:1], modality="texts"), e[:1], atol=1e-5)  # any batch
  vad = model.predict_array(texts, "vad", modality="texts")
  be5 = model.predict_array(texts, "be5", modality="texts")
  assert vad.shape == (3, 3) and be5.shape == (3, 5)
  # By hand with numpy from the saved parameters, not through decode_embeddings(embed(x)): MiniLM
  # pooled features -> Dense 256 -> LeakyReLU ("Dense_0", configs/texts.py) -> Dense 100 ("embed")
  # -> head rows.
  p = {k: {n: np.asarray(a, np.float64) for n, a in v.items()} for k, v in model.encoder_params.items()}
  assert set(p) == {"Dense_0", "embed"} and p["Dense_0"]["kernel"].shape == (384, 256)
  x = np.asarray(text_data.text_features(texts, model.content_meta["feature"]["max_length"]), np.float64)
  z = x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
  h = np.where(z > 0, z, model.content_config.encoder.leaky_slope * z)
  e_hand = h @ p["embed"]["kernel"] + p["embed"]["bias"]
  np.testing.assert_allclose(e, e_hand, atol=1e-4)
  bank = np.asarray(model.params["bank"], np.float64)
  for fmt, got in (("vad", vad), ("be5", be5)):
    start, n = model.layout.offsets[fmt], model.formats[fmt].size
    np.testing.assert_allclose(got, e_hand @ bank[start:start + n].T, atol=1e-4)
  with pytest.raises(ValueError, match="item 1 is an empty string"):
    model.embed(["fine", "   "], modality="texts")
  with pytest.raises(ValueError, match="reads 'texts'"):
    model.embed(["fine"], modality="words")
  long = " ".join(["terribly"] * 60)  # > 32 tokens: truncated, said once
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.embed([long, "short"], modality="texts")
    model.embed([long], modality="texts")
  assert sum("truncated" in str(w.message) for w in caught) == 1
  # A very long text (200 kB, 40,000 tokens) is read as its first 30 tokens, nothing else.
  huge = "the war killed thousands " * 8000
  np.testing.assert_allclose(model.embed([huge], modality="texts"),
                             model.embed([" ".join(huge.split()[:30])], modality="texts"), atol=1e-5)
  # Only str is read: bytes, and text holding undecodable bytes, are errors naming the item.
  with pytest.raises(TypeError, match=r"item 1 is bytes, not a str.*decode it first"):
    model.predict_array(["fine", b"\xff\xfe caf\xe9"], "vad", modality="texts")
  with pytest.raises(ValueError, match="item 0 is not valid Unicode text.*lone surrogate"):
    model.predict_array([b"caf\xe9".decode("utf-8", "surrogateescape")], "vad", modality="texts")


def test_the_default_mpnet_text_model_trains_records_and_serves_its_encoder(tiny_stage1, tmp_path):
  # configs/texts.py (text_encoder=mpnet, text_pooling=layers): all-mpnet-base-v2's layer-averaged
  # mean pool (768-d), recorded in model.json, and the loaded model reads new texts through the
  # same encoder and pooling (not MiniLM, not the last layer).
  workdir = tmp_path / "texts_mpnet"
  proc = launch("launch/content.py", "--modality=texts", f"--workdir={workdir}", "--seeds=0",
                f"stage1={tiny_stage1}", f"feature_cache={tmp_path / 'features'}", "datasets=emobank_vad", "conditions=Sng", "export=emobank_vad:Sng", *TINY)
  assert proc.returncode == 0, proc.stderr[-3000:]
  meta = json.loads((workdir / "model.json").read_text())
  assert meta["feature"] == {"kind": "mpnet", "max_length": 32, "pooling": "layers", "dim": 768}
  assert [p.name.split(".")[1:3] for p in (tmp_path / "features").iterdir()] == [["mpnet32", "layers"]]
  model = emojax.load(workdir)
  texts = ["I am so happy today!", "The war killed thousands."]
  x = text_data.text_features(texts, 32, encoder="mpnet", pooling="layers")
  assert x.shape == (2, 768)
  np.testing.assert_allclose(model.embed(texts, modality="texts"), model.embed_features(x), atol=1e-5)
  with pytest.raises(ValueError, match="unknown text encoder 'bert'"):
    text_data.text_features(texts, 32, encoder="bert")


# ------------------------------------------------------------------------------------ fine-tuning

def test_finetune_steps_with_a_tiny_bert(tiny_stage1, tmp_path):
  """Mode (b) plumbing: all weights trained, batch sharded over the 8 fake devices, frozen heads;
  the table's test and zero-shot cells (BsZ through the mapping net, AuZ through the head)."""
  stage1 = tiny_stage1  # shared: only read here; the mismatch check below changes a copy
  cfg = bert.BertConfig(hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                        max_position=64)
  params = bert.init_params(jax.random.key(0), cfg)
  before = jax.tree.map(np.array, tc.load_stage1(stage1)[0].params)
  run = finetune_text.FinetuneConfig(stage1=str(stage1), conditions=("Bsl", "Aug"), seeds=(0,),
                                     export="emobank_vad:Aug", batch_size=8, max_steps=3, eval_every=3,
                                     max_length=8, max_items=16, learning_rate=1e-3, eval_batch_size=8)
  results = finetune_text.run(run, tmp_path, show_progress=False, bert_params=params, bert_config=cfg)
  assert [(r["condition"], r["dataset"]) for r in results["runs"]] == [
      ("Bsl", "emobank_vad"), ("Bsl", "afftext_be5"), ("Aug", "emobank_vad"), ("Aug", "afftext_be5")]
  for rec in results["runs"]:
    assert rec["steps"] == 3 and np.isfinite(rec["best_dev_r"]) and len(rec["test"]) in (3, 5)
    (sibling, (zs, r)), = rec["zero_shot"].items()
    assert sibling != rec["dataset"] and zs == {"Bsl": "BsZ", "Aug": "AuZ"}[rec["condition"]]
    assert len(r) == (3 if sibling == "emobank_vad" else 5) and np.isfinite(r).all()
  assert set(results["table"]["emobank_vad"]) == {"Bsl", "Aug", "BsZ", "AuZ"}
  md = (tmp_path / "results.md").read_text()
  assert "| emobank_vad |" in md and "| paper (BERT-base) | 0.625 | 0.629 | 0.371 | 0.395 |" in md
  out = json.loads((tmp_path / "runs" / "Aug_emobank_vad_s0" / "results.json").read_text())
  assert out["test_items"] == 16 and "afftext_be5" in out["zero_shot"]
  assert len((tmp_path / "runs" / "Aug_emobank_vad_s0" / "metrics.jsonl").read_text().splitlines()) == 3
  chex.assert_trees_all_equal(jax.tree.map(np.array, tc.load_stage1(stage1)[0].params), before)
  # The best-dev state is exported: load() runs the fine-tuned BERT + Dense 100, not frozen features.
  model = emojax.load(tmp_path)
  assert isinstance(model, emojax.api.FinetunedTextModel) and model.modality == "texts"
  assert model.content_meta["stage1"]["fingerprint"] == checkpoint.fingerprint(stage1)
  texts = ["I am so happy today!", "The war killed thousands.", "ok"]
  e = model.embed(texts, modality="texts")
  assert e.shape == (3, 100) and np.isfinite(e).all()
  tok = bert.tokenize(texts, 8)
  best = finetune_text.train_one(  # the exported run again: same seed, same best-dev parameters
      dataclasses.replace(run, seeds=(0,)), "Aug", "emobank_vad", 0, tmp_path / "again", bert_params=params,
      bert_config=cfg, tok=bert.load_tokenizer(), siblings={"emobank_vad": []}, nets={}, show_progress=False)
  trained = best["best_params"]["bert"]["layers"][0]["qkv_W"]
  assert not np.allclose(trained, np.asarray(params["layers"][0]["qkv_W"]))  # the backbone moves
  pooled = bert.mean_pool(bert.bert_forward(best["best_params"]["bert"], tok.ids_BxL, tok.mask_BxL,
                                            config=cfg), tok.mask_BxL)
  embed = best["best_params"]["embed"]
  np.testing.assert_allclose(e, pooled @ embed["kernel"] + embed["bias"], atol=1e-4)
  np.testing.assert_allclose(model.embed(texts[1:2], modality="texts"), e[1:2], atol=1e-5)
  vad = model.predict_array(texts, "vad", modality="texts")
  rows = np.asarray(model.params["bank"], np.float64)[model.layout.offsets["vad"]:][:3]
  np.testing.assert_allclose(vad, np.asarray(pooled @ embed["kernel"] + embed["bias"], np.float64) @ rows.T,
                             atol=1e-3)  # the head by hand on the by-hand embedding
  assert model.predict_array(texts, "be5", modality="texts").shape == (3, 5)
  with pytest.raises(ValueError, match="item 1 is an empty string"):
    model.predict_array(["fine", " "], "vad", modality="texts")
  with warnings.catch_warnings(record=True) as caught:  # > 8 tokens: truncated, said once
    warnings.simplefilter("always")
    model.embed([" ".join(["terribly"] * 20), "short"], modality="texts")
    model.embed([" ".join(["terribly"] * 20)], modality="texts")
  assert sum("truncated" in str(w.message) for w in caught) == 1
  # An export of the earlier one-run config (dataset, condition, seed) still loads.
  meta_path = tmp_path / "model.json"
  meta = json.loads(meta_path.read_text())
  for field in ("datasets", "conditions", "seeds"):
    meta["config"][field[:-1]] = meta["config"].pop(field)[0]
  meta_path.write_text(json.dumps(meta))
  np.testing.assert_allclose(emojax.load(tmp_path).embed(texts, modality="texts"), e, atol=1e-6)
  # A different stage-1 model at the recorded place is refused.
  other = tmp_path.parent / (tmp_path.name + "_other_stage1")
  shutil.copytree(stage1, other)
  (other / "model.json").write_text((other / "model.json").read_text().replace('"seed"', '"seed" ', 1))
  with pytest.raises(emojax.checkpoint.CheckpointError, match="another model"):
    emojax.load(tmp_path, stage1=other)
  with pytest.raises(ValueError, match="not divisible"):
    finetune_text.run(dataclasses.replace(run, batch_size=12), tmp_path / "b12",
                      bert_params=params, bert_config=cfg)
  with pytest.raises(ValueError, match="export='afftext_be5:Bsl' must name"):
    finetune_text.check_config(dataclasses.replace(run, export="afftext_be5:Bsl"))
  with pytest.raises(KeyError, match="unknown text dataset 'emobank'"):
    finetune_text.check_config(dataclasses.replace(run, datasets=("emobank",)))


# ------------------------------------------------------------------- extra training items for Mlt

def test_mlt_with_is_checked_and_planned_for_the_mlt_encoders_only():
  base = dict(modality="texts", datasets=datasets.names("texts"), conditions=("Bsl", "Mlt"), seeds=(0,))
  cfg = tc.ContentConfig(**base, mlt_with=("briesemeister_be5",))
  tc.check_config(cfg)
  runs = content_plan.plan_runs(cfg, dict.fromkeys(datasets.names("texts") + cfg.mlt_with))
  assert [(r.condition, r.datasets, r.extra) for r in runs] == [
      ("Bsl", ("emobank_vad",), ()), ("Bsl", ("afftext_be5",), ()),
      ("Mlt", ("emobank_vad", "afftext_be5"), ("briesemeister_be5",))]
  assert runs[-1].name == "Mlt/emobank_vad+afftext_be5"  # the key (and seed stream) of the Mlt run
  for bad, match in ((dict(mlt_with=("emobank_vad",)), "among the run's datasets"),
                     (dict(mlt_with=("coso_be5", "coso_be5")), r"\['coso_be5'\] named twice"),
                     (dict(mlt_with=("bass_us_va",)), "not a stage-2 dataset a texts run reads"),
                     (dict(mlt_with=("briesemeister_be5",), conditions=("Bsl",)), "have no Mlt"),
                     (dict(mlt_with=("briesemeister_be5",), datasets=("emobank_vad",)), "trains no Mlt encoder")):
    with pytest.raises(ValueError, match=match):
      tc.check_config(tc.ContentConfig(**{**base, **bad}))
  with pytest.raises(ValueError, match="not a stage-2 dataset a words run reads"):
    tc.check_config(tc.ContentConfig(datasets=("warriner_vad",), mlt_with=("emobank_vad",)))


def test_word_datasets_read_as_texts_leave_out_glosses_of_sibling_training_words(tmp_path):
  d = text_data.load_texts("briesemeister_be5", tmp_path, max_length=32, max_items=8, show_progress=False)
  keys, y, texts, _ = text_data.text_table("briesemeister_be5")
  table = datasets.read_table(datasets.get_dataset("briesemeister_be5"))
  assert texts == table.content and texts[0].isupper()  # the English concept gloss, not the German word
  row = {k: i for i, k in enumerate(keys)}
  np.testing.assert_allclose(d.x["train"][0], text_data.text_features([texts[row[d.items["train"][0]]]], 32)[0],
                             atol=1e-5)
  leaky = content_data.sibling_train_texts("briesemeister_be5")
  split = splits.split_of("briesemeister_be5")
  expected = {p: sum(texts[row[k]] in leaky for k in split[p]) if p != "train" else 0 for p in split}
  assert d.dropped == {"gloss_in_sibling_train": expected} and sum(expected.values()) > 0
  assert not any(texts[row[k]] in leaky for p in ("dev", "test") for k in d.items[p])
  np.testing.assert_array_equal(d.y["train"], y[[row[k] for k in d.items["train"]]])


def test_mlt_with_trains_the_mlt_encoder_on_the_extra_items_only(tiny_stage1, cache, tmp_path):
  cache = shutil.copytree(cache, tmp_path / "features")  # the module's cache keeps its two entries
  cfg = tc.ContentConfig(modality="texts", stage1=str(tiny_stage1), datasets=datasets.names("texts"),
                         conditions=("Bsl", "Mlt"), seeds=(0,), mlt_with=("briesemeister_be5",),
                         mlt_with_weight=0.25, export="emobank_vad:Mlt", feature_cache=str(cache),
                         epochs=1, mapping_epochs=1, batch_size=8, max_groups=1, max_items=8,
                         max_length=32, vader=False)
  results = tc.run(cfg, tmp_path / "run", show_progress=False)
  assert set(results["datasets"]) == set(datasets.names("texts"))  # no row, no mean of its own
  assert results["mlt_with"]["briesemeister_be5"]["sizes"]["train"] == 8
  assert "also trained on" in (tmp_path / "run" / "results.md").read_text()
  encoder = json.loads((tmp_path / "run" / "model.json").read_text())["encoder"]
  assert encoder["run"] == "Mlt/emobank_vad+afftext_be5" and encoder["also_trained_on"] == ["briesemeister_be5"]
  assert encoder["formats"] == ["vad", "be5"]  # of every dataset it was trained on, extras included
  # The formats it was trained through include the extra datasets' (be6 from Speed's Dutch norms);
  # its calibration statistics stay those of the run's own training items.
  model = emojax.load(tmp_path / "run")
  assert calibration.trained_formats(model) == ["vad", "be5"]
  assert calibration.training_datasets(model) == ["emobank_vad", "afftext_be5"]
  older = {k: v for k, v in encoder.items() if k != "formats"}  # an export from before `formats`
  with_speed = types.SimpleNamespace(  # the same model, had it been trained on Speed's BE6 too
      content_meta={"encoder": {**older, "also_trained_on": ["speed_be6"]}},
      content_config=model.content_config, formats={**model.formats, "be6": formats.get_format("be6")})
  assert calibration.trained_formats(with_speed) == ["vad", "be5", "be6"]
  # The run's index arrays: the Mlt encoder's training rows include the word items, at their
  # weight; its best epoch is chosen on the run's own dev items only.
  data = tc.load_data(cfg, cache)
  stage1, _ = tc.load_stage1(tiny_stage1)
  pool = tc.Pool(data, stage1.packing, stage1, tc.augment_map(cfg.augment))
  runs = content_plan.plan_runs(cfg, data)
  arrays = tc.run_arrays(runs, pool, stage1.packing, cfg, 3)
  mlt = [r.condition for r in runs].index("Mlt")
  chex.assert_trees_all_close(arrays["slot_weight"][mlt], np.asarray([1.0, 1.0, 0.25], np.float32))
  assert arrays["n_dev"][mlt].tolist() == [8, 8, 0] and arrays["n_train"][mlt] == 24
  assert set(pool.rows("briesemeister_be5", "train")) <= set(arrays["train"][mlt].tolist())
  bsl = [r.condition for r in runs].index("Bsl")
  assert arrays["slot_weight"][bsl].tolist() == [1.0, 0.0, 0.0] and arrays["n_train"][bsl] == 8
