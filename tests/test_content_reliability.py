"""Stage 2 at scale and under faults: N sharded steps equal single-device steps (runs and batch
split over 8 fake devices), gradient accumulation equals the full batch, SIGTERM mid-run then a
rerun ends bit-identical to an uninterrupted run of the same seed (determinism across processes),
a save killed half-way leaves the previous checkpoint, and the launchers' bad-input errors
(unwritable workdir, missing accelerator). Non-UTF-8 and very long texts: test_content_texts."""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emojax
from conftest import ROOT, launch, one_device_env
from emojax import content_data, content_plan, mesh as mesh_lib
from emojax import train_content as tc

GERMAN = ("schmidtke_vad", "briesemeister_be5")
EPOCHS = 2


# ---------------------------------------------------------------- sharding and gradient accumulation

@pytest.fixture(scope="module")
def features(tmp_path_factory):
  """Feature cache of the German word datasets, shared by the in-process and launcher runs."""
  return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def setup(tiny_stage1, features):
  """8 runs of every trained condition (Bsl, Sng, Aug of one dataset and Mlt of both; 2 seeds):
  the pool, the frozen model and the run arrays of one group."""
  cfg = tc.ContentConfig(stage1=str(tiny_stage1), datasets=GERMAN, seeds=(0, 1), batch_size=64)
  model, _ = tc.load_stage1(cfg.stage1)
  data = {n: content_data.load_words(n, cfg.vectors, features) for n in GERMAN}
  pool = tc.Pool(data, model.packing, model, tc.augment_map(cfg.augment))
  runs = [content_plan.Run(c, (GERMAN[0],), s) for s in (0, 1) for c in ("Bsl", "Sng", "Aug")]
  runs += [content_plan.Run("Mlt", GERMAN, s) for s in (0, 1)]
  arrays = tc.run_arrays(runs, pool, model.packing, cfg, num_slots=2)
  return cfg, model, pool, arrays


def _train(setup, mesh, **overrides):
  """EPOCHS compiled epochs of all 8 runs on `mesh`: final state, last epoch's metrics, and the
  compiled program's text."""
  cfg, model, pool, arrays = setup
  cfg = dataclasses.replace(cfg, **overrides)
  tc.check_config(cfg)
  rep, runs_sh = mesh_lib.replicated(mesh), tc.run_sharding(mesh)
  module = tc.encoder_module(cfg.encoder, 100, model.packing.width)
  epoch_fn = tc.make_epoch_fn(cfg, module, model.packing, mesh, 2, int(arrays["steps"].max()))
  device_runs = jax.device_put(arrays, runs_sh)
  state = jax.jit(lambda k: tc.init_state(cfg, module, 50, k), out_shardings=runs_sh)(device_runs["key"])
  frozen, device_pool = jax.device_put(model.params, rep), jax.device_put(pool.arrays, rep)
  compiled = epoch_fn.lower(state, device_runs, frozen, device_pool, jnp.int32(0)).compile()
  for e in range(EPOCHS):
    state, out = compiled(state, device_runs, frozen, device_pool, jnp.int32(e))
  return jax.device_get(state), jax.device_get(out), compiled.as_text()


@pytest.fixture(scope="module")
def single_device(setup):
  return _train(setup, tc.content_mesh(1))


def _assert_same_training(got, want):
  # Float tolerance: sums over rows split over devices or micro-batches change their rounding,
  # and Adam's g / sqrt(v) magnifies that on near-zero gradients (max seen: 1.5e-5).
  (state, out, _), (one, out_one, _) = got, want
  chex.assert_trees_all_close(state["params"], one["params"], atol=1e-4, rtol=1e-4)
  chex.assert_trees_all_close(state["opt"], one["opt"], atol=1e-4, rtol=1e-4)
  # Adam is nearly blind to a gradient's scale: the loss checks the averaging itself.
  chex.assert_trees_all_close(out["loss"], out_one["loss"], rtol=1e-5)
  np.testing.assert_allclose(out["dev"], out_one["dev"], atol=1e-5)


def _init_params(setup):
  cfg, model, _, arrays = setup
  module = tc.encoder_module(cfg.encoder, 100, model.packing.width)
  return jax.device_get(tc.init_params(module, 50, jnp.asarray(arrays["key"])))


