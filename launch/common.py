"""Shared launcher plumbing: flags, config file, platform choice, multi-host start, run header.

Launchers stay thin: they parse `--config` (an experiment's file, configs/*.py, whose
`get_config()` gives the run's config), `--accelerator`, `--workdir`, `--seeds` and free
`name=value` overrides of that config, pin the platform before JAX touches a device, check that
the workdir (default: the config file's `WORKDIR`, else checkpoints/<config name>) can be
written, check the config's values, and hand one config to one library function. A rerun into a
workdir resumes its run if the config is the same and is refused otherwise (`--restart` starts
over). `main` runs a launcher: a user error is one line `error: ...` and exit 2, Ctrl-C stops the
run (the last checkpoint whole) with exit 130. The JAX persistent compilation cache lives under
`checkpoints/.jax_cache` (override with JAX_COMPILATION_CACHE_DIR) so a second run skips most
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
  p.add_argument("--restart", action="store_true",
                 help="start over in a workdir that holds a run of another config: its checkpoints, "
                      "metrics, results and model are removed first (without it, such a workdir is "
                      "refused; the same config resumes)")
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
  check_workdir_flag(args)
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


def check_workdir_flag(args) -> None:
  """`--workdir=` with nothing after it (an unset shell variable) is refused, not read as `.`."""
  from emojax import config
  if args.workdir is not None and not args.workdir.strip():
    raise config.ConfigError("--workdir= is empty (an unset variable?): name a directory, or leave "
                             "--workdir out for the config's default")


def main(run) -> None:
  """Runs a launcher's `run()`: a user error (`config.ConfigError`: a value out of range, a workdir
  that holds another run) is printed as one line `error: ...` with exit 2; Ctrl-C stops the run
  after the step in flight is saved and exits 130 naming the last checkpoint, even when Python
  swallowed its KeyboardInterrupt somewhere (`loop.interrupts`)."""
  from emojax import config, loop
  try:
    with loop.interrupts():
      run()
      if loop.interrupted():  # a Ctrl-C that Python swallowed after the last loop
        raise KeyboardInterrupt
  except config.ConfigError as err:
    print(f"error: {err}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
  except KeyboardInterrupt:
    last = loop.last_checkpoint()
    print(f"interrupted; last checkpoint: {last if last else 'none saved by this command'} "
          f"(rerun the same command to resume)", file=sys.stderr, flush=True)
    raise SystemExit(130) from None


def read_config(args, name: str | None = None) -> None:
  """Reads the config file (`name`, else --config) into `args.base`, its path into
  `args.config`, and the default workdir into `args.workdir` where none was given (a relative
  `WORKDIR` is read from the checkout for its configs/, from the config file's folder for yours).
  The file's `DATASETS` (your own data, docs/own_data.md) are declared before `get_config()` is
  called: paths from the file's folder, splits written to <workdir>/splits."""
  from emojax import config, datasets
  path = config_file(name or args.config)
  module = config.load_file(path)
  if args.workdir is None:
    home = ROOT if path.is_relative_to(ROOT) else path.parent
    args.workdir = str(home / getattr(module, "WORKDIR", f"checkpoints/{path.stem}"))
  try:
    datasets.check_readable(datasets.declare(getattr(module, "DATASETS", ()), base=path.parent,
                                             split_dir=pathlib.Path(args.workdir) / "splits"))
  except (ValueError, TypeError, KeyError) as err:
    raise config.ConfigError(f"{path}: DATASETS: {err.args[0] if err.args else err}") from None
  args.config, args.base = path, module.get_config()


def configure(args, title: str, given: list[str] | None = None, kind: type | None = None, check=None):
  """The run's one config: the config file's with the command line's overrides (or `given` ones,
  where the launcher consumed some), its values checked (the declared ranges, and `check(cfg)`,
  the trainer's own check of names, whose ValueError or KeyError is a user error too), announced in
  the header. `kind`: the config class this launcher runs; another is an error naming the file."""
  from emojax import config
  if kind is not None and not isinstance(args.base, kind):
    raise SystemExit(f"--config={args.config} gives a {type(args.base).__name__}; this launcher runs "
                     f"a {kind.__name__}")
  cfg = config.override(args.base, overrides(args) if given is None else given)
  config.validate(cfg)
  if check is not None:
    try:
      check(cfg)
    except (ValueError, KeyError) as err:
      raise config.ConfigError(err.args[0] if err.args else str(err)) from None
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
