#!/usr/bin/env bash
# The GPU check of issue #7, one command for a fresh GPU machine (< 8 minutes incl. setup):
#   device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
#   anywhere:    OUT=/tmp/gpu bash benchmarks/gpu_check.sh [bench_gpu.py flags, e.g. --peak-tflops=989]
# Writes $OUT/gpu_bench.json (benchmarks/bench_gpu.py; rewritten after every measurement),
# gpu_bench.log, nvidia_smi.csv and packages.txt. Setup (the carried wheels in .whl/, made once
# by `bash benchmarks/gpu_check.sh --download-wheels`) is benchmarks/gpu_setup.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--download-wheels" ]; then
  source benchmarks/gpu_setup.sh --download-wheels; exit $?
fi
start=$(date +%s)
source benchmarks/gpu_setup.sh || exit 1
# Half the GPU for XLA: the PyTorch stage-1 reference shares the process and needs its own memory.
XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-.5} \
HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout 420 "$PY" benchmarks/bench_gpu.py --out="$OUT/gpu_bench.json" "$@" \
  2>&1 | tee "$OUT/gpu_bench.log"
rc=${PIPESTATUS[0]}
echo "gpu_check: exit $rc after $(( $(date +%s) - start )) s; results in $OUT/gpu_bench.json"
exit "$rc"
