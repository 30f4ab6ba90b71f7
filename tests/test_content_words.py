"""Stage 2 for words: split alignment, the loss pieces, frozen heads, conditions, launcher, load()."""

import dataclasses
import json
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import emojax
from emojax import codec, content_data, content_model, content_plan, datasets, mesh as mesh_lib, progress, splits
from emojax import train_content as tc

GERMAN = ("schmidtke_vad", "briesemeister_be5")


# ----------------------------------------------------------------------------------------- splits

@pytest.mark.parametrize("name", datasets.names("words"))
def test_committed_word_splits_follow_their_rule(name):
  assert splits.split_of(name) == splits.compute(name)


def test_word_splits_align_with_the_stage1_splits():
  for pair in map(datasets.get_pair, datasets.pair_names()):
    mapping = splits.part_of(splits.load_split(pair.name))
    for table in (pair.a, pair.b):
      if table not in datasets.names("words"):
        continue
      content = splits.part_of(splits.split_of(table))
      moved = [w for w, part in mapping.items() if content[w] != part]
      assert not moved, f"{table}: words of {pair.name} changed part: {moved[:5]}"
      train = {w for w, p in mapping.items() if p == "train"}
      assert not train & set(splits.split_of(table)["test"]), table


def test_sibling_tables_agree_on_shared_words():
  for group in datasets.sibling_groups(datasets.names("words")):
    parts = [splits.part_of(splits.split_of(n)) for n in group]
    for i, a in enumerate(parts):
      for b in parts[i + 1:]:
        assert all(a[w] == b[w] for w in set(a) & set(b)), group


def test_groups_and_siblings_come_from_the_mapping_pairs():
  assert datasets.sibling_groups(datasets.names("words")) == [
      ("stadthagen_va", "stadthagen_be5", "redondo_vad", "ferre_be5", "hinojosa_pos7"),
      ("riegel_va", "wierzba_be5", "imbir_vad"), GERMAN, ("moors_vad", "speed_va", "speed_be6")]
  assert datasets.sibling_groups(["warriner_vad", "moors_vad"]) == []


def test_word_data_drops_and_counts(tmp_path):
  data = content_data.load_words("briesemeister_be5", "glove50", tmp_path)
  assert data.x["train"].shape == (len(data.items["train"]), 50) and data.y["test"].shape[1] == 5
  total = sum(data.sizes().values()) + sum(sum(d.values()) for d in data.dropped.values())
  assert total == 560  # every word of the table is kept or counted
  assert data.dropped["gloss_in_sibling_train"]["train"] == 0
  assert len(list(tmp_path.glob("briesemeister_be5.glove50.*.npz"))) == 1
  again = content_data.load_words("briesemeister_be5", "glove50", tmp_path)  # from the cache
  np.testing.assert_array_equal(again.x["test"], data.x["test"])


# ------------------------------------------------------------------------------------ pure pieces

def _packing():
  return codec.Packing.of(emojax.formats.head_layout(["va", "be5", "vad"]))


def test_decode_each_and_example_losses_match_the_codec():
  packing = _packing()
  bank = {"bank": jax.random.normal(jax.random.key(0), (packing.layout.num_rows, 100))}
  e_BxE = jax.random.normal(jax.random.key(1), (6, 100))
  y_BxW = jax.random.uniform(jax.random.key(2), (6, packing.width))

  @jax.jit
  def check(f):  # one dataset: exactly the codec's head and ℓ_F
    f_B = jnp.full(6, f)
    pred = tc.decode_each(bank, packing, f_B, e_BxE)
    loss = tc.group_mean(tc.example_losses(packing, f_B, pred, y_BxW), jnp.zeros(6, jnp.int32), 2)
    return pred, codec.decode(bank, packing, f, e_BxE), loss, codec.masked_loss(packing, f, pred, y_BxW)

  for f in range(3):
    pred, want_pred, loss, want_loss = check(f)
    chex.assert_trees_all_close(pred, want_pred, atol=1e-5)
    chex.assert_trees_all_close(loss, want_loss, atol=1e-6)

  @jax.jit
  def mixed():  # two datasets in one batch (Mlt): the sum of each dataset's own mean loss
    f_B = g_B = jnp.array([0, 0, 1, 1, 1, 1])
    pred = tc.decode_each(bank, packing, f_B, e_BxE)
    want = (codec.masked_loss(packing, 0, pred[:2], y_BxW[:2]) +
            codec.masked_loss(packing, 1, pred[2:], y_BxW[2:]))
    losses = tc.example_losses(packing, f_B, pred, y_BxW)
    by_examples = 2 * losses.mean()  # mlt_weighting="examples": each example weighs the same
    return (tc.group_mean(losses, g_B, 2), tc.group_mean(losses, g_B, 2, by_examples=True)), (want, by_examples)

  chex.assert_trees_all_close(*mixed(), atol=1e-6)
  assert not np.isclose(*mixed()[0])  # 2 and 4 examples: the two weightings differ


