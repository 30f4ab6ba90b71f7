"""Config overrides, the experiments' config files and launcher flags: parsing, defaults, clear errors."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest

from emojax import config, finetune_image, finetune_text, new_format
from emojax import train_content, train_mapping, transfer
from emojax.conditions import TRAINED
from emojax.content_model import EncoderConfig
from emojax.run_configs import ContentConfig, FinetuneConfig, FinetuneImageConfig, MappingConfig

from conftest import launcher_module

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = {"stage1": MappingConfig, "paper_codec": MappingConfig, "conditioned_codec": MappingConfig,
           "words": ContentConfig, "words_fast": ContentConfig, "words_paper": ContentConfig,
           "texts": ContentConfig, "texts_fast": ContentConfig, "texts_fast_words": ContentConfig, "texts_paper": ContentConfig, "texts_finetune": FinetuneConfig, "images": ContentConfig,
           "images_finetune": FinetuneImageConfig, "new_formats": new_format.NewFormatConfig,
           "transfer": transfer.TransferConfig, "new_format_codec": transfer.NewFormatCodecConfig}


def test_overrides_parse_by_declared_type():
  cfg = config.override(train_mapping.MappingConfig(),
                        ["steps=200", "seeds=0,1,2", "codec.dropout=0.1", "weights.class_target=0.5",
                         "condition_on_dataset=false", "pairs=es_va_be5"])
  assert cfg.steps == 200 and cfg.seeds == (0, 1, 2) and cfg.codec.dropout == 0.1
  assert cfg.weights.class_target == 0.5 and cfg.condition_on_dataset is False
  assert cfg.pairs == ("es_va_be5",)


def test_config_round_trips_through_json(tmp_path):
  cfg = config.override(train_mapping.MappingConfig(), ["seeds=3,4", "codec.hidden=64,32"])
  config.dump(cfg, tmp_path / "c.json")
  import json
  assert config.from_dict(train_mapping.MappingConfig, json.loads((tmp_path / "c.json").read_text())) == cfg


@pytest.mark.parametrize("bad,message", [("stepz=3", "unknown config field 'stepz'"),
                                         ("steps=many", "expected int"),
                                         ("codec.nope=1", "unknown config field 'codec.nope'"),
                                         ("steps", "must look like name=value")])
def test_bad_overrides_are_clear_errors(bad, message):
  with pytest.raises(ValueError, match=message):
    config.override(train_mapping.MappingConfig(), [bad])


def test_missing_accelerator_is_a_clear_error(tmp_path):
  env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
  proc = subprocess.run([sys.executable, str(ROOT / "launch" / "mapping.py"), "--accelerator=tpu",
                         f"--workdir={tmp_path / 'w'}"], env=env, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode != 0
  assert "--accelerator=tpu: no TPU is available" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------- configs/*.py files

def _file(name: str):
  return config.from_file(ROOT / "configs" / f"{name}.py")


def test_every_config_file_loads_and_names_its_command_and_result():
  assert sorted(p.stem for p in (ROOT / "configs").glob("*.py")) == sorted(CONFIGS)
  for name, kind in CONFIGS.items():
    module = config.load_file(ROOT / "configs" / f"{name}.py")
    assert type(module.get_config()) is kind, name
    doc = " ".join(module.__doc__.split())
    assert "python launch/" in doc and "Expected (test split" in doc, name  # the command, the result
  assert config.from_file(ROOT / "configs" / "words_paper.py", ["seeds=4", "encoder.hidden=8"]) == ContentConfig(
      stage1=str(ROOT / "checkpoints" / "mapping"), seeds=(4,), encoder=EncoderConfig(hidden=(8,)))
  with pytest.raises(FileNotFoundError, match="config file"):
    config.load_file(ROOT / "configs" / "nope.py")


def test_config_files_hold_the_launchers_defaults():
  """What the launchers ran before the config files, field for field (and the dataclass defaults
  where a config is the default one)."""
  stage1 = str(ROOT / "checkpoints" / "mapping")
  assert _file("stage1") == MappingConfig()
  assert _file("paper_codec") == MappingConfig(seeds=(0, 1, 2), condition_on_dataset=False)
  assert _file("conditioned_codec") == MappingConfig()  # the default, by its own name
  assert _file("words_paper") == ContentConfig(stage1=stage1) and len(ContentConfig().datasets) == 18
  assert _file("words_fast") == ContentConfig(stage1=stage1, vectors="glove50+minilm_l4", batch_size=32,
                                              readout="region")
  assert _file("words") == dataclasses.replace(_file("words_fast"), vectors="glove50+mpnet_tokavg", weight_decay=1.0)
  texts_paper = ContentConfig(
      modality="texts", stage1=stage1, datasets=("emobank_vad", "afftext_be5"),
      encoder=EncoderConfig(hidden=(), dropout=(0.5,)), batch_size=32, epochs=40, learning_rate=3e-4,
      export="emobank_vad:Aug", vader=False)
  assert _file("texts_paper") == texts_paper
  assert _file("texts_fast") == dataclasses.replace(
      texts_paper, encoder=EncoderConfig(hidden=(256,), dropout=(0.1, 0.3)), weight_decay=3.0,
      readout="region", export="emobank_vad:Mlt", mlt_weighting="examples")
  assert _file("texts") == dataclasses.replace(_file("texts_fast"), text_encoder="mpnet", text_pooling="layers")
  assert _file("texts").learning_rate == finetune_text.BSZ_LEARNING_RATE  # fine-tuning's BsZ nets
  assert _file("texts_fast_words") == dataclasses.replace(_file("texts_fast"), conditions=("Mlt",), mlt_with=(
      "stadthagen_be5", "wierzba_be5", "briesemeister_be5", "ferre_be5", "coso_be5", "speed_be6"))
  assert _file("images") == ContentConfig(
      modality="images", stage1=stage1, datasets=("bass_us_va", "bass_ch_va"), conditions=TRAINED,
      encoder=EncoderConfig(hidden=(), dropout=(0.5,)), batch_size=32, learning_rate=3e-4, augment=("va:be5",),
      export="bass_us_va:Aug", vader=False, readout="region")
  assert _file("texts_finetune") == FinetuneConfig(stage1=stage1)
  assert _file("images_finetune") == FinetuneImageConfig(stage1=stage1)
  assert _file("new_formats") == new_format.NewFormatConfig(base=str(ROOT / "checkpoints" / "texts"))
  for name, kind in CONFIGS.items():
    if kind is ContentConfig:
      train_content.check_config(_file(name))


def _content_launch(*argv: str):
  """launch/content.py's choice for a command line: (config file, config, workdir, overrides left)."""
  content = launcher_module("launch/content.py")
  args = content.arguments(list(argv))
  path, overrides = content.choose_config(args)
  content.common.read_config(args, path)
  return args.config, args.base, args.workdir, overrides


