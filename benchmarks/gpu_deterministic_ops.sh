#!/usr/bin/env bash
# The speed cost of deterministic GPU kernels (benchmarks/bench_deterministic_ops.py) on a fresh
# GPU machine: stage 1, text fine-tuning (fp32 as the launchers train, and bf16) and image
# fine-tuning, each with --xla_gpu_deterministic_ops=false and =true in fresh processes:
#   device tool: run(command="bash benchmarks/gpu_deterministic_ops.sh", timeout_s=360)
#   anywhere:    OUT=/tmp/det_ops bash benchmarks/gpu_deterministic_ops.sh [--rounds=2] [bench_gpu.py flags]
# Writes $OUT/deterministic_ops.json, the bench_gpu JSONs, a log and nvidia_smi.csv. Weights are
# random of the real shapes where the weight packages are not installed (speed does not depend on them).
set -uo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_setup.sh || exit 1
HF_HUB_OFFLINE=1 timeout "${LIMIT:-300}" "$PY" benchmarks/bench_deterministic_ops.py --out="$OUT" \
  --skip=torch --text-batches=32 --dtypes=float32,bfloat16 "$@" 2>&1 | tee "$OUT/deterministic_ops.log"
exit "${PIPESTATUS[0]}"
