"""Stage 1 end to end: sharded step equivalence, launcher train/save/resume, and emojax.load."""

import json
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

import emojax
from emojax import codec, mapping_data, mesh as mesh_lib, train_mapping

from conftest import ROOT, one_device_env
TINY = ["pairs=de_vad_be5,es_va_be5", "steps=4", "eval_every=2", "checkpoint_every=1",
        "baseline_epochs=1"]


def _epoch_on(num_devices, cfg, pairs):
  mesh = mesh_lib.make_mesh(num_devices)
  packing = codec.Packing.of(train_mapping.layout_of(pairs))
  rep = mesh_lib.replicated(mesh)
  state = jax.jit(lambda k: train_mapping.init_state(k, cfg, packing), out_shardings=rep)(jax.random.key(0))
  train = jax.device_put(train_mapping.train_arrays(packing, pairs), rep)
  dev = jax.device_put(train_mapping.direction_arrays(packing, pairs, "dev"), rep)
  epoch = train_mapping.make_epoch_fn(cfg, packing, mesh)
  state, out = epoch(state, train, dev, jax.random.key(1))
  return jax.device_get(state), jax.device_get(out)


def test_sharded_steps_equal_single_device_steps():
  assert jax.device_count() == 8, "conftest asks for 8 fake CPU devices"
  cfg = train_mapping.MappingConfig(pairs=("de_vad_be5", "es_va_be5"), eval_every=3)
  pairs = [mapping_data.load_pair(p) for p in cfg.pairs]
  one, out_one = _epoch_on(1, cfg, pairs)
  eight, out_eight = _epoch_on(8, cfg, pairs)
  chex.assert_trees_all_close(one["params"], eight["params"], atol=1e-5, rtol=1e-5)
  chex.assert_trees_all_close(out_one["loss"], out_eight["loss"], atol=1e-6, rtol=1e-5)
  assert int(one["step"]) == 3


def test_batch_must_divide_over_devices():
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    mesh_lib.check_batch_divides(12, mesh_lib.make_mesh(8))


