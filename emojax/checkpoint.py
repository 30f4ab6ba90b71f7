"""The exported model of a run: Orbax parameters plus `model.json`, the hand-off between stages.

`export_model` writes `<workdir>/model/` (Orbax, written to a temporary name and renamed, so a run
killed mid-write leaves the previous model usable) and `<workdir>/model.json`: the stage, the
seed, the run config, the head layout and the full declaration of every format the model knows.
`read_meta` checks all of it before restoring: a missing workdir, a missing or corrupt
checkpoint, or formats whose declaration differs from this installation's registry each raise a
`CheckpointError` that says what is wrong and where; a format the registry lacks is read from the
declaration (`declared_formats`) into the loaded model, never into the registry. `fingerprint`
names one export (what a stage-2 or new-format workdir records of the model it was trained against).
"""

from __future__ import annotations

import hashlib
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


def fingerprint(workdir: str | pathlib.Path) -> str:
  """sha256 over an exported model: model.json and every file of model/ (path + bytes)."""
  workdir = pathlib.Path(workdir)
  digest = hashlib.sha256((workdir / MODEL_JSON).read_bytes())
  for path in sorted((workdir / MODEL_DIR).rglob("*")):
    if path.is_file():
      digest.update(str(path.relative_to(workdir)).encode())
      digest.update(path.read_bytes())
  return digest.hexdigest()


def find_recorded(workdir: pathlib.Path, recorded: dict, moved_to=None, *, role: str,
                  remedy: str) -> pathlib.Path:
  """Where the model that `workdir` was trained against lives: `recorded` is its {"path",
  "fingerprint"} as the run wrote them, `moved_to` its new place if it moved. A missing model or a
  different export (other parameters, or the same ones saved again: Orbax writes per-save metadata,
  so a fingerprint names one export) raises a CheckpointError saying which and what to do."""
  path = pathlib.Path(moved_to if moved_to is not None else recorded["path"])
  if not (path / MODEL_JSON).is_file():
    raise CheckpointError(
        f"{workdir} was trained against the {role} {recorded['path']}, and {path} holds no exported "
        f"model; put it back, or pass load(..., stage1=<where it is now>)")
  found = fingerprint(path)
  if found != recorded["fingerprint"]:
    raise CheckpointError(
        f"{workdir} was trained against the {role} {recorded['path']} (fingerprint "
        f"{recorded['fingerprint'][:12]}), but {path} holds another model ({found[:12]}), or "
        f"another export of it (a fingerprint names one export: rerunning even with the same seed "
        f"makes a new one). Point stage1= at the original or {remedy}")
  return path


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
    if name in formats.FORMATS and _declaration(name) != declared:
      raise CheckpointError(f"{workdir}: format {name!r} was trained as {declared}, but this "
                            f"installation declares it as {_declaration(name)}")
  return meta


def declared_formats(meta: dict) -> dict[str, formats.LabelFormat]:
  """The formats of an export as its model.json declares them: a loaded model carries these, so
  loading a model with a format this installation lacks leaves the global registry as it was. A
  model.json without declarations (older exports) names registered formats."""
  out = {}
  for name in meta["formats"]:
    declared = meta.get("declarations", {}).get(name)
    out[name] = formats.get_format(name) if declared is None else formats.LabelFormat(
        name, tuple(declared["variables"]), declared["kind"], declared["low"], declared["high"],
        tuple(declared["concepts"]))
  return out


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
