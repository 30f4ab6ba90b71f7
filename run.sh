#!/usr/bin/env bash
# Quickstart 1: set everything up, then run the main job on the bundled data.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python launch/mapping.py "$@"
