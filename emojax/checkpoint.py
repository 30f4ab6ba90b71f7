"""The exported model of a run: Orbax parameters plus `model.json`, the hand-off between stages.

`export_model` writes `<workdir>/model/` (Orbax, written to a temporary name and renamed, so a run
killed mid-write leaves the previous model usable) and `<workdir>/model.json`: the stage, the
seed, the run config, the head layout and the full declaration of every format the model knows.
`load_model` checks all of it before restoring: a missing workdir, a missing or corrupt
checkpoint, or formats whose declaration differs from this installation's registry each raise a
`CheckpointError` that says what is wrong and where.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp

from emojax import config as config_lib, formats, mesh as mesh_lib

MODEL_DIR, MODEL_JSON = "model", "model.json"


class CheckpointError(RuntimeError):
  pass


def _declaration(name: str) -> dict:
  fmt = formats.get_format(name)
  return {"variables": list(fmt.variables), "kind": fmt.kind, "low": fmt.low, "high": fmt.high,
          "concepts": list(fmt.concepts)}


def export_model(workdir: pathlib.Path, params, layout: formats.HeadLayout, cfg, *, stage: str,
                 seed: int, extra: dict | None = None) -> None:
  workdir = pathlib.Path(workdir).resolve()
  final, tmp = workdir / MODEL_DIR, workdir / f"{MODEL_DIR}.tmp"
  checkpointer = ocp.StandardCheckpointer()
  # Host arrays: the model must restore on any topology, not the mesh it was trained on.
  checkpointer.save(tmp, jax.device_get(params), force=True)
  checkpointer.wait_until_finished()
  checkpointer.close()
  if not mesh_lib.is_writer():
    return
  meta = {"stage": stage, "seed": seed, "formats": list(layout.formats),
          "declarations": {n: _declaration(n) for n in layout.formats},
          "config": config_lib.to_dict(cfg), **(extra or {})}
  if final.exists():
    shutil.rmtree(final)
  tmp.rename(final)
  (workdir / f"{MODEL_JSON}.tmp").write_text(json.dumps(meta, indent=2) + "\n")
  (workdir / f"{MODEL_JSON}.tmp").rename(workdir / MODEL_JSON)


def read_meta(workdir: pathlib.Path) -> dict:
  workdir = pathlib.Path(workdir)
  path = workdir / MODEL_JSON
  if not workdir.is_dir():
    raise CheckpointError(f"workdir {workdir} does not exist; train one with `python launch/mapping.py "
                          f"--workdir={workdir}`")
  if not path.is_file() or not (workdir / MODEL_DIR).is_dir():
    raise CheckpointError(f"{workdir} holds no exported model ({MODEL_JSON} and {MODEL_DIR}/); "
                          f"did its run finish?")
  try:
    meta = json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as err:
    raise CheckpointError(f"{path} is corrupt: {err}") from err
  for name, declared in meta.get("declarations", {}).items():
    if name not in formats.FORMATS:
      formats.register_format(formats.LabelFormat(name, tuple(declared["variables"]), declared["kind"],
                                                  declared["low"], declared["high"],
                                                  tuple(declared["concepts"])))
    elif _declaration(name) != declared:
      raise CheckpointError(f"{workdir}: format {name!r} was trained as {declared}, but this "
                            f"installation declares it as {_declaration(name)}")
  return meta


def restore_params(workdir: pathlib.Path, abstract_params):
  """Restores the exported parameters into the structure/shapes of `abstract_params`."""
  path = (pathlib.Path(workdir) / MODEL_DIR).resolve()
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype, sharding=device),
                        abstract_params)
  checkpointer = ocp.StandardCheckpointer()
  try:
    return checkpointer.restore(path, target)
  except Exception as err:  # Orbax raises many types for truncated/mismatched files
    raise CheckpointError(f"cannot restore the model in {path}: it is corrupt or was written by a "
                          f"model of another shape ({type(err).__name__}: {str(err)[:300]})") from err
  finally:
    checkpointer.close()


def config_from_meta(cls, meta: dict):
  return config_lib.from_dict(cls, meta["config"])
