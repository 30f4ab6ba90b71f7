"""The exported model of a run: Orbax parameters plus `model.json`, the hand-off between stages.

`export_model` writes `<workdir>/model/` (Orbax, written to a temporary name and renamed, so a run
killed mid-write leaves the previous model usable) and `<workdir>/model.json`: the stage, the
seed, the run config, the head layout and the full declaration of every format the model knows.
`read_meta` checks all of it before restoring: a missing workdir, a missing or corrupt
checkpoint, or formats whose declaration differs from this installation's registry each raise a
`CheckpointError` that says what is wrong and where; a format the registry lacks is read from the
declaration (`declared_formats`) into the loaded model, never into the registry. `fingerprint`
names one export (what a stage-2 or new-format workdir records of the model it was trained against):
it hashes model.json and every byte of model/, so changed weights are a different export.
model.json records a sha256 of every file under model/ (`checksums`); `verify_checksums` (run by
`restore_params`) refuses a file whose bytes changed with "corrupted: <file>", and a model written
before checksums existed loads with a warning. model.json itself is meant to stay readable and
hand-editable, so it is not hashed: a damaged one is refused when it does not parse or has the wrong
shape (`check_meta`), and a value that changes the network's shape fails the restore.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import uuid
import warnings

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


def file_sha256(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def model_checksums(model_dir: pathlib.Path) -> dict[str, str]:
  """{path relative to model/: sha256} of every file under an exported model/ directory."""
  model_dir = pathlib.Path(model_dir)
  return {str(p.relative_to(model_dir)): file_sha256(p)
          for p in sorted(model_dir.rglob("*")) if p.is_file()}


def verify_checksums(workdir: pathlib.Path, meta: dict) -> None:
  """Refuses an exported model whose parameter files differ from the checksums in its model.json
  ("corrupted: <file>"), or that lacks or gained a file; a model.json without checksums (written
  by an older emojax) loads with a warning."""
  workdir = pathlib.Path(workdir)
  recorded = meta.get("checksums")
  if recorded is None:
    warnings.warn(f"{workdir / MODEL_JSON} records no checksums of its parameter files (written by "
                  f"an older emojax): a corrupted file cannot be detected; export it again to add "
                  f"them", stacklevel=3)
    return
  model_dir = workdir / MODEL_DIR
  found = {str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file()}
  for name in sorted(set(recorded) | found):
    path = model_dir / name
    if name not in found:
      raise CheckpointError(f"corrupted: {path} is missing (model.json records it; a partly "
                            f"copied or interrupted export?)")
    if name not in recorded:
      raise CheckpointError(f"corrupted: {path} is not part of the export model.json describes "
                            f"(model/ and model.json from different exports?)")
    if file_sha256(path) != recorded[name]:
      raise CheckpointError(f"corrupted: {path} does not match the checksum recorded in "
                            f"{workdir / MODEL_JSON} (a changed or damaged parameter file, or "
                            f"model/ and model.json from different exports); restore it from a "
                            f"copy or export the model again")


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
          "config": config_lib.to_dict(cfg), **(extra or {}),
          "checksums": model_checksums(tmp)}
  if _same_export(workdir, meta, params):
    # Orbax writes per-save metadata, so saving the same parameters again would give a new
    # fingerprint and orphan every stage-2 run trained against this export (a rerun that resumed
    # finished seeds trains nothing and must leave the model as it was).
    shutil.rmtree(tmp)
    return
  # model.json (with the checksums of model.tmp/) is complete before anything is replaced; then
  # three renames swap the pair. A kill between them leaves a model/ that disagrees with model.json,
  # which `verify_checksums` refuses by name instead of serving mixed parameters.
  meta_tmp = workdir / f"{MODEL_JSON}.tmp"
  meta_tmp.write_text(json.dumps(meta, indent=2) + "\n")
  old = workdir / f"{MODEL_DIR}.old-{uuid.uuid4().hex[:8]}"
  if final.exists():
    final.rename(old)
  tmp.rename(final)
  meta_tmp.rename(workdir / MODEL_JSON)
  if old.exists():
    shutil.rmtree(old)


def _same_export(workdir: pathlib.Path, meta: dict, params) -> bool:
  """Whether `workdir` already exports exactly this: the same model.json (checksums aside) and
  bit-identical parameters. A missing, unreadable or different export is not the same."""
  if not (workdir / MODEL_JSON).is_file() or not (workdir / MODEL_DIR).is_dir():
    return False
  try:
    old = json.loads((workdir / MODEL_JSON).read_text())
    new = json.loads(json.dumps(meta))  # tuples as JSON reads them back
    old.pop("checksums", None)
    new.pop("checksums", None)
    if old != new:
      return False
    host = jax.device_get(params)
    kept = restore_params(workdir, host)
  except (CheckpointError, ValueError, OSError, json.JSONDecodeError):
    return False
  return (jax.tree.structure(kept) == jax.tree.structure(host)
          and all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(kept), jax.tree.leaves(host))))


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
  check_meta(meta, path)
  for name, declared in meta.get("declarations", {}).items():
    if name in formats.FORMATS and _declaration(name) != declared:
      raise CheckpointError(f"{workdir}: format {name!r} was trained as {declared}, but this "
                            f"installation declares it as {_declaration(name)}")
  return meta


def _expect(ok: bool, path: pathlib.Path, what: str) -> None:
  if not ok:
    raise CheckpointError(f"{path} is corrupt or not an emojax model.json: {what}")


_DECLARATION_KEYS = {"variables": list, "kind": str, "low": (int, float), "high": (int, float),
                     "concepts": list}


def check_meta(meta, path: pathlib.Path) -> None:
  """The shape of a model.json, checked field by field, so a valid JSON of the wrong shape is a
  CheckpointError naming the field rather than an AttributeError deep in loading."""
  _expect(isinstance(meta, dict), path, f"expected a JSON object, got {type(meta).__name__}")
  _expect(isinstance(meta.get("stage", ""), str), path, "'stage' must be a string")
  _expect(isinstance(meta.get("formats"), list) and meta["formats"]
          and all(isinstance(n, str) for n in meta["formats"]), path,
          "'formats' must be a non-empty list of format names")
  _expect(isinstance(meta.get("config"), dict), path, "'config' must be an object (the run config)")
  declarations = meta.get("declarations", {})
  _expect(isinstance(declarations, dict), path, "'declarations' must be an object")
  for name, declared in declarations.items():
    _expect(isinstance(declared, dict) and all(isinstance(declared.get(k), t)
                                               for k, t in _DECLARATION_KEYS.items()), path,
            f"declaration of format {name!r} must have {sorted(_DECLARATION_KEYS)}")
  _expect(isinstance(meta.get("conditions", []), list), path, "'conditions' must be a list")
  checksums = meta.get("checksums", {})
  _expect(isinstance(checksums, dict) and all(isinstance(v, str) for v in checksums.values()),
          path, "'checksums' must map file names to sha256 strings")
  stage = meta.get("stage")
  recorded = {"content": "stage1", "new_format": "base"}.get(stage)
  if recorded is not None:
    ref = meta.get(recorded)
    _expect(isinstance(ref, dict) and isinstance(ref.get("path"), str)
            and isinstance(ref.get("fingerprint"), str), path,
            f"'{recorded}' must be an object with 'path' and 'fingerprint'")
  if stage == "content":
    _expect(isinstance(meta.get("modality"), str), path, "'modality' must be a string")
    _expect(isinstance(meta.get("feature"), dict) and isinstance(meta["feature"].get("kind"), str),
            path, "'feature' must be an object with a 'kind'")
    _expect(isinstance(meta.get("encoder", {}), dict), path, "'encoder' must be an object")


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
  verify_checksums(workdir, read_meta(workdir))
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


def config_from_meta(cls, meta: dict, workdir: pathlib.Path | None = None):
  """The run config a model.json records; a config of the wrong shape is a CheckpointError."""
  try:
    return config_lib.from_dict(cls, meta["config"])
  except (TypeError, ValueError, KeyError, AttributeError) as err:
    where = pathlib.Path(workdir) / MODEL_JSON if workdir is not None else MODEL_JSON
    raise CheckpointError(f"{where} is corrupt or not an emojax model.json: its 'config' is not a "
                          f"{cls.__name__} ({type(err).__name__}: {str(err)[:200]})") from err
