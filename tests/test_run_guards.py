"""Nothing silently wrong in a run (issue 27): a workdir holds one config's run (a different config,
another stage's model or a second run at once is refused; --restart starts over), config values are
checked against their declared ranges before anything is written, user errors reach the command line
as one line and exit 2, and Ctrl-C always stops a run with exit 130 and the last checkpoint whole."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import chex
import pytest

import emojax
from emojax import config, loop, train_mapping
from emojax.run_configs import MappingConfig

from conftest import ROOT, launch, launcher_module, one_device_env

# conftest's tiny_stage1, in-process: the German pair, 4 steps, 2 epochs, no baselines.
TINY = MappingConfig(pairs=("de_vad_be5",), steps=4, eval_every=2, baseline_epochs=0)


def _train(cfg, workdir, **kw):
  return train_mapping.run(cfg, workdir, show_progress=False, **kw)


def _files(workdir):
  """Every file of a workdir with its bytes (what a refused run must leave as it was)."""
  return {p.relative_to(workdir): p.read_bytes() for p in sorted(workdir.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished TINY stage-1 run, trained in-process. Tests change copies of it (`copy`)."""
  workdir = tmp_path_factory.mktemp("finished")
  _train(TINY, workdir)
  return workdir


@pytest.fixture
def copy(finished, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(finished, workdir)
  return workdir


# --------------------------------------------------------------- a run is its config (issue point 1)
# The refusals are loop.WorkdirError, a config.ConfigError, a ValueError: the tests ask for the
# ValueError so that on the code before these guards they fail by the run going ahead.

@pytest.mark.parametrize("change,saved,asked", [
    ({"learning_rate": 0.5}, "learning_rate=0.001", "learning_rate=0.5"),  # exited 0, recorded lr 0.5
    ({"steps": 2}, "steps=4", "steps=2"),  # labelled 4-step parameters as 2 steps
    ({"steps": 8, "eval_every": 4}, "eval_every=2, steps=4", "eval_every=4, steps=8"),  # epoch 2 as step 8
    ({"codec": dataclasses.replace(TINY.codec, hidden=(64, 64))}, "codec.hidden=128,128",
     "codec.hidden=64,64"),  # Orbax tracebacks, config.json contradicting model.json
    ({"seeds": (0, 1)}, "seeds=0", "seeds=0,1"),
])
def test_a_rerun_with_another_config_is_refused_naming_the_fields(copy, change, saved, asked):
  before = _files(copy)
  with pytest.raises(ValueError) as err:
    _train(dataclasses.replace(TINY, **change), copy)
  message = str(err.value)
  assert f"holds a run with {saved}; this command asks {asked}: add --restart" in message, message
  assert _files(copy) == before  # config.json, model.json, checkpoints and metrics untouched


def test_restart_starts_over_with_the_new_config(copy, finished):
  (copy / "features").mkdir()
  (copy / "features" / "cache.npz").write_bytes(b"kept")
  (copy / "notes.txt").write_text("the user's own file")
  changed = dataclasses.replace(TINY, learning_rate=0.5)
  _train(changed, copy, restart=True)
  assert json.loads((copy / "config.json").read_text())["learning_rate"] == 0.5
  assert json.loads((copy / "model.json").read_text())["config"]["learning_rate"] == 0.5
  lines = (copy / "seed_0" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == [2, 4]  # trained afresh at lr 0.5: new numbers
  assert lines != (finished / "seed_0" / "metrics.jsonl").read_text().splitlines()
  assert (copy / "features" / "cache.npz").read_bytes() == b"kept"  # caches and other files stay
  assert (copy / "notes.txt").exists()


def test_the_same_config_resumes_with_nothing_to_do_and_the_same_model(copy, finished, capfd):
  _train(TINY, copy)
  assert "seed_0: resuming from its checkpoint of epoch 2/2 (nothing left to train)" in capfd.readouterr().err
  chex.assert_trees_all_equal(emojax.load(copy).params, emojax.load(finished).params)
  assert (copy / "config.json").read_bytes() == (finished / "config.json").read_bytes()


def test_fields_that_only_say_where_may_change_on_resume(copy):
  moved = dataclasses.replace(TINY, num_devices=1, checkpoint_every=5)
  _train(moved, copy)  # not refused: the same computation on another number of devices
  assert json.loads((copy / "config.json").read_text())["num_devices"] == 1
  # (and stage 2's readout: applied to the trained encoders on every run, it changes no checkpoint)
  assert loop.RESUMABLE_CHANGES == {"num_devices", "checkpoint_every", "feature_cache", "image_cache", "readout"}


def test_a_workdir_holding_another_stages_model_is_refused(copy):
  meta = json.loads((copy / "model.json").read_text())
  (copy / "model.json").write_text(json.dumps({**meta, "stage": "content"}))
  (copy / "config.json").unlink()
  before = _files(copy)
  for restart in (False, True):  # --restart does not replace another stage's model either
    with pytest.raises(ValueError, match="holds a content model .*this is a mapping run"):
      _train(TINY, copy, restart=restart)
  assert _files(copy) == before


def test_a_workdir_of_another_kind_of_run_is_refused(copy):
  words = dict(json.loads((copy / "config.json").read_text()), modality="words", vectors="glove50")
  (copy / "config.json").write_text(json.dumps(words))
  with pytest.raises(ValueError, match="holds another kind of run .*modality=words"):
    _train(TINY, copy)


def _pid_of_a_process(alive: bool):
  proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  if not alive:
    proc.kill()
    proc.wait()
  return proc


def test_a_second_run_into_a_workdir_in_use_is_refused(copy):
  other = _pid_of_a_process(alive=True)
  try:
    lock = {"pid": other.pid, "host": socket.gethostname(), "since": "now"}
    (copy / "run.lock").write_text(json.dumps(lock))
    before = _files(copy)
    with pytest.raises(ValueError, match=f"is in use: a run \\(pid {other.pid} on "):
      _train(dataclasses.replace(TINY, learning_rate=0.5), copy, restart=True)
    with pytest.raises(ValueError, match="is in use"):
      _train(TINY, copy)
    assert _files(copy) == before  # neither replaced A's config nor A's model
  finally:
    other.kill()
    other.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(tmp_path, capfd):
  dead = _pid_of_a_process(alive=False)
  (tmp_path / "run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
  held = []
  start = loop.releases_workdir(lambda: (loop.start_workdir(tmp_path, TINY, stage="mapping"),
                                         held.append(json.loads((tmp_path / "run.lock").read_text()))))
  start()
  assert held[-1]["pid"] == os.getpid()  # ours while the run lasted
  assert not (tmp_path / "run.lock").exists()  # released when it returned
  assert f"pid {dead.pid} that left it is no longer running" in capfd.readouterr().err


def test_a_lock_on_another_host_is_respected(tmp_path):
  (tmp_path / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": "elsewhere"}))
  with pytest.raises(ValueError, match=f"pid {os.getpid()} on elsewhere"):
    loop.start_workdir(tmp_path, TINY, stage="mapping")


# -------------------------------------------------------- values out of range (issue point 6)

@pytest.mark.parametrize("override,message", [
    ("steps=0", "steps=0 must be a positive integer"),  # exported an untrained model
    ("eval_every=0", "eval_every=0 must be a positive integer"),  # ZeroDivisionError
    ("checkpoint_every=0", "checkpoint_every=0 must be a positive integer"),  # ZeroDivisionError
    ("codec.embedding_dim=0", "codec.embedding_dim=0 must be a positive integer"),  # ZeroDivisionError
    ("codec.dropout=2.0", r"codec.dropout=2.0 must be a number in \[0, 1\)"),  # OverflowError
    ("batch_size=-1", "batch_size=-1 must be a positive integer"),  # a JAX broadcasting error
    ("condition_dropout=5", r"condition_dropout=5.0 must be a number in \[0, 1\]"),  # accepted
    ("codec.dropout=1", r"codec.dropout=1.0 must be a number in \[0, 1\)"),
    ("learning_rate=-0.001", "learning_rate=-0.001 must be a positive number"),
    ("codec.hidden=64,0", "codec.hidden=64,0 must be a list of positive integers"),
    ("seeds=", "seeds= must be a non-empty list of non-negative integers"),
    ("steps=5", r"steps \(5\) must be a multiple of eval_every \(2\)"),
])
def test_out_of_range_values_are_refused_before_anything_is_written(tmp_path, override, message):
  cfg = config.override(TINY, [override])
  with pytest.raises(ValueError, match=message):
    _train(cfg, tmp_path / "run")
  assert not (tmp_path / "run").exists()


def test_every_config_class_declares_its_ranges_and_the_defaults_pass():
  from emojax import new_format
  from emojax.codec import CodecConfig, LossWeights
  from emojax.content_model import EncoderConfig
  from emojax.run_configs import ContentConfig, FinetuneConfig, FinetuneImageConfig
  classes = (MappingConfig, ContentConfig, FinetuneConfig, FinetuneImageConfig, CodecConfig, LossWeights,
             EncoderConfig, new_format.NewFormatConfig, new_format.NewFormatWeights)
  for cls in classes:
    assert cls in config._DECLARED, cls
    config.validate(cls())
  for path in sorted((ROOT / "configs").glob("*.py")):
    config.validate(config.from_file(path))
  bad = {ContentConfig: ["epochs=0", "encoder.dropout=0.5,1.5", "batch_shards=0", "modality=audio",
                         "mlt_with_weight=-1"],
         FinetuneConfig: ["head_dropout=1", "eval_batch_size=0", "compute_dtype=fp8"],
         FinetuneImageConfig: ["momentum=1", "image_size=0"],
         new_format.NewFormatConfig: ["epochs=0", "baseline_dropout=1", "weights.sharing=-1"]}
  for cls, overrides in bad.items():
    for text in overrides:
      with pytest.raises(config.ConfigError, match="must be"):
        config.validate(config.override(cls(), [text]))


# ------------------------------------------------------------- the launchers: one line, exit codes

def test_launcher_user_errors_are_one_line_and_exit_2(tmp_path):
  common = launcher_module("launch/mapping.py").common
  for argv in ([f"--workdir={tmp_path}", "eval_every=0"], ["--workdir=", "steps=4"]):
    args = common.parser("x", "configs/stage1.py").parse_args(argv)
    with pytest.raises(config.ConfigError):
      common.check_workdir_flag(args)
      common.read_config(args)
      common.configure(args, "t", kind=MappingConfig)


def test_main_turns_user_errors_and_ctrl_c_into_exit_codes(capsys):
  common = launcher_module("launch/mapping.py").common

  def bad():
    raise config.ConfigError("steps=0 must be a positive integer")

  def interrupted():
    raise KeyboardInterrupt

  with pytest.raises(SystemExit) as exit_:
    common.main(bad)
  assert exit_.value.code == 2 and capsys.readouterr().err == "error: steps=0 must be a positive integer\n"
  with pytest.raises(SystemExit) as exit_:
    common.main(interrupted)
  assert exit_.value.code == 130 and "interrupted; last checkpoint: " in capsys.readouterr().err


def test_a_bad_value_from_the_command_line_is_one_line_and_writes_nothing(tmp_path):
  proc = launch("launch/mapping.py", f"--workdir={tmp_path / 'w'}", "pairs=de_vad_be5", "eval_every=0",
                timeout=120)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == "error: eval_every=0 must be a positive integer"
  assert not (tmp_path / "w").exists()


def test_a_rerun_with_another_config_from_the_command_line_is_one_line(tiny_stage1, tmp_path):
  workdir = tmp_path / "stage1"
  shutil.copytree(tiny_stage1, workdir)
  before = _files(workdir)
  proc = launch("launch/mapping.py", f"--workdir={workdir}", "pairs=de_vad_be5", "steps=4", "eval_every=2",
                "baseline_epochs=0", "learning_rate=0.5", timeout=120)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == (
      f"error: workdir {workdir} holds a run with learning_rate=0.001; this command asks "
      f"learning_rate=0.5: add --restart to start over, or use another --workdir")
  assert _files(workdir) == before


# ------------------------------------------------------------------------ Ctrl-C (issue point 6)

class _Swallower:
  """Raises Ctrl-C's KeyboardInterrupt inside a finalizer, where Python prints "Exception ignored"
  and goes on: the way a Ctrl-C landing in a callback from C++ code is lost."""

  def __del__(self):
    signal.raise_signal(signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one
def test_a_swallowed_ctrl_c_still_stops_the_next_loop(tmp_path):
  import jax.numpy as jnp
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(1)})
  steps = []
  with loop.interrupts():
    _Swallower()  # the KeyboardInterrupt is swallowed ...
    assert loop.interrupted()  # ... but noted
    with pytest.raises(KeyboardInterrupt):
      loop.run(state, lambda s, i: steps.append(i) or (s, {}), start=start, stop=3, checkpoints=checkpoints)
  assert steps == []  # stopped before its first index


SWALLOWED_BETWEEN_SEEDS = """
import pathlib, runpy, signal, sys
sys.path.insert(0, sys.argv[1] + "/launch")
from emojax import loop

class Swallower:
  def __del__(self):
    signal.raise_signal(signal.SIGINT)

resume = loop.resume_or_init
def resume_or_init(workdir, *args, **kw):  # Ctrl-C while seed 1 is set up, outside any loop
  if pathlib.Path(workdir).name == "seed_1":
    Swallower()
  return resume(workdir, *args, **kw)
loop.resume_or_init = resume_or_init
sys.argv = [sys.argv[1] + "/launch/mapping.py", *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_ctrl_c_swallowed_outside_the_loop_still_stops_the_launcher_with_130(tmp_path):
  workdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-c", SWALLOWED_BETWEEN_SEEDS, str(ROOT), "--accelerator=cpu", f"--workdir={workdir}",
       "--seeds=0,1", "pairs=de_vad_be5", "steps=4", "eval_every=2", "baseline_epochs=0"],
      env=one_device_env(), capture_output=True, text=True, timeout=300)
  assert proc.returncode == 130, proc.stderr[-3000:]  # was 0: the run finished
  last = workdir / "seed_0" / "checkpoints" / "2"
  assert f"interrupted; last checkpoint: {last} (rerun the same command to resume)" in proc.stderr
  assert last.is_dir() and not list((workdir / "seed_1").glob("checkpoints/[0-9]*"))  # seed 1: no step
  assert not (workdir / "model.json").exists() and not (workdir / "run.lock").exists()
