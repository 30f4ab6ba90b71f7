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
compilation. `trainer` is the one table from a config's type to the library function that trains
it, `train` the one flow from config file to results (launch/train.py, which `emojax train` runs),
and `config_help` lists a config's fields with their defaults, allowed values and help.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Callable
from typing import NamedTuple

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
  check_kind(args, kind)
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


def check_kind(args, kind: type | None) -> None:
  """A launcher that runs one config class (`kind`) refuses a config file of another."""
  if kind is not None and not isinstance(args.base, kind):
    raise SystemExit(f"--config={args.config} gives a {type(args.base).__name__}; this launcher runs "
                     f"a {kind.__name__}")


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


# ------------------------------------------------------------------------- one dispatch, one flow

class Trainer(NamedTuple):
  """What trains one kind of config: the run header's title, the library function, the closing
  summary of its results, and the trainer's own check of the config's names (or None)."""

  title: str
  run: Callable
  summary: Callable
  check: Callable | None
  stage: str  # "stage 1", "stage 2" or "new format"


def trainer(cfg) -> Trainer:
  """The one table from a config's type to the library function that trains it: stage 1
  (MappingConfig), stage 2 on frozen features (ContentConfig: words, texts, images), full
  fine-tuning (FinetuneConfig, FinetuneImageConfig), new label formats (NewFormatConfig), and the
  stage-1 transfer studies (TransferConfig, NewFormatCodecConfig)."""
  from emojax import config, datasets, report, run_configs
  if isinstance(cfg, run_configs.MappingConfig):
    from emojax import train_mapping
    return Trainer("emojax stage 1: emotion codec", train_mapping.run, report.mapping_summary, None,
                   "stage 1")
  if isinstance(cfg, run_configs.FinetuneConfig):
    from emojax import finetune_text
    return Trainer("emojax stage 2: texts, full fine-tuning", finetune_text.run,
                   report.text_finetune_summary, finetune_text.check_config, "stage 2")
  if isinstance(cfg, run_configs.FinetuneImageConfig):
    from emojax import finetune_image
    return Trainer("emojax stage 2: images, full fine-tuning", finetune_image.run,
                   report.image_finetune_summary, finetune_image.check_config, "stage 2")
  if isinstance(cfg, run_configs.ContentConfig):
    from emojax import train_content
    return Trainer(f"emojax stage 2: {cfg.modality}", train_content.run, report.content_summary,
                   train_content.check_config, "stage 2")
  from emojax import new_format
  if isinstance(cfg, new_format.NewFormatConfig):
    names = lambda c: [datasets.get_dataset(name, "texts", classes=True) for name in c.datasets]
    return Trainer("emojax: new label formats onto a frozen space", new_format.run,
                   report.new_format_summary, names, "new format")
  from emojax import transfer
  if isinstance(cfg, transfer.TransferConfig):
    return Trainer("emojax: leave-one-population-out transfer", transfer.run,
                   report.transfer_summary, transfer.check_config, "stage 1 study")
  if isinstance(cfg, transfer.NewFormatCodecConfig):
    return Trainer("emojax: a new format onto a frozen codec", transfer.new_format_run,
                   report.new_format_codec_markdown, None, "stage 1 study")
  raise config.ConfigError(f"get_config() returns a {type(cfg).__name__}; emojax trains a "
                           f"MappingConfig, ContentConfig, FinetuneConfig, FinetuneImageConfig, "
                           f"NewFormatConfig, TransferConfig or NewFormatCodecConfig "
                           f"(emojax.run_configs, emojax.new_format, emojax.transfer)")


def train(args, path: str | None = None, given: list[str] | None = None, kind: type | None = None) -> None:
  """The one training flow after `setup`: the config file read (its DATASETS declared), the
  workdir checked, the config built and checked by its trainer (`trainer`), trained (resuming a
  run of the same config; --restart starts over) and summarised. `kind`: the config class a
  launcher runs (another is an error naming the file)."""
  read_config(args, path)
  check_writable(args.workdir)
  check_kind(args, kind)
  t = trainer(args.base)
  cfg = configure(args, t.title, given, check=t.check)
  results = t.run(cfg, args.workdir, restart=args.restart)
  report(f"{t.summary(results)}\nresults: {args.workdir}/results.md")


# ------------------------------------------------------------------------------ config help

def field_help(cls: type) -> dict[str, str]:
  """The comment on the line of each field of a config dataclass (its one-line help), where there
  is one: `epochs: int = 70  # best dev epoch is kept` -> {"epochs": "best dev epoch is kept"}."""
  import inspect
  import io
  import tokenize
  try:
    source = inspect.getsource(cls)
  except (OSError, TypeError):
    return {}
  out, field = {}, None
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.NL or tok.type == tokenize.NEWLINE:
      field = None
    elif tok.type == tokenize.NAME and field is None and tok.start[1] == 2:  # a field's name
      field = tok.string
    elif tok.type == tokenize.COMMENT and field is not None and field not in out:
      out[field] = tok.string.lstrip("# ").strip()
  return out


TYPE_SAYS = {str: "text", bool: "true or false", tuple: "a list", int: "an integer", float: "a number"}


def describe(base, cfg=None, prefix: str = "") -> list[tuple[str, str, str, str]]:
  """(name, value, allowed values, help) of every field of a config, nested ones by dotted name:
  the value is `base`'s (the config file's default), followed by ` -> now` where `cfg` (with the
  command line's overrides) differs; allowed values as the class declares them (`config.declare`)."""
  import dataclasses
  from emojax import config
  cfg = base if cfg is None else cfg
  ranges = config.declared(type(base))
  helps = field_help(type(base))
  rows = []
  for f in dataclasses.fields(base):
    value, now = getattr(base, f.name), getattr(cfg, f.name)
    if dataclasses.is_dataclass(value):
      rows += describe(value, now, f"{prefix}{f.name}.")
      continue
    shown = config.show(value) if value != "" else '""'
    if now != value:
      shown += f" -> {config.show(now) if now != '' else chr(34) * 2}"
    allowed = ranges[f.name].says if f.name in ranges else TYPE_SAYS.get(type(value), "any value")
    rows.append((prefix + f.name, shown, allowed, helps.get(f.name, "")))
  return rows


def config_help(args, given: list[str]) -> str:
  """`--help` with a config: every field of the run's config with its default, the values it
  takes and its help, as `name=value` overrides name them."""
  from emojax import config
  module = config.load_file(config_file(args.config))
  base = module.get_config()
  try:
    cfg = config.override(base, given)
  except config.ConfigError:
    cfg = base
  rows = describe(base, cfg)
  width = max(len(f"{n}={v}") for n, v, _, _ in rows)
  width = min(width, 48)
  lines = [f"{type(base).__name__} of {config_file(args.config)} ({trainer(base).stage}); every "
           f"field, with its default, can be set as name=value:"]
  for name, value, allowed, text in rows:
    left = f"  {name}={value}"
    right = allowed + (f"; {text}" if text else "")
    pad = " " * (width + 4)  # a value too long for its column puts the rest on the next line
    lines.append(f"{left:<{width + 2}}  {right}" if len(left) <= width + 2 else f"{left}\n{pad}{right}")
  return "\n".join(lines)
