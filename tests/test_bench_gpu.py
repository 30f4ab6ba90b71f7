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


def test_deterministic_ops_ratios_pair_each_measurement():
  """benchmarks/bench_deterministic_ops.py: per measurement the rates under both settings and the
  ratio of their medians; a part that failed under one setting is left out, not paired wrongly."""
  import bench_deterministic_ops as bdo

  def report(stage1, text):
    return {"stage1": {"steps_per_s": stage1},
            "text_finetune": [{"compute_dtype": "float32", "batch_size": 32, "examples_per_s": t} for t in text],
            "image_finetune": []}

  table = bdo.compare({"xla_default_kernels": [report(100.0, [40.0]), report(300.0, [60.0])],
                       "deterministic_ops": [report(50.0, []), report(70.0, [])]})
  assert list(table) == ["stage 1, batch 32 (steps/s)"]
  row = table["stage 1, batch 32 (steps/s)"]
  assert row["xla_default_kernels"] == [100.0, 300.0] and row["deterministic_ops"] == [50.0, 70.0]
  assert row["ratio"] == 60.0 / 200.0
