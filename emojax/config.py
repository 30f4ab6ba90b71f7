"""Run configurations as frozen dataclasses: overridden from the command line, dumped as JSON.

Every run has exactly one config (seeds, steps, batch sizes, loss weights — never constants in
code), kept as a file per experiment (`configs/*.py`, each a `get_config()`; `from_file` reads
one). `override` applies `name=value` strings, dotted for nested configs (`codec.dropout=0.1`,
`seeds=0,1,2`), parsing each value by the field's declared type and rejecting unknown names with
the list of known ones. `to_dict`/`from_dict` round-trip a config through `config.json`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pathlib
import typing
from collections.abc import Sequence
from typing import Any


def _parse(text: str, annotation: Any, name: str):
  origin = typing.get_origin(annotation)
  if origin is tuple:
    item_type = typing.get_args(annotation)[0]
    return tuple(_parse(t.strip(), item_type, name) for t in text.split(",") if t.strip())
  if annotation is bool:
    if text.lower() in ("1", "true", "yes"):
      return True
    if text.lower() in ("0", "false", "no"):
      return False
    raise ValueError(f"config {name}: expected true/false, got {text!r}")
  if annotation in (int, float, str):
    try:
      return annotation(text)
    except ValueError:
      raise ValueError(f"config {name}: expected {annotation.__name__}, got {text!r}") from None
  if typing.get_origin(annotation) is typing.Union:  # Optional[str] and the like
    return None if text.lower() == "none" else _parse(text, typing.get_args(annotation)[0], name)
  raise TypeError(f"config {name}: cannot parse type {annotation}")


def _field_types(cfg) -> dict[str, Any]:
  return typing.get_type_hints(type(cfg))


def override(cfg, assignments: Sequence[str]):
  """Returns a copy of `cfg` with `a.b=value` assignments applied."""
  for assignment in assignments:
    name, sep, text = assignment.partition("=")
    if not sep:
      raise ValueError(f"config override {assignment!r} must look like name=value")
    cfg = _set(cfg, name.strip().lstrip("-").split("."), text.strip(), name)
  return cfg


def _set(cfg, path: list[str], text: str, full_name: str):
  types = _field_types(cfg)
  head = path[0]
  if head not in types:
    raise ValueError(f"unknown config field {full_name!r}; known: {sorted(types)}")
  if len(path) == 1:
    return dataclasses.replace(cfg, **{head: _parse(text, types[head], full_name)})
  return dataclasses.replace(cfg, **{head: _set(getattr(cfg, head), path[1:], text, full_name)})


def to_dict(cfg) -> dict:
  return dataclasses.asdict(cfg)


def from_dict(cls, data: dict):
  types = typing.get_type_hints(cls)
  kwargs = {}
  for name, value in data.items():
    if name not in types:
      raise ValueError(f"{cls.__name__}: unknown field {name!r} in saved config")
    annotation = types[name]
    if dataclasses.is_dataclass(annotation):
      value = from_dict(annotation, value)
    elif typing.get_origin(annotation) is tuple:
      value = tuple(value)
    kwargs[name] = value
  return cls(**kwargs)


def dump(cfg, path: pathlib.Path) -> None:
  path.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def load_file(path: str | pathlib.Path):
  """The module of an experiment's config file (e.g. configs/words.py), executed afresh."""
  path = pathlib.Path(path)
  if path.suffix != ".py" or not path.is_file():
    raise FileNotFoundError(f"config file {str(path)!r} not found (expected a .py file with get_config())")
  spec = importlib.util.spec_from_file_location(f"emojax_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not callable(getattr(module, "get_config", None)):
    raise ValueError(f"config file {path} has no get_config()")
  return module


def from_file(path: str | pathlib.Path, assignments: Sequence[str] = ()):
  """The config that the file's `get_config()` returns, with `name=value` assignments applied."""
  return override(load_file(path).get_config(), assignments)
