#!/usr/bin/env bash
# Quickstart 1: set everything up, then run the whole pipeline on the bundled data: stage 1, the
# words stage against it, a results summary and example predictions (launch/pipeline.py; its
# arguments, e.g. --root=/tmp/run or --seeds=0,1,2, are passed on).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python launch/pipeline.py "$@"