def test_sharded_steps_equal_single_device_steps(setup, single_device):
  """The run axis over 8 devices (stage 2's default: one device per encoder here)."""
  assert jax.device_count() == 8, "conftest asks for 8 fake CPU devices"
  mesh = tc.content_mesh(8)
  assert (tc.run_shards_of(mesh), tc.batch_shards_of(mesh)) == (8, 1)
  sharded = _train(setup, mesh)
  _assert_same_training(sharded, single_device)
  steps = setup[3]["steps"]
  assert steps.max() > steps.min() >= 3  # N steps per epoch; Mlt runs take more than the others
  # Training moved the parameters: the comparison is not between two initial states.
  moved = single_device[0]["params"]["embed"]["kernel"] - _init_params(setup)["embed"]["kernel"]
  assert np.abs(moved).max() > 1e-2
  # What each device computes: the first dense layer's activations [runs, rows, 256].
  assert "f32[8,64,256]" in single_device[2]
  assert "f32[1,64,256]" in sharded[2] and "f32[8,64,256]" not in sharded[2]


def test_batch_sharding_and_gradient_accumulation_reproduce_the_full_batch(setup, single_device):
  """Data parallel within one encoder (each batch over 2 devices, 4 run shards) and 4 sequential
  micro-batches of 16 rows, 8 per device; Mlt runs mix two datasets unevenly over them."""
  mesh = tc.content_mesh(8, batch_shards=2)
  assert (tc.run_shards_of(mesh), tc.batch_shards_of(mesh)) == (4, 2)
  split = _train(setup, mesh, batch_shards=2, grad_accum=4)
  _assert_same_training(split, single_device)
  assert "f32[2,8,256]" in split[2]  # 2 runs x 8 rows per device
  assert not any(shape in split[2] for shape in ("f32[2,64,256]", "f32[2,16,256]", "f32[8,64,256]"))


def test_batch_split_must_divide(setup):
  cfg = setup[0]
  for bad in ({"grad_accum": 3}, {"grad_accum": 4, "batch_shards": 32}, {"grad_accum": 0}):
    with pytest.raises(ValueError, match="batch_size=64 must split into grad_accum"):
      tc.check_config(dataclasses.replace(cfg, **bad))
  with pytest.raises(ValueError, match="batch_shards=3 must divide the 8 devices"):
    tc.content_mesh(8, 3)


# ------------------------------------------------------------------------ faults: SIGTERM, kill in save

EPOCHS_RUN = 100
WORDS = ["--modality=words", "--seeds=0", "datasets=schmidtke_vad", "conditions=Sng,Aug", "vectors=glove50+minilm_l4",
         "export=schmidtke_vad:Aug", "vader=false", "batch_size=64", "max_groups=1",
         f"epochs={EPOCHS_RUN}", "checkpoint_every=20"]


def _group_state(workdir):
  import orbax.checkpoint as ocp
  (directory,) = workdir.glob("groups/*/checkpoints")
  with ocp.CheckpointManager(directory) as manager:
    step = manager.latest_step()
    return step, manager.restore(step, args=ocp.args.StandardRestore())


