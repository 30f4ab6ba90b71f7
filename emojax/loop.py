"""The one host training loop: resume, dispatch, read metrics late, check, log, checkpoint, stop.

Every trainer (stage 1, stage-2 groups, the per-direction baselines, new formats, full
fine-tuning) is a compiled `step_fn(state, index) -> (state, metrics)` over a plain pytree state;
`index` counts whatever one call trains (an epoch, a step, a direction). A run directory holds
`checkpoints/<index>/` (Orbax, latest only) and `metrics.jsonl` (one line per index). Around the
step this module does the same things for all of them: `resume_or_init` restores the latest
checkpoint (or builds a fresh state), and `run` dispatches index t before reading index t − 1's
metrics (the device never waits for Python: no host sync per step), stops on a non-finite loss
naming the index and the last good checkpoint, writes metrics.jsonl (process 0 only; lines of a
resumed run's earlier indices are kept), shows progress with rate and ETA, saves every
`checkpoint_every` indices and at the end, and on SIGTERM or SIGINT finishes the index in flight,
saves it, and only then lets the signal end the process (so the last checkpoint is whole).
`start_workdir` claims a run directory before a trainer writes there: a run is its config, so a
workdir that holds a run of another config (or another stage's model, or a run in progress in
another process) is refused unless the user asks to start over; then it writes config.json.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from emojax import config as config_lib, mesh as mesh_lib, progress as progress_lib

SHOWN = ("loss", "dev", "dev_r")  # record fields the progress line shows (means of lists)


# Config fields that say where or how often, not what is computed: a run resumed with another value
# computes the same thing (to float noise across device counts, as on another machine), so they may
# differ from the saved config. Every other field must match (steps and eval_every included).
RESUMABLE_CHANGES = frozenset({
    "num_devices",  # how many devices share the batch: the same result to float noise
    "checkpoint_every",  # how often the state is saved, not what it is
    "feature_cache", "image_cache",  # where cached features live (keyed by their content)
    "readout",  # how stage-2 encoders are read after training: every (re)run evaluates anew
})
LOCK = "run.lock"  # in a workdir while a run writes there: {"pid", "host", "since"}
# What a run writes into its workdir (and `restart` removes): these names, and every folder that
# holds checkpoints/ or a metrics.jsonl (seed_*/, baselines/, groups/, runs/, a dataset's folder).
# Everything else (features/, the user's own files) is left alone.
RUN_FILES = ("config.json", "model.json", "model", "results.json", "results.md", "metrics.jsonl",
             "checkpoints")
KEPT = ("features", LOCK)


class WorkdirError(config_lib.ConfigError):
  """A workdir this run must not write: it holds another config's run or another stage's model,
  or another process is writing there."""


def start_workdir(workdir: str | pathlib.Path, cfg, *, stage: str | None = None, restart: bool = False,
                  restart_if_changed: bool = False) -> pathlib.Path:
  """Claims `workdir` for the run of `cfg` and writes its config.json, before any training (every
  process checks; process 0 locks and writes; all wait for it). In order: the config's values are checked
  (`config.validate`); the workdir is locked (`run.lock`; a second run there at once is refused, a
  lock left by a dead process on this host is taken over); a model of another `stage` there is
  refused; a run there of a different config (fields outside RESUMABLE_CHANGES) is refused,
  naming the fields, unless `restart`, which removes the old run's files (checkpoints, metrics,
  results, model; cached features stay) so that this one starts over. The same config resumes.
  The lock is released when the trainer's `run` returns (`releases_workdir`) or at exit.
  `restart_if_changed`: a run directory a trainer names itself (one fine-tuning run inside the
  user's workdir) whose saved config differs loses its checkpoints and metrics, without a lock."""
  workdir = pathlib.Path(workdir).resolve()
  path = workdir / "config.json"
  if restart_if_changed:
    if not mesh_lib.is_writer():
      return workdir
    if path.exists() and _differences(_saved(path), cfg):
      shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
      (workdir / "metrics.jsonl").unlink(missing_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    config_lib.dump(cfg, path)
    return workdir
  config_lib.validate(cfg)
  writer = mesh_lib.is_writer()  # every process checks (reads only); process 0 locks and writes
  if writer:
    workdir.mkdir(parents=True, exist_ok=True)
  taken = writer and _lock(workdir)
  try:
    meta = _saved(workdir / "model.json") if (workdir / "model.json").exists() else None
    if stage and isinstance(meta, dict) and meta.get("stage", stage) != stage:
      raise WorkdirError(f"workdir {workdir} holds a {meta.get('stage')} model (model.json); this is a "
                         f"{stage} run: use another --workdir (or remove that model first)")
    held = run_entries(workdir)
    saved = _saved(path) if path.exists() else (meta or {}).get("config") if isinstance(meta, dict) else None
    if any(p.name != "config.json" for p in held) and not restart:
      if saved is None and path.exists():
        raise WorkdirError(f"workdir {workdir} holds a run whose config.json cannot be read: add "
                           f"--restart to start over, or use another --workdir")
      if saved is not None and (changed := _differences(saved, cfg)):
        raise WorkdirError(_refusal(workdir, saved, cfg, changed))
    if writer:
      if restart and any(p.name != "config.json" for p in held):
        for entry in held:
          shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        _say(f"--restart: removed the earlier run in {workdir} ({', '.join(p.name for p in held)})")
      config_lib.dump(cfg, path)
  except BaseException:
    if taken:
      _unlock(workdir)
    raise
  if jax.process_count() > 1:  # no process resumes before a restart has removed the old run
    multihost_utils.sync_global_devices(f"emojax start_workdir {workdir}")
  return workdir


def run_entries(workdir: pathlib.Path) -> list[pathlib.Path]:
  """The entries of `workdir` that a run wrote (RUN_FILES, folders with checkpoints or metrics)."""
  if not workdir.is_dir():
    return []
  def has_state(d: pathlib.Path) -> bool:  # checkpoints up to 3 levels down: new_format's
    # <dataset>/new_format/<digest>/checkpoints (not a walk of a large folder the user named)
    return any(next(d.glob(f"{'*/' * depth}{name}"), None) for depth in range(3)
               for name in ("checkpoints", "metrics.jsonl"))
  return [p for p in sorted(workdir.iterdir()) if p.name not in KEPT and (
      p.name in RUN_FILES or (p.is_dir() and not p.is_symlink() and has_state(p)))]


def _differences(saved, cfg) -> list[str]:
  """Dotted names of the fields where `saved` (a config.json dict) and `cfg` differ, those in
  RESUMABLE_CHANGES aside. A field the saved config lacks counts as its default (a field added
  later whose default reproduces the earlier behaviour)."""
  if not isinstance(saved, dict):
    return ["config.json (unreadable)"]
  old, new = config_lib.flat(saved), config_lib.flat(config_lib.to_dict(cfg))
  default = config_lib.flat(config_lib.to_dict(type(cfg)())) if dataclasses.is_dataclass(cfg) else {}
  names = sorted(set(old) | set(new), key=lambda n: (n not in new, n))
  return [n for n in names if n.split(".")[0] not in RESUMABLE_CHANGES
          and old.get(n, default.get(n, _ABSENT)) != _json(new.get(n, _ABSENT))]


_ABSENT = object()


def _json(value):
  return json.loads(json.dumps(value)) if value is not _ABSENT else value


def _refusal(workdir: pathlib.Path, saved: dict, cfg, changed: list[str]) -> str:
  old, new = config_lib.flat(saved), config_lib.flat(config_lib.to_dict(cfg))
  shown = lambda values, names: ", ".join(
      f"{n}={config_lib.show(values[n])}" if n in values else f"no {n}" for n in names)
  unknown = [n for n in changed if n not in new]
  if unknown:  # fields this config class does not have: another kind of run
    return (f"workdir {workdir} holds another kind of run (its config.json has {shown(old, unknown[:4])}, "
            f"which a {type(cfg).__name__} does not): use another --workdir, or add --restart to "
            f"replace that run")
  more = f" (and {len(changed) - 6} more fields)" if len(changed) > 6 else ""
  return (f"workdir {workdir} holds a run with {shown(old, changed[:6])}; this command asks "
          f"{shown(new, changed[:6])}{more}: add --restart to start over, or use another --workdir")


def _saved(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except (ValueError, OSError):
    return None


# ------------------------------------------------------------------------------ the workdir lock

_held: set[pathlib.Path] = set()  # workdirs this process has locked
_scopes: list[list[pathlib.Path]] = []  # locks taken within each `releases_workdir` call


def _lock(workdir: pathlib.Path) -> bool:
  """Locks `workdir` for this process (True), or finds it already locked by it (False)."""
  if workdir in _held:
    return False
  lock, me = workdir / LOCK, {"pid": os.getpid(), "host": socket.gethostname()}
  for _ in range(3):
    try:
      fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      holder = _holder(lock)
      if holder and holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
        break  # ours (a lock left by this process)
      if holder and (holder.get("host") != me["host"] or _alive(holder.get("pid"))):
        raise WorkdirError(
            f"workdir {workdir} is in use: a run (pid {holder.get('pid')} on {holder.get('host')}, since "
            f"{holder.get('since', '?')}) is writing there. Wait for it to end, or use another --workdir; "
            f"if that run is gone, remove {lock}") from None
      _say(f"taking over the lock of {workdir}: pid {(holder or {}).get('pid', '?')} that left it is no "
           f"longer running")
      lock.unlink(missing_ok=True)
      continue
    with os.fdopen(fd, "w") as f:
      json.dump({**me, "since": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
    break
  else:
    raise WorkdirError(f"workdir {workdir}: cannot take its lock {lock}")
  _held.add(workdir)
  if _scopes:
    _scopes[-1].append(workdir)
  return True


def _holder(lock: pathlib.Path) -> dict | None:
  for _ in range(20):  # a lock just created is written a moment later
    held = _saved(lock)
    if isinstance(held, dict) and "pid" in held:
      return held
    if not lock.exists():
      return None
    time.sleep(0.05)
  return None  # unreadable: left by a process that died while creating it


def _alive(pid) -> bool:
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's process
    return True
  except (ValueError, TypeError, OverflowError):  # not a pid: a garbled lock
    return False
  return True


def _unlock(workdir: pathlib.Path) -> None:
  _held.discard(workdir)
  holder = _saved(workdir / LOCK)
  if isinstance(holder, dict) and holder.get("pid") == os.getpid():
    (workdir / LOCK).unlink(missing_ok=True)


@atexit.register
def _unlock_all() -> None:
  for workdir in list(_held):
    _unlock(workdir)


def releases_workdir(run: Callable) -> Callable:
  """Decorates a trainer's `run`: the workdir lock that `start_workdir` takes within the call is
  released when it returns or raises (a lock this process already held stays)."""
  @functools.wraps(run)
  def wrapped(*args, **kwargs):
    _scopes.append([])
    try:
      return run(*args, **kwargs)
    finally:
      for workdir in _scopes.pop():
        _unlock(workdir)
  return wrapped


def _say(text: str) -> None:
  print(text, file=sys.stderr, flush=True)


def digest(settings, arrays=()) -> str:
  """12 hex digits naming what a run directory's checkpoints depend on: JSON-able `settings` and
  the bytes of `arrays`. A trainer keys a run directory by it where a changed setting must start
  a fresh run rather than resume an old one."""
  h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
  for a in arrays:
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:12]


def resume_or_init(workdir: str | pathlib.Path, init: Callable[[], Any], sharding=None,
                   abstract=None) -> tuple[ocp.CheckpointManager, int, Any]:
  """(checkpoints, start, state): the latest checkpoint of `workdir/checkpoints` restored onto
  `sharding` (default: the first device) with the shapes of `abstract` (default: those of
  `init()`, traced, not run), or `init()` with start 0.
  Saves are atomic: Orbax writes a step into `<step>.orbax-checkpoint-tmp-*` and renames it when
  complete, and deletes the previous step only after that, so a run killed while saving leaves
  the previous checkpoint as the latest; such leftover temporary directories are removed here."""
  options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, cleanup_tmp_directories=True)
  checkpoints = ocp.CheckpointManager(pathlib.Path(workdir).resolve() / "checkpoints", options=options)
  start = checkpoints.latest_step() or 0
  if not start:
    return checkpoints, 0, init()
  abstract = jax.eval_shape(init) if abstract is None else abstract
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), abstract)
  return checkpoints, start, checkpoints.restore(start, args=ocp.args.StandardRestore(target))


def read_metrics(path: pathlib.Path, unit: str, upto: int) -> list[dict]:
  """The records of metrics.jsonl with `unit` <= upto (what a run resumed at `upto` keeps)."""
  if not upto or not path.exists():
    return []
  return [r for r in map(json.loads, path.read_text().splitlines()) if r[unit] <= upto]


def run(state, step_fn: Callable, *, start: int, stop: int,
        checkpoints: ocp.CheckpointManager | None = None, checkpoint_every: int = 1,
        on_metrics: Callable[[int, dict], dict] | None = None, unit: str = "epoch",
        where: Callable[[int, dict], str] | None = None,
        progress: progress_lib.Progress | None = None, per_index: int = 1) -> tuple[Any, list[dict]]:
  """state, metrics = step_fn(state, index) for index in [start, stop); returns the final state
  and every metrics record of the run, earlier (resumed) ones included.

  Metrics are read one index late. A record is `{unit: index + 1, **on_metrics(index, host
  metrics)}` (default: the metrics as numbers and lists); it is checked first: a false `finite`
  metric or a non-finite `loss` stops the run with FloatingPointError naming `where(index, host)`
  (default "<unit> <index + 1>") and the last good checkpoint. `checkpoints` (from
  `resume_or_init`; None: nothing saved) gets the state every `checkpoint_every` indices, after
  the last, and after the index in flight when SIGTERM/SIGINT arrives; that signal then takes
  its usual course (SIGTERM ends the process, SIGINT raises KeyboardInterrupt). `progress` counts
  `per_index` units per index on top of where it stood."""
  metrics_path = _run_dir(checkpoints) / "metrics.jsonl" if checkpoints else None
  if start and checkpoints and mesh_lib.is_writer():
    where = _run_dir(checkpoints)  # e.g. <workdir>/seed_0, <workdir>/groups/0-<digest>: the last two
    _say(f"{where.parent.name}/{where.name}: resuming from its checkpoint of {unit} {start}/{stop}"
         + (" (nothing left to train)" if start >= stop else ""))
  records = read_metrics(metrics_path, unit, start) if metrics_path else []
  log = open(metrics_path, "w") if metrics_path and mesh_lib.is_writer() else None
  if log:
    log.writelines(json.dumps(r) + "\n" for r in records)
  base = progress.done if progress else 0
  if progress:
    progress.skip(start * per_index)  # resumed work: done, but not part of the rate

  def flush(index, metrics):
    host = jax.device_get(metrics)
    if not _finite(host):
      last = checkpoints.latest_step() if checkpoints else None
      saved = f"{unit} {last} in {checkpoints.directory}" if last else "none written yet"
      what = "loss or parameters" if "finite" in host else "loss"
      at = where(index, host) if where else f"{unit} {index + 1}"
      raise FloatingPointError(f"non-finite {what} in {at}; last good checkpoint: {saved}")
    record = {unit: index + 1, **(on_metrics(index, host) if on_metrics else _plain(host))}
    records.append(record)
    if log:
      log.write(json.dumps(record) + "\n")
      log.flush()
    if progress:
      progress.update(base + (index + 1) * per_index, **_shown(record))

  pending = None
  with _deferred_signals() as caught:
    try:
      # An interrupt noted before this loop began (e.g. one raised where Python swallowed it) stops
      # the run here, before any index: the host loop acts on the note, not on an exception.
      for index in range(start, stop) if not caught else ():
        state, metrics = step_fn(state, index)
        if pending is not None:
          flush(*pending)
        pending = (index, metrics)
        if (index + 1) % checkpoint_every == 0 or index + 1 == stop or caught:
          flush(*pending)
          pending = None
          if checkpoints:
            checkpoints.save(index + 1, args=ocp.args.StandardSave(state))
          if caught:
            break
      if checkpoints:
        checkpoints.wait_until_finished()
        if checkpoints.latest_step():
          _last_saved[:] = [pathlib.Path(str(checkpoints.directory)) / str(checkpoints.latest_step())]
    finally:
      if checkpoints:
        checkpoints.close()
      if log:
        log.close()
  if caught:
    _resend(caught[0], f"after {unit} {records[-1][unit] if records else start}"
                       + (f"; checkpoint in {checkpoints.directory}" if checkpoints else ""))
  return state, records


def _run_dir(checkpoints: ocp.CheckpointManager) -> pathlib.Path:
  return pathlib.Path(str(checkpoints.directory)).parent


def _finite(host: dict) -> bool:
  if "finite" in host:
    return bool(np.all(host["finite"]))
  return "loss" not in host or bool(np.all(np.isfinite(host["loss"])))


def _plain(host: dict) -> dict:
  return {k: np.asarray(v).tolist() for k, v in host.items() if k != "finite"}


def _shown(record: dict) -> dict:
  return {k: float(np.mean(record[k])) for k in SHOWN if k in record}


# Signals noted and not yet acted on, process-wide: by the loop's handler (below) and by the one a
# launcher keeps for the whole command (`interrupts`). Cleared when acted on (`_resend`).
_noted: list[int] = []
_last_saved: list[pathlib.Path] = []  # the latest checkpoint a loop of this process committed


def last_checkpoint() -> pathlib.Path | None:
  """The latest checkpoint a run of this process saved (None: none yet)."""
  return _last_saved[0] if _last_saved else None


def interrupted() -> bool:
  """Whether an interrupt was noted and not yet acted on."""
  return bool(_noted)


@contextlib.contextmanager
def interrupts():
  """For a command's whole life (the launchers): Ctrl-C raises KeyboardInterrupt as usual, but is
  noted first. Python swallows an exception raised inside a finalizer or a callback that C++ code
  calls (it prints "Exception ignored in ..." and goes on); the note survives that, `run` acts on
  it before its next index, and the launcher exits 130 when the command ends with a note. Inside
  `run` the loop's own handler takes over (it defers the signal to the end of the index)."""
  if threading.current_thread() is not threading.main_thread() or (
      signal.getsignal(signal.SIGINT) is signal.SIG_IGN):  # told to ignore Ctrl-C: it still does
    yield
    return
  _noted.clear()
  previous = signal.getsignal(signal.SIGINT)

  def note_and_raise(signum, frame):
    if signum not in _noted:
      _noted.append(signum)
    raise KeyboardInterrupt

  signal.signal(signal.SIGINT, note_and_raise)
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
    _noted.clear()  # the command is over: its note must not stop a later run of this process


@contextlib.contextmanager
def _deferred_signals():
  """Within: SIGTERM and SIGINT are noted (in the yielded list, the process-wide note) instead of
  acted on, so the loop can finish the index in flight and save it; a second one acts at once.
  Outside the main thread (where Python cannot install handlers) signals keep their usual course,
  and an ignored signal (a background job's SIGINT, say) stays ignored."""
  caught = _noted
  if threading.current_thread() is not threading.main_thread():
    yield caught
    return
  previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)
              if signal.getsignal(s) is not signal.SIG_IGN}

  def note(signum, frame):
    if caught:  # asked twice: stop now (the last saved checkpoint is whole)
      signal.signal(signum, previous[signum])
      signal.raise_signal(signum)
      return
    caught.append(signum)

  for s in previous:
    signal.signal(s, note)
  try:
    yield caught
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def _resend(signum: int, where: str) -> None:
  """Lets a deferred signal take its usual course now that the checkpoint is saved: SIGTERM ends
  the process as killed by it, SIGINT raises KeyboardInterrupt (a launcher may turn it into exit
  130). A signal that is ignored or handled without exiting still ends the run here."""
  if mesh_lib.is_writer():
    print(f"stopped by {signal.Signals(signum).name} {where}", file=sys.stderr, flush=True)
  sys.stdout.flush()
  _noted.clear()  # acted on now
  if signum == signal.SIGTERM:
    _unlock_all()  # the process ends by the signal: no exit handlers run
  signal.raise_signal(signum)
  raise SystemExit(128 + signum)
