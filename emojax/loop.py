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
`start_workdir` writes a run's config.json before it trains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pathlib
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from emojax import config as config_lib, mesh as mesh_lib, progress as progress_lib

SHOWN = ("loss", "dev", "dev_r")  # record fields the progress line shows (means of lists)


def start_workdir(workdir: str | pathlib.Path, cfg, *, restart_if_changed: bool = False) -> pathlib.Path:
  """Creates `workdir` and writes `config.json` (process 0) before any training.
  `restart_if_changed`: a run directory a trainer names itself (one fine-tuning run) whose saved
  config differs from `cfg` loses its checkpoints and metrics, so the run starts over instead of
  resuming another config's state. (For a workdir the user names, resuming another config and
  two runs sharing one workdir are to be refused here.)"""
  workdir = pathlib.Path(workdir).resolve()
  path = workdir / "config.json"
  if mesh_lib.is_writer():
    changed = path.exists() and _saved(path) != json.loads(json.dumps(config_lib.to_dict(cfg)))
    if restart_if_changed and changed:
      shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
      (workdir / "metrics.jsonl").unlink(missing_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    config_lib.dump(cfg, path)
  return workdir


def _saved(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except ValueError:
    return None


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
      for index in range(start, stop):
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


@contextlib.contextmanager
def _deferred_signals():
  """Within: SIGTERM and SIGINT are noted (in the yielded list) instead of acted on, so the loop
  can finish the index in flight and save it; a second one acts at once. Outside the main thread
  (where Python cannot install handlers) signals keep their usual course."""
  caught: list[int] = []
  if threading.current_thread() is not threading.main_thread():
    yield caught
    return
  previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

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
  signal.raise_signal(signum)
  raise SystemExit(128 + signum)
