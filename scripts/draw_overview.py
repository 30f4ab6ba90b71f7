"""Draws the README's picture of emojax's two stages (docs/two_stages.png); `emojax plot overview`.

  .venv/bin/python scripts/draw_overview.py [docs/two_stages.png]

The drawing lives in `emojax.pictures.plot_overview` (boxes and arrows only; no data is read), so the
console command and this script give the same file.
"""

from __future__ import annotations

import pathlib
import sys

from emojax import pictures

ROOT = pathlib.Path(__file__).resolve().parent.parent

if __name__ == "__main__":
  print(pictures.plot_overview(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "two_stages.png"))