def test_sigterm_mid_run_then_rerun_equals_an_uninterrupted_run(tiny_stage1, features, tmp_path):
  args = [*WORDS, f"stage1={tiny_stage1}", f"feature_cache={features}"]
  straight = launch("launch/content.py", f"--workdir={tmp_path / 'straight'}", *args)
  assert straight.returncode == 0, straight.stderr[-3000:]
  killed = tmp_path / "killed"
  env = one_device_env()
  proc = subprocess.Popen([sys.executable, str(ROOT / "launch" / "content.py"), "--accelerator=cpu",
                           f"--workdir={killed}", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  saved = lambda: [int(p.name) for p in killed.glob("groups/*/checkpoints/*") if p.name.isdigit()]
  deadline = time.time() + 240
  while time.time() < deadline and not saved() and proc.poll() is None:
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=60) == -signal.SIGTERM, "the run ended before it could be killed"
  last = max(saved())
  assert 0 < last < EPOCHS_RUN and not (killed / "model.json").exists()  # killed mid-training
  rerun = launch("launch/content.py", f"--workdir={killed}", *args)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f"resuming from its checkpoint of epoch {last}/{EPOCHS_RUN}" in rerun.stderr
  # Same seed and config: the resumed run ends bit-identical to the uninterrupted one, in the
  # group's final train state, the exported encoder and every reported score.
  (step_a, resumed), (step_b, uninterrupted) = _group_state(killed), _group_state(tmp_path / "straight")
  assert step_a == step_b == EPOCHS_RUN
  chex.assert_trees_all_equal(resumed, uninterrupted)
  chex.assert_trees_all_equal(emojax.load(killed).encoder_params,
                              emojax.load(tmp_path / "straight").encoder_params)
  results = [json.loads((w / "results.json").read_text()) for w in (killed, tmp_path / "straight")]
  assert results[0]["conditions"] == results[1]["conditions"]


KILLED_IN_SAVE = """
import os, pathlib, sys
import jax.numpy as jnp
from orbax.checkpoint._src.path import atomicity
from emojax import loop

commit = atomicity.AtomicRenameTemporaryPath.finalize
async def die_before_commit(self):  # step 3's files are written; the process dies before the rename
  if self.get_final().name == "3":
    os._exit(9)
  await commit(self)
atomicity.AtomicRenameTemporaryPath.finalize = die_before_commit
checkpoints, start, state = loop.resume_or_init(pathlib.Path(sys.argv[1]), lambda: {"w": jnp.zeros(4)})
loop.run(state, lambda s, e: ({"w": s["w"] + 1.0}, {}), start=start, stop=5, checkpoints=checkpoints)
"""


def test_a_run_killed_while_saving_keeps_the_previous_checkpoint(tmp_path):
  from emojax import loop
  directory = tmp_path / "checkpoints"
  env = one_device_env(PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, "-c", KILLED_IN_SAVE, str(tmp_path)], env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 9, proc.stderr[-3000:]
  (partial,) = directory.glob("3.orbax-checkpoint-tmp*")  # step 3 written, never committed
  assert any(f.is_file() and f.stat().st_size for f in partial.rglob("*"))
  assert sorted(p.name for p in directory.iterdir() if p != partial) == ["2"]
  abstract = {"w": jax.ShapeDtypeStruct((4,), jnp.float32)}
  sharding = mesh_lib.replicated(mesh_lib.make_mesh(1))
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: pytest.fail("not resumed"),
                                                  sharding, abstract)
  assert start == 2
  np.testing.assert_array_equal(np.asarray(state["w"]), np.full(4, 2.0))
  state, _ = loop.run(state, lambda s, e: ({"w": s["w"] + 1.0}, {}), start=start, stop=5,
                      checkpoints=checkpoints)
  np.testing.assert_array_equal(np.asarray(state["w"]), np.full(4, 5.0))
  assert sorted(p.name for p in directory.iterdir()) == ["5"]  # the leftover was removed


# ------------------------------------------------------------------------------ launcher bad input

def _common():
  sys.path.insert(0, str(ROOT / "launch"))
  import common
  return common


def test_unwritable_workdir_is_a_clear_error_that_writes_nothing(tmp_path):
  common = _common()
  regular = tmp_path / "a_file"
  regular.write_text("not a directory")
  cases = [(regular / "run", f"{regular} is a file, not a directory"),
           (regular, f"{regular} is a file, not a directory"),
           # Fail even for root: sysfs takes no new directories or files.
           (pathlib.Path("/sys/emojax_probe/run"), "cannot write there"),
           (pathlib.Path("/sys/kernel"), r"cannot write there \(/sys/kernel/\.emojax-write-probe")]
  readonly = tmp_path / "readonly"
  readonly.mkdir()
  readonly.chmod(0o555)
  if os.geteuid() != 0:  # root ignores file modes; the /sys/kernel case checks the probe for root
    cases.append((readonly / "run", "cannot write there"))
  for path, message in cases:
    with pytest.raises(SystemExit, match=message):
      common.check_writable(path)
  assert not pathlib.Path("/sys/emojax_probe").exists() and sorted(tmp_path.iterdir()) == [regular, readonly]
  assert not list(readonly.iterdir())
  deep = tmp_path / "new" / "deeper"
  common.check_writable(deep)  # fine: and the probe leaves nothing behind
  assert sorted(tmp_path.iterdir()) == [regular, readonly]
  # Both launchers run the check before any work: no traceback, nothing written.
  for script, workdir in (("launch/content.py", regular / "run"), ("launch/mapping.py", "/sys/kernel/run")):
    proc = launch(script, f"--workdir={workdir}", timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"--workdir={workdir}:" in proc.stderr
  assert sorted(tmp_path.iterdir()) == [regular, readonly]


def test_content_launcher_with_a_missing_accelerator_is_a_clear_error(tmp_path):
  env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
  proc = subprocess.run([sys.executable, str(ROOT / "launch" / "content.py"), "--accelerator=tpu",
                         "--modality=words", f"--workdir={tmp_path / 'w'}"], env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  assert "--accelerator=tpu: no TPU is available" in proc.stderr and "Traceback" not in proc.stderr
  assert not (tmp_path / "w").exists()
