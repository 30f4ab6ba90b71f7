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


def _interrupted_after_one_epoch(workdir):
  """The TINY run of `_launch` stopped by Ctrl-C after seed 0's first epoch (in-process, on one
  device: num_devices only says where, so the launcher may resume it on its own)."""
  from emojax import config, loop
  cfg = config.override(train_mapping.MappingConfig(), [*TINY, "seeds=0,1", "num_devices=1"])
  real = loop.run

  def stopped(state, step_fn, *, start, stop, **kw):
    real(state, step_fn, start=start, stop=1, **kw)  # epoch 1 trained and saved
    raise KeyboardInterrupt

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(loop, "run", stopped)
    with pytest.raises(KeyboardInterrupt):
      train_mapping.run(cfg, workdir, show_progress=False)
  assert [p.name for p in (workdir / "seed_0" / "checkpoints").iterdir()] == ["1"]
  assert not (workdir / "seed_1").exists() and not (workdir / "model.json").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """Stage 1 interrupted after seed 0's first epoch, then finished by the launcher (a rerun of
  the same command): (workdir, the rerun's process)."""
  workdir = tmp_path_factory.mktemp("mapping")
  _interrupted_after_one_epoch(workdir)
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


def test_rerun_resumes_from_the_latest_checkpoint(tiny_run):
  """The launcher's rerun continued seed 0 at its saved epoch 1 (a rerun from scratch ends with
  the same files, so the resume itself is checked) and trained seed 1 from the start."""
  workdir, proc = tiny_run
  assert "seed_0: resuming from its checkpoint of epoch 1/2" in proc.stderr
  assert "seed_1: resuming" not in proc.stderr
  assert "codec seed 0: 4/4" in proc.stderr
  lines = (workdir / "seed_0" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == [2, 4]  # epoch 1's line kept, epoch 2's added
  assert json.loads((workdir / "model.json").read_text())["config"]["num_devices"] == 0  # the rerun's


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
  workdir, proc = tiny_run  # seed 0: epoch 1 in the interrupted run, epoch 2 in the rerun
  assert "seed_0: resuming from its checkpoint of epoch 1/2" in proc.stderr  # not trained afresh
  straight = _launch(tmp_path)
  assert straight.returncode == 0, straight.stderr[-3000:]
  assert "resuming" not in straight.stderr
  step_a, resumed = _latest_state(workdir / "seed_0")
  step_b, uninterrupted = _latest_state(tmp_path / "seed_0")
  assert step_a == step_b == 2
  chex.assert_trees_all_equal(resumed["params"], uninterrupted["params"])
  chex.assert_trees_all_equal(resumed["opt"], uninterrupted["opt"])
  chex.assert_trees_all_equal(emojax.load(workdir).params, emojax.load(tmp_path).params)


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
  # Known values, recomputed independently (scipy's Spearman; one row's cosine and Pearson by hand)
  from scipy import stats
  model = emojax.load(tiny_run[0])
  cos, pear = [r["cosine"] for r in result["rows"]], [r["pearson"] for r in result["rows"]]
  assert result["spearman"] == pytest.approx(stats.spearmanr(cos, pear).statistic, abs=1e-9)
  row = next(r for r in result["rows"] if (r["a"], r["b"]) == ("va:valence", "va:arousal"))
  bank, names = np.asarray(model.params["bank"], np.float64), model.layout.row_names()
  a, b = bank[names.index("va:valence")], bank[names.index("va:arousal")]
  assert row["cosine"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-5)
  from emojax import splits
  data = mapping_data.load_pair(row["dataset"])
  va = np.concatenate([data.a[p] if data.format_a.name == "va" else data.b[p] for p in splits.PARTS])
  assert row["pearson"] == pytest.approx(np.corrcoef(va[:, 0], va[:, 1])[0, 1], abs=1e-9)
  assert "Spearman" in plausibility.markdown(result)


def test_corrupt_checkpoints_are_clear_errors(tiny_run, tmp_path):
  import shutil
  broken = tmp_path / "broken"
  shutil.copytree(tiny_run[0], broken, ignore=shutil.ignore_patterns("seed_*"))
  for f in (broken / "model").rglob("*"):
    if f.is_file():
      f.write_bytes(b"not a checkpoint")
  with pytest.raises(emojax.checkpoint.CheckpointError, match="corrupted: .*model"):
    emojax.load(broken)  # the checksums model.json records
  import warnings
  meta = json.loads((broken / "model.json").read_text())
  meta.pop("checksums", None)  # an export from before checksums: Orbax itself refuses the files
  (broken / "model.json").write_text(json.dumps(meta))
  with warnings.catch_warnings(), pytest.raises(emojax.checkpoint.CheckpointError, match="cannot restore the model"):
    warnings.simplefilter("ignore")
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


STOPPED = ["--seeds=0", "pairs=de_vad_be5", "steps=200", "eval_every=4", "checkpoint_every=5",
           "baseline_epochs=0"]


def _mapping(*argv):
  return [sys.executable, str(ROOT / "launch" / "mapping.py"), "--accelerator=cpu", *argv, *STOPPED]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("straight")
  done = subprocess.run(_mapping(f"--workdir={workdir}"), env=one_device_env(), capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0 and "resuming" not in done.stderr, done.stderr[-2000:]
  return workdir


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path, uninterrupted, signum):
  """SIGTERM ends the launcher as killed by it, Ctrl-C with exit 130 naming the last checkpoint;
  either way after the epoch in flight is saved, and the rerun resumes there (checked: a rerun
  from scratch would end equal too) and ends bit-identical to a run never stopped."""
  import signal
  import time
  signum = getattr(signal, signum)
  killed = tmp_path / "killed"
  proc = subprocess.Popen(_mapping(f"--workdir={killed}"), env=one_device_env(), text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  checkpoints = killed / "seed_0" / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and not (checkpoints.exists() and any(checkpoints.glob("[0-9]*"))):
    time.sleep(0.05)
  proc.send_signal(signum)
  _, err = proc.communicate(timeout=60)
  saved = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
  assert 0 < saved < 50, "the run finished before it could be stopped"
  if signum == signal.SIGTERM:
    assert proc.returncode == -signal.SIGTERM
  else:
    assert proc.returncode == 130, err[-2000:]
    assert f"interrupted; last checkpoint: {checkpoints / str(saved)} (rerun" in err
    assert "Traceback" not in err
  assert not (killed / "model.json").exists()
  done = subprocess.run(_mapping(f"--workdir={killed}"), env=one_device_env(), capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert f"seed_0: resuming from its checkpoint of epoch {saved}/50" in done.stderr  # the rerun resumed
  step_a, resumed = _latest_state(killed / "seed_0")
  step_b, straight = _latest_state(uninterrupted / "seed_0")
  assert step_a == step_b == 50
  chex.assert_trees_all_equal(resumed["params"], straight["params"])
  chex.assert_trees_all_equal(resumed["best_params"], straight["best_params"])


def test_head_row_picture(tiny_run, tmp_path):
  from emojax import pictures
  path = pictures.plot_head_rows(emojax.load(tiny_run[0]), tmp_path / "rows.png", color="va:valence")
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
  with pytest.raises(ValueError, match="no mapping dataset of this model has format 'isear7'"):
    pictures.plot_head_rows(emojax.load(tiny_run[0]), tmp_path / "x.png", color="isear7:joy")
