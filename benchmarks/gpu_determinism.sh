#!/usr/bin/env bash
# Stage-1 determinism on one GPU (benchmarks/check_determinism.py: the default stage-1 config,
# seed 0, run twice as it is and twice with XLA_FLAGS=--xla_gpu_deterministic_ops=true, all four
# at once), for the device tool or any GPU machine:
#   run(command="bash benchmarks/gpu_determinism.sh", timeout_s=300)
#   OUT=/tmp/det bash benchmarks/gpu_determinism.sh [name=value overrides of the stage-1 config]
# Writes $OUT/determinism.json, the four launch logs and nvidia_smi.csv.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
source benchmarks/gpu_setup.sh || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/nvidia_smi.csv" 2>&1
"$PY" -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|jax-cuda|flax|optax|orbax|chex|numpy)' > "$OUT/packages.txt"
timeout "${LIMIT:-240}" "$PY" benchmarks/check_determinism.py --accelerator=gpu --out=/tmp/determinism "$@"
rc=$?
cp /tmp/determinism/determinism.json /tmp/determinism/*.log "$OUT/" 2>/dev/null
exit "$rc"
