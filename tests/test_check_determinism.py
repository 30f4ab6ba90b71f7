"""benchmarks/check_determinism.py on the CPU: two stage-1 launches with one seed give
bit-identical parameters. This is the README's determinism claim, checked through the script that
checks it on a GPU, so that the script cannot rot while no GPU is at hand."""

import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import check_determinism  # noqa: E402


def test_two_cpu_runs_are_bit_identical(tmp_path, monkeypatch):
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the script sets it for its comparison; restored after
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")  # the runs: one device
  report = check_determinism.main(["--accelerator=cpu", f"--out={tmp_path}", "steps=20", "eval_every=10"])
  assert list(report["variants"]) == ["default"]  # the deterministic-ops variant is GPU only
  variant = report["variants"]["default"]
  assert variant["bit_identical"] and variant["max_abs_param_diff"] == 0.0
  r0, r1 = variant["test_mean_r"]
  assert r0 == r1 and -1 <= r0 <= 1
  assert json.loads((tmp_path / "determinism.json").read_text()) == report


def test_launchers_ask_for_deterministic_gpu_kernels(monkeypatch):
  from emojax import mesh
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  mesh.ask_deterministic_gpu_kernels()
  assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=8 --xla_gpu_deterministic_ops=true"
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")  # the user's choice is kept
  mesh.ask_deterministic_gpu_kernels()
  assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"
  monkeypatch.delenv("XLA_FLAGS")
  mesh.ask_deterministic_gpu_kernels()
  assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"
