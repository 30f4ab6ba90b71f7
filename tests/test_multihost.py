"""Multi-host runs, for real, on one machine: `launch/local_cluster.py` starts each launcher as two
JAX processes with two CPU devices each (jax.distributed over a local coordinator, Gloo collectives),
and the result must be the single-process, single-device run of the same config — stage 1 and a
stage-2 run alike — with process 0 alone printing the summary."""

import json
import subprocess
import sys

import jax
import numpy as np

from conftest import ROOT, TINY_WORDS, launcher_module, one_device_env
from emojax import train_content


def _two_processes(*launcher_args: str) -> subprocess.CompletedProcess:
  env = one_device_env()
  cmd = [sys.executable, str(ROOT / "launch" / "local_cluster.py"), "--processes=2",
         "--devices-per-process=2", "--timeout=400", *launcher_args]
  return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=450)


def _numbers(tree, path=""):
  """Every number of a results.json, by path, except wall-clock timings."""
  if isinstance(tree, dict):
    return {k: v for key, sub in tree.items() if key != "timing"
            for k, v in _numbers(sub, f"{path}/{key}").items()}
  if isinstance(tree, list):
    return {k: v for i, sub in enumerate(tree) for k, v in _numbers(sub, f"{path}[{i}]").items()}
  return {path: tree} if isinstance(tree, (int, float)) and not isinstance(tree, bool) else {}


def _assert_same_results(workdir, reference):
  ours = _numbers(json.loads((workdir / "results.json").read_text()))
  theirs = _numbers(json.loads((reference / "results.json").read_text()))
  assert ours.keys() == theirs.keys()
  np.testing.assert_allclose([ours[k] for k in sorted(ours)], [theirs[k] for k in sorted(ours)],
                             atol=1e-5)


def _assert_one_summary(proc, marker):
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "2 process(es)" in proc.stdout and "devices: 4 x cpu" in proc.stdout
  summaries = [line for line in proc.stdout.splitlines() if marker in line]
  assert len(summaries) == 1 and not summaries[0].startswith("[process 1]"), summaries


def test_stage1_on_two_processes_equals_one_device(tiny_stage1, tmp_path):
  workdir = tmp_path / "two_hosts"
  proc = _two_processes("launch/mapping.py", "--accelerator=cpu", f"--workdir={workdir}",
                        "pairs=de_vad_be5", "steps=4", "eval_every=2", "baseline_epochs=0")
  _assert_one_summary(proc, "test mean r")
  _assert_same_results(workdir, tiny_stage1)
  ours, theirs = (train_content.load_stage1(w)[0].params for w in (workdir, tiny_stage1))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), ours, theirs)
  assert not list(workdir.rglob(".emojax-write-probe*"))


def test_stage2_on_two_processes_equals_one_device(tiny_stage1, tiny_words, tmp_path):
  reference, _ = tiny_words
  workdir = tmp_path / "two_hosts"
  proc = _two_processes("launch/content.py", "--accelerator=cpu", "--modality=words",
                        f"--workdir={workdir}", "--seeds=0,1", f"stage1={tiny_stage1}", *TINY_WORDS)
  _assert_one_summary(proc, "test mean r")
  _assert_same_results(workdir, reference)


def test_a_failing_process_stops_the_cluster(tmp_path):
  proc = _two_processes("launch/mapping.py", "--accelerator=cpu", f"--workdir={tmp_path / 'w'}",
                        "pairs=de_vad_be5", "batch_size=30")
  assert proc.returncode != 0
  assert "batch size 30 is not divisible by the 4 devices" in proc.stdout + proc.stderr


def test_cluster_keeps_the_callers_xla_flags():
  """Each process gets the requested device count; the caller's other XLA flags reach it too."""
  with_device_count = launcher_module("launch/local_cluster.py").with_device_count
  assert with_device_count("", 2) == "--xla_force_host_platform_device_count=2"
  assert with_device_count("--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0", 2) == (
      "--xla_backend_optimization_level=0 --xla_force_host_platform_device_count=2")


def test_put_batch_shards_rows_and_to_host_gathers_them():
  from emojax import mesh as mesh_lib
  mesh = mesh_lib.make_mesh()  # the 8 fake CPU devices of conftest
  x = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
  batch = mesh_lib.put_batch({"x": x}, mesh)["x"]
  assert batch.sharding == mesh_lib.batch_sharding(mesh)
  assert [s.data.shape for s in batch.addressable_shards] == [(2, 3)] * 8
  np.testing.assert_array_equal(batch.addressable_shards[3].data, x[6:8])
  np.testing.assert_array_equal(mesh_lib.to_host(batch), x)
  restored = jax.device_put(x, jax.local_devices()[0])  # as a restored checkpoint arrives
  replicated = mesh_lib.put_replicated(restored, mesh)
  assert replicated.sharding.is_fully_replicated and len(replicated.devices()) == 8


def test_half_a_process_description_is_a_clear_error(monkeypatch):
  import pytest
  from emojax import mesh as mesh_lib
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
  monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
  monkeypatch.delenv("JAX_PROCESS_ID", raising=False)
  with pytest.raises(SystemExit, match="set both JAX_NUM_PROCESSES and JAX_PROCESS_ID"):
    mesh_lib.maybe_initialize_distributed()
  monkeypatch.setenv("JAX_PROCESS_ID", "2")
  with pytest.raises(SystemExit, match="JAX_PROCESS_ID=2 is outside 0..1"):
    mesh_lib.maybe_initialize_distributed()
  monkeypatch.setenv("JAX_PROCESS_ID", "one")
  with pytest.raises(SystemExit, match="JAX_PROCESS_ID='one' is not an integer"):
    mesh_lib.maybe_initialize_distributed()
