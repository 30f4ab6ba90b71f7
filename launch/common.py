"""Shared launcher plumbing: flags, config file, platform choice, multi-host start, run header.

Launchers stay thin: they parse `--config` (an experiment's file, configs/*.py, whose
`get_config()` gives the run's config), `--accelerator`, `--workdir`, `--seeds` and free
`name=value` overrides of that config, pin the platform before JAX touches a device, check that
the workdir (default: the config file's `WORKDIR`, else checkpoints/<config name>) can be
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


def parser(description: str, default_config: str | None) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--config", default=default_config,
                 help="the experiment's config file, configs/<name>.py (default: %(default)s)")
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None,
                 help="platform to run on (default: the best JAX finds)")
  p.add_argument("--workdir", default=None,
                 help="run output directory (default: the config's, checkpoints/<config name>)")
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


def start(doc: str, default_config: str) -> argparse.Namespace:
  """The usual launcher prologue: flags parsed (the description is the docstring's first line),
  platform and hosts set up, config file read, workdir checked. emojax modules are imported
  after it."""
  args = parser(doc.splitlines()[0], default_config).parse_args()
  setup(args)
  read_config(args)
  check_writable(args.workdir)
  return args


def config_file(name: str) -> pathlib.Path:
  """The config file a command line names: a path (absolute, or from the current directory or
  the checkout), or a bare name of configs/ (`texts_finetune`). Exits listing them if none is."""
  for path in (pathlib.Path(name), ROOT / name, ROOT / "configs" / f"{name}.py"):
    if path.suffix == ".py" and path.is_file():
      return path.resolve()
  known = ", ".join(sorted(p.stem for p in (ROOT / "configs").glob("*.py")))
  raise SystemExit(f"--config={name}: no such config file; the experiments' configs are "
                   f"configs/<name>.py with name one of: {known}")


def read_config(args, name: str | None = None) -> None:
  """Reads the config file (`name`, else --config) into `args.base`, its path into
  `args.config`, and the default workdir into `args.workdir` where none was given."""
  from emojax import config
  path = config_file(name or args.config)
  module = config.load_file(path)
  args.config, args.base = path, module.get_config()
  if args.workdir is None:
    args.workdir = str(ROOT / getattr(module, "WORKDIR", f"checkpoints/{path.stem}"))


def configure(args, title: str, given: list[str] | None = None, kind: type | None = None):
  """The run's one config: the config file's with the command line's overrides (or `given` ones,
  where the launcher consumed some), announced in the header. `kind`: the config class this
  launcher runs; another is an error naming the file."""
  from emojax import config
  if kind is not None and not isinstance(args.base, kind):
    raise SystemExit(f"--config={args.config} gives a {type(args.base).__name__}; this launcher runs "
                     f"a {kind.__name__}")
  cfg = config.override(args.base, overrides(args) if given is None else given)
  try:
    shown = args.config.relative_to(ROOT)
  except ValueError:
    shown = args.config
  header(f"{title} ({shown})", cfg, args.workdir)
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
