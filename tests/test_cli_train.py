"""`emojax train CONFIG`: one command for every kind of run, dispatched on the config's type, with
the launchers' workdir, --restart and override rules, and `--help` listing every config field.

End to end, a user's own config file (docs/examples/my_words_pair.py, copied outside the
repository) trains a tiny stage 1 through the console command; a rerun with another setting is
refused as launch/mapping.py refuses it, and --restart starts over. The dispatch table maps each
bundled config to its trainer; `--help` shows each field with its default, allowed values and help.
"""

import json
import shutil
import subprocess
import sys

import pytest

from emojax import config, finetune_image, finetune_text, new_format, train_content, train_mapping
from emojax.codec import CodecConfig
from conftest import ROOT, launch, launcher_module, one_device_env

TINY = ["pairs=my_words", "steps=4", "eval_every=2", "baseline_epochs=0"]


def emojax_cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
  """The console command as a user runs it (`emojax ...` is `python -m emojax.cli ...`), outside
  the checkout, on one CPU device."""
  return subprocess.run([sys.executable, "-m", "emojax.cli", *argv], env=one_device_env(),
                        capture_output=True, text=True, timeout=timeout, cwd="/")


def test_train_an_own_config_end_to_end_resume_rules_included(tmp_path):
  home = tmp_path / "mine"
  home.mkdir()
  for name in ("my_words_pair.py", "my_words.csv"):
    shutil.copy(ROOT / "docs" / "examples" / name, home)
  workdir = tmp_path / "codec"
  proc = emojax_cli("train", str(home / "my_words_pair.py"), f"--workdir={workdir}",
                    "--accelerator=cpu", *TINY)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "== emojax stage 1: emotion codec" in proc.stdout and "results:" in proc.stdout
  assert json.loads((workdir / "config.json").read_text())["steps"] == 4
  assert (workdir / "splits" / "my_words.json").is_file() and (workdir / "model.json").is_file()
  import emojax
  assert emojax.load(workdir).map_labels([[0.8, 0.3]], "va", "be5").shape == (1, 5)
  # Another setting into the same workdir: refused (exit 2, one line), as by launch/mapping.py.
  proc = emojax_cli("train", str(home / "my_words_pair.py"), f"--workdir={workdir}",
                    "--accelerator=cpu", *TINY[:-1], "baseline_epochs=1")
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.startswith("error: ") and "--restart" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_every_kind_of_config_goes_to_its_trainer():
  common = launcher_module("launch/train.py").common
  runs = {"stage1": train_mapping.run, "paper_codec": train_mapping.run, "words": train_content.run,
          "texts": train_content.run, "images": train_content.run,
          "texts_finetune": finetune_text.run, "images_finetune": finetune_image.run,
          "new_formats": new_format.run}
  for name, run in runs.items():
    cfg = config.from_file(ROOT / "configs" / f"{name}.py")
    assert common.trainer(cfg).run is run, name
  own = config.load_file(ROOT / "docs" / "examples" / "my_format.py").get_config()
  assert common.trainer(own).run is new_format.run and common.trainer(own).stage == "new format"
  with pytest.raises(config.ConfigError, match="emojax trains a MappingConfig"):
    common.trainer(CodecConfig())


def test_help_lists_every_field_with_its_default_range_and_help(capsys):
  train = launcher_module("launch/train.py")
  with pytest.raises(SystemExit) as done:
    train.arguments(["texts", "--help", "epochs=3"])
  assert done.value.code == 0
  out = capsys.readouterr().out
  assert "python launch/train.py words --seeds=0 epochs=10" in out  # the examples
  cfg = config.from_file(ROOT / "configs" / "texts.py")
  shown = {line.split("=")[0].strip() for line in out.splitlines() if line.startswith("  ") and "=" in line}
  assert set(config.flat(config.to_dict(cfg))) <= shown  # every field, nested ones by dotted name
  lines = {line.split("=")[0].strip(): line for line in out.splitlines() if line.startswith("  ")}
  assert "epochs=40 -> 3" in lines["epochs"]
  assert "a positive integer; best dev epoch is kept" in lines["epochs"]
  assert "encoder.dropout=0.1,0.3" in lines["encoder.dropout"] and "numbers in [0, 1)" in lines["encoder.dropout"]
  assert "codec.dropout" not in shown
  with pytest.raises(SystemExit):
    train.arguments(["--help"])  # no config: the examples and the configs to name
  configs = [line for line in capsys.readouterr().out.splitlines() if line.startswith("configs: ")]
  assert configs and "stage1" in configs[0] and "texts_finetune" in configs[0]


def test_bad_train_command_lines_are_one_line_errors(tmp_path):
  train = launcher_module("launch/train.py")
  with pytest.raises(SystemExit, match="no such config file.*texts_finetune"):
    train.common.train(train.arguments(["nope", f"--workdir={tmp_path / 'w'}"]))
  with pytest.raises(SystemExit):
    train.arguments(["--workdir=/tmp/x"])  # no config named
  proc = launch("launch/train.py", "stage1", f"--workdir={tmp_path / 'w'}", "steps=0")
  assert proc.returncode == 2 and proc.stderr.strip() == "error: steps=0 must be a positive integer"
  assert not (tmp_path / "w").exists()


def test_every_subcommand_help_shows_examples_and_the_shared_flags(capsys):
  from emojax import cli
  items = {"--model", "--output", "--file", "--accelerator", "--quiet"}  # one name, one meaning
  shared = {"predict": items | {"--format", "--batch-size"}, "embed": items | {"--batch-size"},
            "export": items | {"--batch-size"}, "retrieve": items,
            "map": {"--model", "--output", "--file", "--accelerator"}}
  for command, flags in shared.items():
    with pytest.raises(SystemExit) as done:
      cli.parse([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "examples:\n  emojax " + command in out, command
    assert all(flag in out for flag in flags), (command, [f for f in flags if f not in out])
  with pytest.raises(SystemExit):
    cli.parse(["--help"])
  assert "train" in capsys.readouterr().out
  assert vars(cli.parse(["train", "words", "--help", "epochs=2"])) == {
      "command": "train", "argv": ["words", "--help", "epochs=2"], "accelerator": None}