def test_plan_groups_minimises_padded_steps():
  assert content_plan.plan_groups([66, 2, 3, 66, 10], 2) == [[1, 2, 4], [0, 3]]
  assert sorted(sum(content_plan.plan_groups([5, 1, 9, 2], 3, multiple=2), [])) == [0, 1, 2, 3]
  assert len(content_plan.plan_groups([4, 4, 4], 3)) == 1  # nothing to gain from more compiled calls


def test_encoder_shapes_for_words_and_pooled_features():
  words = tc.encoder_module(content_model.EncoderConfig(), 100, own_width=6)
  keys = jax.random.key_data(jax.random.split(jax.random.key(0), 3))
  p = jax.jit(lambda k: tc.init_params(words, 50, k))(keys)  # 3 runs
  assert set(p) == {"Dense_0", "Dense_1", "embed", "own"}
  assert p["Dense_0"]["kernel"].shape == (3, 50, 256) and not np.any(p["embed"]["bias"])
  np.testing.assert_allclose(np.std(p["Dense_1"]["kernel"]), 1 / np.sqrt(256), rtol=0.05)  # lecun
  e, o = jax.jit(lambda q, x: words.apply({"params": q}, x))(jax.tree.map(lambda a: a[0], p), jnp.ones((4, 50)))
  assert e.shape == (4, 100) and o.shape == (4, 6)
  keep = jax.jit(lambda k: tc.dropout_keep(k, words, 512, 50))(jax.random.key(1))
  assert [m.shape for m in keep] == [(512, 50), (512, 256), (512, 128)]
  np.testing.assert_allclose([np.mean(m) for m in keep], [0.8, 0.5, 0.5], atol=0.01)
  pooled = tc.encoder_module(content_model.EncoderConfig(hidden=(), dropout=(0.5,)), 100)  # texts, images
  q = jax.eval_shape(lambda: pooled.init(jax.random.key(0), jnp.zeros((1, 384)))["params"])
  assert set(q) == {"embed"} and q["embed"]["kernel"].shape == (384, 100)
  with pytest.raises(ValueError, match="one rate before the first layer"):
    tc.encoder_module(content_model.EncoderConfig(dropout=(0.5,)), 100)


# ------------------------------------------------------------------- stage 1, frozen heads, plan

@pytest.fixture(scope="module")
def stage1(tiny_stage1):
  """The session's tiny stage-1 model of the German pair (formats vad, be5); read, never changed."""
  return tiny_stage1


def _setup(stage1, tmp_path, **overrides):
  cfg = tc.ContentConfig(stage1=str(stage1), datasets=GERMAN, seeds=(0, 1), batch_size=64,
                         epochs=1, **overrides)
  model, _ = tc.load_stage1(cfg.stage1)
  data = {n: content_data.load_words(n, cfg.vectors, tmp_path) for n in GERMAN}
  return cfg, model, data


def test_plan_has_every_condition(stage1, tmp_path):
  cfg, model, data = _setup(stage1, tmp_path)
  runs = content_plan.plan_runs(cfg, data)
  names = sorted({r.name for r in runs})
  assert names == sorted([f"{c}/{n}" for c in ("Bsl", "Sng", "Aug") for n in GERMAN] +
                         ["Mlt/schmidtke_vad+briesemeister_be5"])
  assert len(runs) == 7 * 2  # x 2 seeds
  siblings = content_plan.siblings_of(list(data))
  fmt = {n: d.format for n, d in data.items()}
  kinds = lambda cond: [t.kind for t in content_plan.targets_of(content_plan.Run(cond, ("schmidtke_vad",), 0), siblings, fmt)]
  assert kinds("Bsl") == ["fit", "fit", "chain"] and kinds("Aug") == ["fit", "fit", "zero"]
  mlt = content_plan.targets_of(content_plan.Run("Mlt", GERMAN, 0), siblings, fmt)
  assert [(t.dataset, t.fmt) for t in mlt if t.part == "test"] == [(n, fmt[n]) for n in GERMAN]
  only_zero = content_plan.plan_runs(tc.ContentConfig(datasets=GERMAN, conditions=("SnZ",), seeds=(0,)), data)
  assert {r.condition for r in only_zero} == {"Sng"}


