"""benchmarks/check_determinism.py on the CPU: two stage-1 launches with one seed give
bit-identical parameters. This is docs/gpu.md's determinism claim, checked through the script that
checks it on a GPU, so that the script cannot rot while no GPU is at hand."""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import check_determinism  # noqa: E402


def test_two_cpu_runs_are_bit_identical(tmp_path, monkeypatch):
  import jax
  jax.devices()  # this process keeps its 8 fake devices: its backend starts before XLA_FLAGS changes
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the script sets it for its comparison; restored after
  # The runs: one device, at XLA's default optimisation level (not the suite's level 0), so this
  # checks the reproducibility the launchers give users.
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)  # each run compiles its own program
  report = check_determinism.main(["--accelerator=cpu", f"--out={tmp_path}", "steps=20", "eval_every=10"])
  assert list(report["variants"]) == ["default"]  # the deterministic-ops variant is GPU only
  variant = report["variants"]["default"]
  assert variant["bit_identical"] and variant["max_abs_param_diff"] == 0.0
  r0, r1 = variant["test_mean_r"]
  assert r0 == r1 and -1 <= r0 <= 1
  assert json.loads((tmp_path / "determinism.json").read_text()) == report


def test_launchers_ask_for_xla_defaults(monkeypatch):
  """Deterministic GPU kernels and full-width CPU vectors are added; a user's setting is kept."""
  from emojax import mesh
  defaults = "--xla_gpu_deterministic_ops=true --xla_cpu_prefer_vector_width=512"
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  mesh.ask_xla_defaults()
  assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=8 {defaults}"
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false --xla_cpu_prefer_vector_width=256")
  mesh.ask_xla_defaults()
  assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false --xla_cpu_prefer_vector_width=256"
  monkeypatch.delenv("XLA_FLAGS")
  mesh.ask_xla_defaults()
  assert os.environ["XLA_FLAGS"] == defaults


def _finetune_workdir(path, losses, test):
  """A fine-tuning workdir as the launchers write it: runs/<name>/metrics.jsonl and results.json."""
  run = path / "runs" / "Sng_x_s0"
  run.mkdir(parents=True)
  run.joinpath("metrics.jsonl").write_text("".join(json.dumps({"step": i, "loss": v}) + "\n" for i, v in enumerate(losses)))
  (path / "results.json").write_text(json.dumps({"runs": [{"test": test}]}))
  return path


def test_fine_tuning_runs_compare_step_by_step(tmp_path):
  text = [_finetune_workdir(tmp_path / f"t{i}", [0.5, 0.25], [0.25, 0.75]) for i in range(2)]
  report = check_determinism.compare_finetuning(text)
  assert report == {"bit_identical": True, "max_abs_loss_diff": 0.0, "steps": 2, "test_mean_r": [0.5, 0.5]}
  images = [_finetune_workdir(tmp_path / "i0", [0.5, 0.25], {"us": [0.5, 1.0]}),
            _finetune_workdir(tmp_path / "i1", [0.5, 0.25 + 2**-20], {"us": [0.5, 1.0]})]
  report = check_determinism.compare_finetuning(images)  # one loss a last bit apart: not identical
  assert not report["bit_identical"] and report["max_abs_loss_diff"] == 2**-20
  assert report["test_mean_r"] == [0.75, 0.75]
