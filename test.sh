#!/usr/bin/env bash
# Quickstart 2: set everything up, then run the test suite (extra arguments go to pytest).
# The suite runs in EMOJAX_TEST_WORKERS processes (pytest-xdist, default 2), each test file in one
# of them so module fixtures are built once; EMOJAX_TEST_WORKERS=0 runs it in this process.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
workers=${EMOJAX_TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
  .venv/bin/python -m pytest "$@"
else
  .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
fi
