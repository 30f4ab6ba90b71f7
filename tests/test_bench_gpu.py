"""The GPU check script (benchmarks/bench_gpu.py) runs end to end in its tiny --smoke form on the
8 fake CPU devices, so it cannot rot while no GPU is at hand: every part measured, FLOPs counted,
MFU computed from the given peak, the JSON written."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_gpu  # noqa: E402


def test_smoke_run_writes_every_measurement(tmp_path):
  out = tmp_path / "gpu_bench.json"
  report = bench_gpu.main(["--smoke", f"--out={out}", "--peak-tflops=1"])
  assert json.loads(out.read_text()) == json.loads(json.dumps(report))
  assert report["errors"] == [] and report["device"]["count"] == 8 and report["peak_bf16_tflops"] == 1
  assert report["stage1"]["steps_per_s"] > 0
  (text,) = report["text_finetune"]
  (image,) = report["image_finetune"]
  assert text["compute_dtype"] == image["compute_dtype"] == "bfloat16"
  for row in (text, image):
    assert row["s_per_step"] > 0 and row["flops_per_step_xla"] > 0 and 0 < row["mfu"]
  assert text["examples_per_s"] > 0 and text["flops_per_step_6ND"] > 0 and image["images_per_s"] > 0


def test_peak_table_matches_device_kinds():
  assert bench_gpu.peak_tflops("NVIDIA H100 80GB HBM3", None) == 989.4
  assert bench_gpu.peak_tflops("NVIDIA H100 PCIe", None) == 756.0
  assert bench_gpu.peak_tflops("NVIDIA H200", None) == 989.4
  assert bench_gpu.peak_tflops("NVIDIA A100-SXM4-80GB", None) == 312.0
  assert bench_gpu.peak_tflops("cpu", None) is None and bench_gpu.peak_tflops("cpu", 2.5) == 2.5
