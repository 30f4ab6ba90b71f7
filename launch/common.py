"""Shared launcher plumbing: flags, platform choice, multi-host start, run header.

Launchers stay thin: they parse `--accelerator`, `--workdir`, `--seeds` and free `name=value`
config overrides, pin the platform before JAX touches a device, check that the workdir can be
written, and hand one config to one library function. The JAX persistent compilation cache lives
under `checkpoints/.jax_cache` (override with JAX_COMPILATION_CACHE_DIR) so a second run skips most
compilation.
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
  mesh.start(args.accelerator)


def start(doc: str, default_workdir: str) -> argparse.Namespace:
  """The usual launcher prologue: flags parsed (the description is the docstring's first line),
  platform and hosts set up, workdir checked. emojax modules are imported after it."""
  args = parser(doc.splitlines()[0], default_workdir).parse_args()
  setup(args)
  check_writable(args.workdir)
  return args


def configure(args, base, title: str, given: list[str] | None = None):
  """The run's one config: `base` with the command line's overrides (or `given` ones, where the
  launcher consumed some), announced in the header."""
  from emojax import config
  cfg = config.override(base, overrides(args) if given is None else given)
  header(title, cfg, args.workdir)
  return cfg


def check_writable(workdir) -> None:
  """Preflight before any work: the workdir (created if missing) must take a new file. Exits with
  the path that refused and why (no traceback). A probe file is created and removed; directories
  the probe created are removed again on a single host, so a run that fails later leaves nothing
  (multi-host: kept, another host may be probing the same shared directory)."""
  import socket
  import jax
  path = pathlib.Path(workdir).absolute()
  created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
  probe = path / f".emojax-write-probe-{socket.gethostname()}-{os.getpid()}"
  blocking = [p for p in (path, *path.parents) if p.exists() and not p.is_dir()]
  if blocking:
    raise SystemExit(f"--workdir={workdir}: {blocking[0]} is a file, not a directory. Choose "
                     f"another workdir.")
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"")
    probe.unlink()
  except OSError as err:
    where = f" ({err.filename!s})" if err.filename and str(err.filename) != str(path) else ""
    raise SystemExit(f"--workdir={workdir}: cannot write there{where}: {err.strerror or err}. "
                     f"Choose a directory this user can create and write to.") from None
  finally:
    if jax.process_count() == 1:
      for directory in created:
        try:
          directory.rmdir()
        except FileNotFoundError:
          continue  # mkdir failed before reaching it
        except OSError:
          break  # not empty (another process writes there): leave it and its parents


def overrides(args) -> list[str]:
  out = list(args.overrides)
  if args.seeds is not None:
    out.append(f"seeds={args.seeds}")
  return out


def report(text: str) -> None:
  """A launcher's closing summary, printed once: by process 0 of a multi-host run."""
  import jax
  if jax.process_index() == 0:
    print(text, flush=True)


def header(title: str, cfg, workdir) -> None:
  import jax
  if jax.process_index() != 0:
    return
  devices = jax.devices()
  print(f"== {title} ==\nworkdir: {workdir}\ndevices: {len(devices)} x {devices[0].platform} "
        f"({devices[0].device_kind}), {jax.process_count()} process(es)\nconfig: {cfg}", flush=True)