def test_content_launcher_modality_and_config_file_agree():
  for modality in ("words", "texts", "images"):  # images: cached features on this CPU
    by_modality = _content_launch(f"--modality={modality}", "seeds=0")
    assert by_modality == _content_launch(f"--config=configs/{modality}.py", "seeds=0")
    assert by_modality == _content_launch(f"--config={modality}", "seeds=0")
    assert by_modality == (ROOT / "configs" / f"{modality}.py", _file(modality),
                           str(ROOT / "checkpoints" / modality), ["seeds=0"])
  assert _content_launch() == _content_launch("--modality=words")
  fine = _content_launch("--modality=images", "image_mode=finetune", "epochs=3")
  assert fine == _content_launch("--config=configs/images_finetune.py", "epochs=3")
  assert fine[2] == str(ROOT / "checkpoints" / "images_finetune") and fine[3] == ["epochs=3"]
  assert _content_launch("--config=configs/texts_finetune.py", "--workdir=/tmp/x")[1:3] == (
      _file("texts_finetune"), "/tmp/x")
  content = launcher_module("launch/content.py")
  assert content.trainer(_file("texts_finetune"))[1] is finetune_text.run
  assert content.trainer(_file("images_finetune"))[1] is finetune_image.run
  assert content.trainer(_file("texts"))[1] is train_content.run
  with pytest.raises(SystemExit, match="not a stage-2 config"):
    content.trainer(_file("stage1"))
  with pytest.raises(SystemExit, match="not both"):
    _content_launch("--modality=texts", "--config=configs/texts.py")
  with pytest.raises(SystemExit, match="no such config file.*texts_finetune"):
    _content_launch("--config=configs/textz.py")


def test_mapping_and_new_format_launchers_default_to_their_config_files():
  for script, name, workdir in (("launch/mapping.py", "stage1", "mapping"),
                                ("launch/new_format.py", "new_formats", "new_formats")):
    launcher = launcher_module(script)
    args = launcher.common.parser("x", launcher.CONFIG).parse_args([])
    launcher.common.read_config(args)
    assert (args.config, args.base, args.workdir) == (
        ROOT / "configs" / f"{name}.py", _file(name), str(ROOT / "checkpoints" / workdir))
  args = launcher.common.parser("x", "configs/stage1.py").parse_args(["--config=configs/paper_codec.py"])
  launcher.common.read_config(args)
  assert args.base == _file("paper_codec") and args.workdir == str(ROOT / "checkpoints" / "paper_codec")


def test_launchers_check_values_and_names_before_any_work(tmp_path):
  """The declared ranges and the trainer's own check of names both reach the command line as a
  ConfigError (one line `error: ...`, exit 2), before the run starts; --restart is off by default."""
  content = launcher_module("launch/content.py")

  def configure(*argv):
    args = content.arguments(["--modality=words", f"--workdir={tmp_path}", *argv])
    path, overrides = content.choose_config(args)
    content.common.read_config(args, path)
    return content.common.configure(args, "t", overrides, check=content.trainer(args.base)[3]), args

  cfg, args = configure("epochs=2")
  assert cfg.epochs == 2 and args.restart is False
  assert configure("--restart")[1].restart is True
  for bad, message in (("epochs=0", "epochs=0 must be a positive integer"),
                       ("encoder.dropout=0.2,1.0", r"encoder.dropout=0.2,1.0 must be a list of numbers in \[0, 1\)"),
                       ("conditions=Nope", r"unknown conditions \['Nope'\]"),
                       ("datasets=nope", "unknown word dataset 'nope'")):
    with pytest.raises(config.ConfigError, match=message):
      configure(bad)
  assert not list(tmp_path.iterdir())
  with pytest.raises(config.ConfigError, match="--workdir= is empty"):
    content.common.check_workdir_flag(content.arguments(["--workdir="]))
