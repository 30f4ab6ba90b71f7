"""Image fine-tuning (mode b): sharded steps over 8 fake devices, falling loss, frozen stage 1,
export -> emojax.load -> predict with the fine-tuned network, the image_mode switch."""

import json
import shutil

import chex
import jax
import numpy as np
import pytest

import emojax
from emojax import checkpoint, finetune_image as fi
from emojax import train_content as tc
from emojax.encoders import mobilenet

from conftest import check_image_model_inputs, image_inputs

SIZE = 64  # tiny images: the point is the plumbing, not the score


@pytest.fixture(scope="module")
def finetuned(untrained_stage1, tmp_path_factory):
  """Aug on BASS US, 8 training images = one batch of 8 (one per fake device), 3 steps on that fixed
  batch (no flips, no dropout), real ImageNet weights at 64 px."""
  workdir = tmp_path_factory.mktemp("images_ft")
  before = jax.tree.map(np.array, tc.load_stage1(untrained_stage1)[0].params)
  cfg = fi.FinetuneImageConfig(stage1=str(untrained_stage1), datasets=("bass_us_va",),
                               conditions=("Aug",),
                               seeds=(0,), export="bass_us_va:Aug", batch_size=8, max_steps=3,
                               eval_every=3, image_size=SIZE, max_items=13, flip=False, dropout=0.0,
                               learning_rate=1e-4, eval_batch_size=8)
  results = fi.run(cfg, workdir, show_progress=False)
  return workdir, results, before


def test_finetune_steps_sharded_loss_falls_stage1_frozen(finetuned, untrained_stage1):
  workdir, results, before = finetuned
  (run,) = results["runs"]
  assert run["device"].startswith("8 x ") and jax.device_count() == 8  # batch sharded 8 ways
  assert run["steps"] == 3 and json.loads((workdir / "results.json").read_text())["split"] == {
      "train": 8, "dev": 3, "test": 3}
  losses = [json.loads(line)["loss"] for line in
            (workdir / "runs" / "Aug_bass_us_va_s0" / "metrics.jsonl").read_text().splitlines()]
  assert len(losses) == 3 and losses[2] < losses[1] < losses[0], losses
  assert np.isfinite(run["best_dev_r"]) and len(run["test"]["bass_us_va"]) == 2
  after = jax.tree.map(np.array, tc.load_stage1(untrained_stage1)[0].params)
  chex.assert_trees_all_equal(after, before)
  assert "| bass_us_va |" in (workdir / "results.md").read_text()


def test_export_load_predict_runs_the_finetuned_network(finetuned, untrained_stage1, tmp_path):
  workdir, results, _ = finetuned
  model = emojax.load(workdir)
  assert isinstance(model, emojax.api.FinetunedImageModel) and model.modality == "images"
  assert model.content_meta["stage1"]["fingerprint"] == checkpoint.fingerprint(untrained_stage1)
  assert model.content_meta["feature"] == {"kind": fi.FEATURE_KIND, "image_size": SIZE, "dim": 1280}
  e = check_image_model_inputs(model, tmp_path)
  path = image_inputs()[0]
  # The fine-tuned backbone, not the pretrained features: recompute by hand from the restored params.
  pretrained = mobilenet.load_mobilenet_params()
  x = mobilenet.preprocess(path, mobilenet.resize_size(SIZE), SIZE)[None]
  tuned = model._backbone.params
  assert not np.allclose(tuned["head"]["w"], pretrained["head"]["w"])  # the backbone moved
  manual = mobilenet.mobilenet_forward(tuned, x) @ model.encoder_params["kernel"] + model.encoder_params["bias"]
  np.testing.assert_allclose(e[0], np.asarray(manual)[0], atol=1e-4)
  other = tmp_path / "other_stage1"  # a different stage-1 model is refused
  shutil.copytree(untrained_stage1, other)
  (other / "model.json").write_text((other / "model.json").read_text().replace('"seed"', '"seed" ', 1))
  with pytest.raises(emojax.checkpoint.CheckpointError, match="another model"):
    emojax.load(workdir, stage1=other)


