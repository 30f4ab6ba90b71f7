"""The host side of every training loop: resume from Orbax, log metrics, checkpoint every k epochs.

Both stages train in compiled *epochs* (many steps per call). Around them the host does the same
three things, shared here: `resume_or_init` restores the latest Orbax checkpoint of a directory
(or builds a fresh state), `open_metrics` reopens `metrics.jsonl` keeping only the epochs a resumed
run will not redo, and `run_epochs` dispatches epoch t before reading epoch t − 1's metrics (so
the device never waits for Python) and saves the state every `checkpoint_every` epochs and at
the end. Only process 0 writes the metrics file; Orbax coordinates checkpoint writes itself.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import jax
import orbax.checkpoint as ocp

from emojax import mesh as mesh_lib


def resume_or_init(directory: pathlib.Path, init: Callable[[], dict], abstract, sharding):
  """Returns (manager, start epoch, state): the latest checkpoint of `directory`, or init().
  Saves are atomic: Orbax writes a step into `<step>.orbax-checkpoint-tmp-*` and renames it when
  complete, and deletes the previous step only after that, so a run killed while saving leaves
  the previous checkpoint as the latest; such leftover temporary directories are removed here."""
  options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, cleanup_tmp_directories=True)
  manager = ocp.CheckpointManager(pathlib.Path(directory).resolve(), options=options)
  start = manager.latest_step() or 0
  if not start:
    return manager, 0, init()
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), abstract)
  return manager, start, manager.restore(start, args=ocp.args.StandardRestore(target))


def open_metrics(path: pathlib.Path, start_epoch: int):
  """metrics.jsonl opened for writing, holding an earlier run's lines up to `start_epoch`."""
  kept = []
  if path.exists() and start_epoch:
    kept = [l for l in path.read_text().splitlines(keepends=True)
            if json.loads(l)["epoch"] <= start_epoch]
  if not mesh_lib.is_writer():
    return None
  log = open(path, "w")
  log.writelines(kept)
  return log


def run_epochs(state, start: int, stop: int, epoch: Callable, flush: Callable,
               manager: ocp.CheckpointManager, checkpoint_every: int):
  """state = epoch(state, index) for index in [start, stop); flush(index, metrics) reads the
  metrics one epoch late; Orbax saves every `checkpoint_every` epochs and after the last."""
  pending = None
  try:
    for index in range(start, stop):
      state, out = epoch(state, index)
      if pending is not None:
        flush(*pending)
      pending = (index, out)
      if (index + 1) % checkpoint_every == 0 or index + 1 == stop:
        flush(*pending)
        pending = None
        manager.save(index + 1, args=ocp.args.StandardSave(state))
    if pending is not None:
      flush(*pending)
    manager.wait_until_finished()
  finally:
    manager.close()
  return state