def _launch(workdir, *extra):
  env = one_device_env()
  cmd = [sys.executable, str(ROOT / "launch" / "mapping.py"), f"--workdir={workdir}",
         "--accelerator=cpu", "--seeds=0,1", *TINY, *extra]
  return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("mapping")
  proc = _launch(workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc


def test_launcher_writes_everything(tiny_run):
  workdir, proc = tiny_run
  for name in ("config.json", "results.json", "results.md", "model.json", "model",
               "seed_0/metrics.jsonl", "seed_1/checkpoints"):
    assert (workdir / name).exists(), name
  results = json.loads((workdir / "results.json").read_text())
  assert results["seeds"] == [0, 1]
  row = results["codec"]["test"]["directions"]["es_va_be5:va->be5"]
  assert len(row["mean"]["values"]) == 2 and set(row["variables"]) == set(emojax.get_format("be5").variables)
  assert "baseline" in results and results["tie_cosines"]
  lines = (workdir / "seed_0" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == [2, 4]
  assert "test mean r" in proc.stdout


def test_rerun_resumes_from_the_latest_checkpoint(tiny_run, tmp_path):
  workdir, _ = tiny_run
  proc = _launch(workdir, "steps=6")  # 2 epochs were saved: only the third one runs
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = (workdir / "seed_0" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == [2, 4, 6]
  assert "codec seed 0: 6/6" in proc.stderr


def test_load_maps_and_embeds_labels(tiny_run):
  workdir, _ = tiny_run
  model = emojax.load(workdir)
  assert set(model.formats) == {"vad", "be5", "va"}
  for n in (1, 3, 33):
    out = model.map_labels(np.zeros((n, 2)), "va", "be5")
    assert out.shape == (n, 5) and out.dtype == np.float32
  assert model.map_labels([0.5, -0.2], "va", "vad").shape == (1, 3)
  assert model.embed_labels(np.full((4, 5), 0.2), "be5").shape == (4, 100)
  with pytest.raises(ValueError, match="unknown label format 'be7'"):
    model.map_labels(np.zeros((1, 2)), "va", "be7")
  with pytest.raises(ValueError, match="has 2 variables"):
    model.map_labels(np.zeros((1, 3)), "va", "be5")
  with pytest.raises(ValueError, match="NaN"):
    model.embed_labels([[np.nan, 0.0]], "va")
  with pytest.raises(ValueError, match="outside the canonical range"):
    model.embed_labels([[2.0, 0.0]], "va")


def test_load_errors_are_clear(tmp_path):
  with pytest.raises(emojax.checkpoint.CheckpointError, match="does not exist"):
    emojax.load(tmp_path / "nothing")
  with pytest.raises(emojax.checkpoint.CheckpointError, match="holds no exported model"):
    emojax.load(tmp_path)


def _latest_state(seed_dir):
  import orbax.checkpoint as ocp
  with ocp.CheckpointManager(seed_dir / "checkpoints") as manager:
    step = manager.latest_step()
    return step, manager.restore(step, args=ocp.args.StandardRestore())


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tiny_run, tmp_path):
  workdir, _ = tiny_run  # test_rerun_resumes... extended it from 4 to 6 steps
  proc = _launch(tmp_path, "steps=6")
  assert proc.returncode == 0, proc.stderr[-3000:]
  step_a, resumed = _latest_state(workdir / "seed_1")
  step_b, straight = _latest_state(tmp_path / "seed_1")
  assert step_a == step_b == 3
  chex.assert_trees_all_equal(resumed["params"], straight["params"])
  chex.assert_trees_all_equal(resumed["opt"], straight["opt"])


def test_train_seed_resumes_at_its_latest_checkpoint(tmp_path, monkeypatch):
  """A rerun starts at the saved epoch (not only ends equal: a fresh rerun would too)."""
  import dataclasses
  from emojax import loop
  starts, resume = [], loop.resume_or_init
  monkeypatch.setattr(loop, "resume_or_init", lambda *a, **k: starts.append(resume(*a, **k)) or starts[-1])
  cfg = train_mapping.MappingConfig(pairs=("de_vad_be5",), steps=4, eval_every=2, checkpoint_every=1)
  pairs, mesh = [mapping_data.load_pair("de_vad_be5")], mesh_lib.make_mesh(1)
  epoch_fn = train_mapping.make_epoch_fn(dataclasses.replace(cfg, steps=6), train_mapping.packing_of(cfg, pairs), mesh)
  train_mapping.train_seed(cfg, 0, pairs, mesh, tmp_path, epoch_fn, show_progress=False)
  train_mapping.train_seed(dataclasses.replace(cfg, steps=6), 0, pairs, mesh, tmp_path, epoch_fn,
                           show_progress=False)
  assert [start for _, start, _ in starts] == [0, 2]
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == [2, 4, 6]


def test_non_finite_training_stops_with_step_and_checkpoint(tmp_path):
  cfg = train_mapping.MappingConfig(pairs=("de_vad_be5",), steps=4, eval_every=2,
                                    learning_rate=1e30, checkpoint_every=1)
  pairs = [mapping_data.load_pair("de_vad_be5")]
  with pytest.raises(FloatingPointError, match=r"non-finite loss or parameters in epoch \d+ \(steps"):
    train_mapping.train_seed(cfg, 0, pairs, mesh_lib.make_mesh(1), tmp_path, show_progress=False)


def test_plausibility_table(tiny_run):
  from emojax import plausibility
  result = plausibility.plausibility(emojax.load(tiny_run[0]))
  pairs = {(r["a"], r["b"]) for r in result["rows"]}
  assert ("va:valence", "be5:joy") in pairs and ("va:valence", "va:arousal") in pairs
  assert ("vad:valence", "va:valence") not in pairs  # tied rows are left out
  assert -1.0 <= result["spearman"] <= 1.0
  assert "Spearman" in plausibility.markdown(result)


def test_corrupt_checkpoints_are_clear_errors(tiny_run, tmp_path):
  import shutil
  broken = tmp_path / "broken"
  shutil.copytree(tiny_run[0], broken, ignore=shutil.ignore_patterns("seed_*"))
  for f in (broken / "model").rglob("*"):
    if f.is_file():
      f.write_bytes(b"not a checkpoint")
  with pytest.raises(emojax.checkpoint.CheckpointError, match="cannot restore the model"):
    emojax.load(broken)
  (broken / "model.json").write_text("{ truncated")
  with pytest.raises(emojax.checkpoint.CheckpointError, match="model.json is corrupt"):
    emojax.load(broken)


def test_gradient_accumulation_reproduces_the_full_batch():
  base = train_mapping.MappingConfig(pairs=("de_vad_be5", "es_va_be5"), eval_every=3)
  pairs = [mapping_data.load_pair(p) for p in base.pairs]
  full, out_full = _epoch_on(1, base, pairs)
  accumulated, out_acc = _epoch_on(1, config_override(base, "grad_accum=4"), pairs)
  chex.assert_trees_all_close(full["params"], accumulated["params"], atol=1e-5, rtol=1e-5)
  # Adam is nearly blind to a gradient's scale: the loss checks the averaging itself.
  chex.assert_trees_all_close(out_full["loss"], out_acc["loss"], rtol=1e-5)


def config_override(cfg, *assignments):
  from emojax import config
  return config.override(cfg, list(assignments))


def test_sigterm_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path):
  import signal
  import time
  args = ["--seeds=0", "pairs=de_vad_be5", "steps=200", "eval_every=4", "checkpoint_every=5",
          "baseline_epochs=0"]
  env = one_device_env()
  cmd = [sys.executable, str(ROOT / "launch" / "mapping.py"), "--accelerator=cpu"]
  killed = tmp_path / "killed"
  proc = subprocess.Popen(cmd + [f"--workdir={killed}", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  checkpoints = killed / "seed_0" / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and not (checkpoints.exists() and any(checkpoints.glob("[0-9]*"))):
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=60) != 0, "the run finished before it could be killed"
  for workdir in (killed, tmp_path / "straight"):
    done = subprocess.run(cmd + [f"--workdir={workdir}", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
  step_a, resumed = _latest_state(killed / "seed_0")
  step_b, straight = _latest_state(tmp_path / "straight" / "seed_0")
  assert step_a == step_b == 50
  chex.assert_trees_all_equal(resumed["params"], straight["params"])
  chex.assert_trees_all_equal(resumed["best_params"], straight["best_params"])


def test_head_row_picture(tiny_run, tmp_path):
  from emojax import pictures
  path = pictures.plot_head_rows(emojax.load(tiny_run[0]), tmp_path / "rows.png", color="va:valence")
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
  with pytest.raises(ValueError, match="no mapping dataset of this model has format 'isear7'"):
    pictures.plot_head_rows(emojax.load(tiny_run[0]), tmp_path / "x.png", color="isear7:joy")