def test_training_never_touches_the_frozen_heads(stage1, tmp_path):
  cfg, model, data = _setup(stage1, tmp_path)
  mesh = mesh_lib.make_mesh()  # 8 fake devices: the run axis is sharded over them
  packing = model.packing
  before = jax.tree.map(np.array, model.params)
  pool = tc.Pool(data, packing, model, tc.augment_map(cfg.augment))
  runs = [content_plan.Run(c, ("schmidtke_vad",), 0) for c in ("Bsl", "Sng", "Aug")] + [content_plan.Run("Mlt", GERMAN, 0)]
  runs += [runs[-1]] * (-len(runs) % mesh.size)
  arrays = tc.run_arrays(runs, pool, packing, cfg, num_slots=2)
  assert arrays["train"].shape[0] == arrays["dev"].shape[0] == 8 and arrays["dev"].shape[1] == 2
  rep = mesh_lib.replicated(mesh)
  frozen = jax.device_put(model.params, rep)
  module = tc.encoder_module(cfg.encoder, 100, packing.width)
  bar = progress.Progress(1, "test", enabled=False)
  steps = int(arrays["steps"].max())
  epoch_fn = tc.make_epoch_fn(cfg, module, packing, mesh, 2, steps)
  train = lambda cfg: tc.train_group(cfg, runs, arrays, jax.device_put(pool.arrays, rep), frozen,
                                     module, packing, 50, mesh, tmp_path / "group", bar, 0, epoch_fn)
  best, best_dev, done = train(cfg)
  assert done == 8 * steps and np.isfinite(best_dev).all()
  best, best_dev, done = train(dataclasses.replace(cfg, epochs=2))  # resumes after epoch 1
  assert done == 2 * 8 * steps
  lines = (tmp_path / "group" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
  chex.assert_trees_all_equal(jax.tree.map(np.array, frozen), before)  # bit-identical
  chex.assert_trees_all_equal(jax.tree.map(np.array, model.params), before)
  # The optimizer state holds moments of the encoder alone: no stage-1 leaf can be updated.
  abstract = jax.eval_shape(lambda k: tc.init_state(cfg, module, 50, k), arrays["key"])
  assert jax.tree.structure(abstract["opt"]) == jax.tree.structure(
      jax.eval_shape(jax.vmap(optax.adam(1e-3).init), abstract["params"]))
  assert not {"bank", "encoders"} & set(abstract["params"])
  # The trained encoders differ per condition (Bsl trains its own output, the rest the embedding).
  p = jax.device_get(best)
  assert not np.allclose(p["own"]["kernel"][0], p["own"]["kernel"][1])  # Bsl vs Sng
  np.testing.assert_array_equal(p["own"]["kernel"][1], p["own"]["kernel"][2])  # unused by Sng/Aug


# -------------------------------------------------------------------------------- launcher, load

@pytest.fixture(scope="module")
def words_run(tiny_words):
  """The session's tiny words run (conftest.TINY_WORDS against tiny_stage1); read, never changed."""
  return tiny_words


def test_launcher_writes_the_word_experiment(words_run, stage1):
  workdir, proc = words_run
  for name in ("config.json", "results.json", "results.md", "model.json", "model"):
    assert (workdir / name).exists(), name
  results = json.loads((workdir / "results.json").read_text())
  assert results["seeds"] == [0, 1] and list(results["conditions"]) == list(content_plan.CONDITIONS)
  for cond in ("Bsl", "Sng", "Aug", "Mlt"):
    rows = results["conditions"][cond]["test"]["rows"]
    assert set(rows) == set(GERMAN) and len(rows["schmidtke_vad"]["mean"]["values"]) == 2
    assert set(rows["briesemeister_be5"]["variables"]) == {"joy", "anger", "sadness", "fear", "disgust"}
  for cond in ("BsZ", "SnZ", "AuZ"):
    assert set(results["conditions"][cond]["test"]["rows"]) == {
        "schmidtke_vad→briesemeister_be5", "briesemeister_be5→schmidtke_vad"}
  assert len(results["findings"]) == 3 and results["stage1"]["path"] == str(stage1.resolve())
  recorded = json.loads((stage1 / "config.json").read_text())  # which codec the table was trained against
  assert results["stage1"]["config"]["pairs"] == recorded["pairs"] and results["stage1"]["seed"] == 0
  assert f"{len(recorded['pairs'])} pairs" in (workdir / "results.md").read_text().splitlines()[2]
  assert results["datasets"]["briesemeister_be5"]["dropped"]["oov"] == {"train": 0, "dev": 0, "test": 0}
  markdown = (workdir / "results.md").read_text()
  assert "| schmidtke_vad | de | vad |" in markdown and "0.807" in markdown and "## Timing" in markdown
  assert "test mean r: Bsl" in proc.stdout and "words stage 2" in proc.stderr
  assert len(list((workdir / "groups").glob("*/checkpoints"))) == 1


def test_a_rerun_with_the_raw_readout_only_reevaluates(words_run, stage1, tmp_path):
  """configs/words.py reads Sng/Aug in the label region; `readout=raw` in the same workdir trains
  nothing (the readout changes no checkpoint) and changes only what a foreign head reads."""
  from conftest import TINY_WORDS, launch
  workdir, _ = words_run
  copy = tmp_path / "words"
  shutil.copytree(workdir, copy)
  proc = launch("launch/content.py", "--modality=words", f"--workdir={copy}", "--seeds=0,1",
                f"stage1={stage1}", *TINY_WORDS, "readout=raw")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "(nothing left to train)" in proc.stderr
  region, raw = (json.loads((w / "results.json").read_text())["conditions"] for w in (workdir, copy))
  table = lambda res, cond: {k: v["mean"]["values"] for k, v in res[cond]["test"]["rows"].items()}
  for cond in ("Bsl", "Sng", "Aug", "Mlt", "BsZ"):  # every head a run was trained through: the same
    chex.assert_trees_all_close(table(raw, cond), table(region, cond), atol=1e-3)  # float rounding
  assert not np.allclose(list(table(raw, "SnZ").values()), list(table(region, "SnZ").values()), atol=1e-3)


def test_the_mlt_encoder_exports_and_calibrates_on_its_whole_group(words_run, stage1, tmp_path):
  """`export=<dataset>:Mlt` serves the one encoder trained on that dataset's group; its calibration
  reads the training items of every dataset in it (GloVe features: the export is what is tested)."""
  from conftest import TINY_WORDS, launch
  from emojax import calibration
  workdir, _ = words_run
  mlt = tmp_path / "mlt"
  proc = launch("launch/content.py", "--modality=words", f"--workdir={mlt}", "--seeds=0,1",
                f"stage1={stage1}", *TINY_WORDS[:-1], "conditions=Mlt", "vectors=glove50",
                "export=briesemeister_be5:Mlt")
  assert proc.returncode == 0, proc.stderr[-3000:]
  meta = json.loads((mlt / "model.json").read_text())
  assert meta["encoder"]["run"] == "Mlt/schmidtke_vad+briesemeister_be5" and meta["encoder"]["seed"] in (0, 1)
  model, aug = emojax.load(mlt), emojax.load(workdir)
  assert calibration.training_datasets(model) == list(GERMAN)
  assert calibration.training_datasets(aug) == ["schmidtke_vad"]
  assert not np.allclose(model.embed(["happy", "funeral"]), aug.embed(["happy", "funeral"]))
  cfg = tc.ContentConfig(export="warriner_vad:Bsl")
  with pytest.raises(ValueError, match=r"export='warriner_vad:Bsl' must be <dataset>:Sng, <dataset>:Aug or "
                                       r"<dataset>:Mlt"):  # Bsl's own output layer is outside the space
    tc.check_config(cfg)


def test_load_embeds_and_predicts_words(words_run):
  workdir, _ = words_run
  model = emojax.load(workdir)
  assert isinstance(model, emojax.api.ContentModel) and model.modality == "words"
  e = model.embed(["happy", "funeral", "table"])
  assert e.shape == (3, 100) and e.dtype == np.float32 and np.isfinite(e).all()
  np.testing.assert_allclose(model.embed("happy")[0], e[0], atol=1e-5)
  vad = model.predict_array(["happy", "funeral"], "vad")
  np.testing.assert_allclose(vad, model.decode_embeddings(e[:2], "vad"), atol=1e-6)
  assert model.predict_array("happy", "be5").shape == (1, 5)
  assert model.map_labels([[0.5, 0.0, 0.1]], "vad", "be5").shape == (1, 5)  # stage-1 API intact
  assert set(model.formats) == {"vad", "be5"}
  with pytest.raises(ValueError, match="unknown label format 'va'"):
    model.predict_array(["happy"], "va")
  with pytest.raises(ValueError, match="needs fmt"):
    model.predict_array(["happy"])
  with pytest.raises(ValueError, match="item 1 is an empty string"):
    model.embed(["happy", " "])
  with pytest.raises(ValueError, match="out of vocabulary"):
    model.embed(["happy", "qqxzzv"])
  assert np.isnan(model.predict_array(["qqxzzv", "happy"], "vad", oov="nan")[0]).all()
  with pytest.raises(ValueError, match="this model's content encoder reads 'words'"):
    model.embed(["happy"], modality="texts")


def test_load_refuses_a_missing_or_different_stage1(words_run, stage1, tmp_path):
  workdir, _ = words_run
  with pytest.raises(emojax.checkpoint.CheckpointError, match="holds no exported model"):
    emojax.load(workdir, stage1=tmp_path / "gone")
  moved = tmp_path / "moved"
  shutil.copytree(stage1, moved)
  assert isinstance(emojax.load(workdir, stage1=moved), emojax.api.ContentModel)  # same bytes
  meta = json.loads((moved / "model.json").read_text())
  (moved / "model.json").write_text(json.dumps({**meta, "seed": 99}, indent=2) + "\n")
  with pytest.raises(emojax.checkpoint.CheckpointError, match="holds another model"):
    emojax.load(workdir, stage1=moved)
