"""Shared launcher plumbing: flags, platform choice, multi-host start, run header.

Launchers stay thin: they parse `--accelerator`, `--workdir`, `--seeds` and free `name=value`
config overrides, pin the platform before JAX touches a device, and hand one config to one
library function. The JAX persistent compilation cache lives under `checkpoints/.jax_cache`
(override with JAX_COMPILATION_CACHE_DIR) so a second run skips most compilation.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python launch/x.py` from a checkout, no install needed
  sys.path.insert(0, str(ROOT))


def parser(description: str, default_workdir: str) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None,
                 help="platform to run on (default: the best JAX finds)")
  p.add_argument("--workdir", default=str(ROOT / default_workdir), help="run output directory")
  p.add_argument("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2")
  p.add_argument("overrides", nargs="*", metavar="name=value",
                 help="config overrides, e.g. steps=2000 codec.dropout=0.1")
  return p


def setup(args) -> None:
  """Platform, compilation cache and multi-host start; call before anything touches a device."""
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
  import jax
  from emojax import mesh
  cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(ROOT / "checkpoints" / ".jax_cache"))
  jax.config.update("jax_compilation_cache_dir", cache)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  mesh.select_platform(args.accelerator)
  mesh.maybe_initialize_distributed()


def overrides(args) -> list[str]:
  out = list(args.overrides)
  if args.seeds is not None:
    out.append(f"seeds={args.seeds}")
  return out


def header(title: str, cfg, workdir) -> None:
  import jax
  if jax.process_index() != 0:
    return
  devices = jax.devices()
  print(f"== {title} ==\nworkdir: {workdir}\ndevices: {len(devices)} x {devices[0].platform} "
        f"({devices[0].device_kind}), {jax.process_count()} process(es)\nconfig: {cfg}", flush=True)
