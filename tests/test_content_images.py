"""Stage 2 for images: BASS tables and split, cached features, the launcher end to end, load()."""

import json

import numpy as np
import pytest

import emojax
from emojax import config, content_plan, datasets, image_data, splits
from emojax import train_content as tc

from conftest import ROOT, check_image_model_inputs, image_inputs, launch, launcher_module

N = 16  # images in the tiny runs: 10/3/3, feature batches of 8 (one compiled CNN shape)


# ------------------------------------------------------------------------------- tables and split

def test_bass_tables_rescale_from_the_nominal_scale():
  keys, y = image_data.image_labels("bass_us_va")
  assert len(keys) == 583 and y.shape == (583, 2) and (np.abs(y) <= 1).all()
  # abuse.png: US valence 1.729166667 on 1-9 -> (1.729166667 - 1) / 8 * 2 - 1
  np.testing.assert_allclose(y[keys.index("abuse.png"), 0], 0.729166667 / 4 - 1, atol=1e-6)
  ch_keys, ch = image_data.image_labels("bass_ch_va")
  assert ch_keys == keys and not np.allclose(ch, y)  # same images, other raters
  assert all((image_data.IMAGE_DIR / k).is_file() for k in keys)


def test_committed_split_follows_the_rule_and_is_shared():
  split = splits.split_of("bass_us_va")
  assert split == splits.compute("bass_us_va") == splits.ratio_split(image_data.image_names())
  assert splits.split_of("bass_ch_va") == split  # one group: one split
  assert {p: len(v) for p, v in split.items()} == {"train": 350, "dev": 117, "test": 116}
  small = image_data.subset(split, N)
  assert {p: len(v) for p, v in small.items()} == {"train": 10, "dev": 3, "test": 3}
  assert all(small[p] == split[p][:len(small[p])] for p in splits.PARTS)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp("features")


def test_loader_shapes_and_cache(cache):
  us = image_data.load_images("bass_us_va", cache, max_items=N)
  ch = image_data.load_images("bass_ch_va", cache, max_items=N)  # from the cache
  assert len(list(cache.glob("bass.*.npz"))) == 1
  assert us.sizes() == {"train": 10, "dev": 3, "test": 3} and us.dim == 1280 and us.format == "va"
  assert us.items == ch.items and us.language == "en" and ch.language == "zh"
  np.testing.assert_array_equal(us.x["test"], ch.x["test"])
  assert us.x["train"].dtype == np.float32 and np.isfinite(us.x["train"]).all()
  assert (us.x["train"] >= 0).all() and us.x["train"].std() > 0  # pooled ReLU6 features
  keys, y = image_data.image_labels("bass_ch_va")
  np.testing.assert_array_equal(ch.y["dev"], y[[keys.index(k) for k in ch.items["dev"]]])


def test_image_config_and_mlt_group():
  cfg = config.from_file(ROOT / "configs" / "images.py")
  tc.check_config(cfg)
  assert cfg.encoder.hidden == () and cfg.encoder.dropout == (0.5,) and cfg.batch_size % 8 == 0
  assert set(cfg.conditions) == {"Bsl", "Sng", "Aug", "Mlt"} and cfg.augment == ("va:be5",)
  assert content_plan.mlt_groups(list(datasets.names("images"))) == [("bass_us_va", "bass_ch_va")]
  assert content_plan.mlt_groups(["bass_us_va"]) == [] and content_plan.siblings_of(list(datasets.names("images"))) == {
      "bass_us_va": [], "bass_ch_va": []}  # no zero-shot direction: same format
  with pytest.raises(KeyError, match="unknown image dataset"):
    tc.check_config(config.from_file(ROOT / "configs" / "images.py", ["datasets=warriner_vad"]))


# ------------------------------------------------------------------------------ launcher, load

@pytest.fixture(scope="module")
def images_run(untrained_stage1, cache, tmp_path_factory):
  image_data.load_images("bass_us_va", cache, max_items=N)  # the launcher finds the features cached
  workdir = tmp_path_factory.mktemp("images")
  proc = launch("launch/content.py", "--modality=images", f"--workdir={workdir}", "--seeds=0,1",
                f"stage1={untrained_stage1}", f"feature_cache={cache}", f"max_items={N}", "epochs=2",
                "batch_size=8", "max_groups=1")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc


def test_launcher_writes_the_image_experiment(images_run):
  workdir, proc = images_run
  results = json.loads((workdir / "results.json").read_text())
  assert list(results["conditions"]) == ["Bsl", "Sng", "Aug", "Mlt"] and results["seeds"] == [0, 1]
  for cond in ("Bsl", "Sng", "Aug", "Mlt"):
    rows = results["conditions"][cond]["test"]["rows"]
    assert set(rows) == set(datasets.names("images"))
    assert set(rows["bass_ch_va"]["variables"]) == {"valence", "arousal"}
    assert len(rows["bass_us_va"]["mean"]["values"]) == 2
  assert results["vectors"] == image_data.FEATURE_NAME and results["feature_dim"] == 1280
  assert results["export"]["feature"]["kind"] == "image"
  markdown = (workdir / "results.md").read_text()
  assert "| bass_us_va | en | va | 10/3/3 |" in markdown and "BASS has only valence/arousal" in markdown
  assert "test mean r: Bsl" in proc.stdout


def test_load_embeds_and_predicts_images(images_run, tmp_path):
  workdir, _ = images_run
  model = emojax.load(workdir)
  assert isinstance(model, emojax.api.ContentModel) and model.modality == "images"
  check_image_model_inputs(model, tmp_path)
  assert model.predict_array(str(image_inputs()[0]), "be5", modality="images").shape == (1, 5)


def test_predict_launcher_on_an_image_folder(images_run, tmp_path, capsys):
  """launch/predict.py with an images model: a folder in, a table and an export out, a broken
  file named in a clear error."""
  cli = launcher_module("launch/predict.py")
  workdir, _ = images_run
  folder = tmp_path / "photos"
  folder.mkdir()
  for name in ("abuse.png", "kiss.png"):
    (folder / name).write_bytes((image_data.IMAGE_DIR / name).read_bytes())
  (folder / "readme.txt").write_text("not an image, skipped")
  assert cli.run(cli.parse(["--model", str(workdir), "--images", str(folder), "--format", "all"])) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[1].split()[:6] == ["item", "|", "valence", "arousal", "|", "joy"]
  model = emojax.load(workdir)
  want = model.predict_array([folder / "abuse.png", folder / "kiss.png"], "va", modality="images")
  np.testing.assert_allclose([[float(c) for c in l.split()[2:4]] for l in lines[3:]], want, atol=6e-4)
  assert cli.run(cli.parse(["export", "--model", str(workdir), "--images", str(folder),
                            "--output", str(tmp_path / "photos.npy")])) == 0
  index = json.loads((tmp_path / "photos.index.json").read_text())
  assert [i["id"] for i in index["items"]] == ["abuse.png", "kiss.png"] and index["modality"] == "images"
  np.testing.assert_allclose(np.load(tmp_path / "photos.npy")[1],
                             model.embed(folder / "kiss.png", modality="images")[0], atol=1e-4)
  (folder / "zz.png").write_bytes(b"not a png")
  assert cli.run(cli.parse(["--model", str(workdir), "--images", str(folder)])) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: cannot read image file") and "zz.png" in err and "Traceback" not in err