def test_plan_config_checks_and_image_mode_switch():
  cfg = fi.FinetuneImageConfig()
  assert fi.plan(cfg) == [("Bsl", ("bass_us_va",)), ("Bsl", ("bass_ch_va",)), ("Sng", ("bass_us_va",)),
                          ("Sng", ("bass_ch_va",)), ("Aug", ("bass_us_va",)), ("Aug", ("bass_ch_va",)),
                          ("Mlt", ("bass_us_va", "bass_ch_va"))]
  fi.check_config(cfg)
  with pytest.raises(ValueError, match="export='bass_us_va:Aug' must name a run"):
    fi.check_config(fi.FinetuneImageConfig(conditions=("Sng",)))
  with pytest.raises(ValueError, match="unknown condition"):
    fi.check_config(fi.FinetuneImageConfig(conditions=("SnZ",), export=""))
  with pytest.raises(ValueError, match="compute_dtype"):
    fi.check_config(fi.FinetuneImageConfig(compute_dtype="float16"))
  assert fi.default_mode() == "features"  # CPU here; GPU/TPU -> finetune
  assert fi.pop_mode(["epochs=3", "image_mode=finetune"]) == ("finetune", ["epochs=3"])
  assert fi.pop_mode(["epochs=3"]) == ("features", ["epochs=3"])
  with pytest.raises(ValueError, match="image_mode must be one of"):
    fi.pop_mode(["image_mode=both"])


@pytest.fixture(scope="module")
def imagenet():
  """The packaged torchvision state dict, its folded parameters and BatchNorm scales."""
  sd = mobilenet.load_torch_legacy(mobilenet.default_weights_path())
  return sd, fi.backbone_of(mobilenet.convert_params(sd)), mobilenet.batchnorm_scales(sd)


def test_optimizer_sees_torchvisions_conv_weights(imagenet):
  """`to_trainable` undoes the BatchNorm folding of the weights (not of the biases: BN's shift is
  trained in PyTorch too), and `to_folded` is its inverse."""
  sd, backbone, scales = imagenet
  trainable = fi.to_trainable(backbone, scales)
  np.testing.assert_allclose(trainable["stem"]["w"], sd["features.0.0.weight"].transpose(2, 3, 1, 0), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(trainable["blocks"][1][1]["w"],  # block 2's depthwise 3x3
                             sd["features.2.conv.1.0.weight"].transpose(2, 3, 1, 0), rtol=1e-5, atol=1e-7)
  chex.assert_trees_all_equal(trainable["head"]["b"], backbone["head"]["b"])
  chex.assert_trees_all_close(fi.to_folded(trainable, scales), backbone, rtol=1e-6)
  chex.assert_trees_all_equal(fi.to_trainable(backbone, fi.unit_scales(backbone)), backbone)
  # The spread that makes SGD on the folded weights a different problem (module docstring).
  channel_scales = np.concatenate([np.ravel(s) for s in jax.tree.leaves(scales) if np.ndim(s)])
  assert 0.01 < channel_scales.min() < 0.05 and channel_scales.max() > 100


@pytest.mark.parametrize("folded_random_head, bound", [(False, "above"), (True, "below")])
def test_recipe_steps_keep_the_pretrained_features(imagenet, untrained_stage1, tmp_path, folded_random_head, bound):
  """Five steps of the recipe (SGD 1e-3, momentum 0.9, batch 32, dropout, flips) at 64 px: with the
  defaults the pooled features keep most of their spread over images; SGD on the folded weights
  with a randomly initialised Dense 100 (the earlier parametrisation) collapses them, after which
  every run predicted the label mean (docs/results.md, images)."""
  _, backbone, scales = imagenet
  cfg = fi.FinetuneImageConfig(stage1=str(untrained_stage1), datasets=("bass_us_va",), conditions=("Sng",),
                               seeds=(0,), export="", max_steps=5, eval_every=5, image_size=SIZE, max_items=80,
                               train_folded_weights=folded_random_head, zero_init_head=not folded_random_head)
  split, pixels = fi.load_pixels(cfg, tmp_path / "pixels")
  out = fi.train_one(cfg, "Sng", ("bass_us_va",), 0, tmp_path, split, pixels, backbone=backbone,
                     scales=scales, show_progress=False)
  x = mobilenet.normalize_pixels(np.stack([pixels[k] for k in split["train"]]).astype(np.float32))
  spread = lambda b: float(np.asarray(mobilenet.mobilenet_forward(b, x)).std(axis=0).mean())
  ratio = spread(out["best_params"]["backbone"]) / spread(backbone)
  print(f"feature spread after five recipe steps / pretrained: {ratio:.3g}")  # shown with pytest -s
  assert (ratio > 0.5) if bound == "above" else (ratio < 0.2), ratio
