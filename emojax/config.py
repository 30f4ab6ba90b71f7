"""Run configurations as frozen dataclasses: overridden from the command line, dumped as JSON.

Every run has exactly one config (seeds, steps, batch sizes, loss weights — never constants in
code), kept as a file per experiment (`configs/*.py`, each a `get_config()`; `from_file` reads
one). `override` applies `name=value` strings, dotted for nested configs (`codec.dropout=0.1`,
`seeds=0,1,2`), parsing each value by the field's declared type and rejecting unknown names with
the list of known ones. `to_dict`/`from_dict` round-trip a config through `config.json`. Each
config class declares the allowed values of its fields once, next to it (`declare`: a `Range` per
field and cross-field checks), and `validate` checks a whole config, nested ones included, before a
run writes anything; what the user must change is a `ConfigError`, one line naming the field.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import pathlib
import typing
from collections.abc import Callable, Sequence
from typing import Any


class ConfigError(ValueError):
  """A setting the user must change (a value out of range, an unknown field, a workdir that holds
  another run): launchers print it as one line `error: ...` and exit 2, with no traceback."""


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
    raise ConfigError(f"config {name}: expected true/false, got {text!r}")
  if annotation in (int, float, str):
    try:
      return annotation(text)
    except ValueError:
      raise ConfigError(f"config {name}: expected {annotation.__name__}, got {text!r}") from None
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
      raise ConfigError(f"config override {assignment!r} must look like name=value")
    cfg = _set(cfg, name.strip().lstrip("-").split("."), text.strip(), name)
  return cfg


def _set(cfg, path: list[str], text: str, full_name: str):
  types = _field_types(cfg)
  head = path[0]
  if head not in types:
    raise ConfigError(f"unknown config field {full_name!r}; known: {sorted(types)}")
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
  """Writes `path` whole or not at all (a temporary file renamed over it)."""
  path = pathlib.Path(path)
  tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
  tmp.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
  os.replace(tmp, path)


def flat(data: dict, prefix: str = "") -> dict[str, Any]:
  """A config dict (`to_dict`, or a saved config.json) as dotted names -> JSON values."""
  out = {}
  for name, value in data.items():
    if isinstance(value, dict):
      out.update(flat(value, f"{prefix}{name}."))
    else:
      out[f"{prefix}{name}"] = list(value) if isinstance(value, tuple) else value
  return out


def show(value) -> str:
  """A value as a `name=value` override writes it (`seeds=0,1`, `codec.hidden=64,64`)."""
  if isinstance(value, (tuple, list)):
    return ",".join(show(v) for v in value)
  return str(value).lower() if isinstance(value, bool) else str(value)


# ------------------------------------------------------------------------- declared value ranges

@dataclasses.dataclass(frozen=True)
class Range:
  """The values a field takes: `ok(value)`, and what a message says the value must be."""

  ok: Callable[[Any], bool]
  says: str  # "a positive integer": "steps=0 must be a positive integer"
  plural: str = ""  # "positive integers", for `each`


def _integer(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE_INT = Range(lambda v: _integer(v) and v > 0, "a positive integer", "positive integers")
COUNT = Range(lambda v: _integer(v) and v >= 0, "0 or a positive integer", "non-negative integers")
POSITIVE = Range(lambda v: _number(v) and v > 0, "a positive number", "positive numbers")
NON_NEGATIVE = Range(lambda v: _number(v) and v >= 0, "a number >= 0", "numbers >= 0")
# Dropout rates: 1 would divide by zero (inverted dropout scales by 1 / (1 - rate)).
RATE = Range(lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)", "numbers in [0, 1)")
PROBABILITY = Range(lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]", "numbers in [0, 1]")


def one_of(*choices: str) -> Range:
  return Range(lambda v: v in choices, "one of " + ", ".join(choices))


def each(item: Range, *, non_empty: bool = False) -> Range:
  """A tuple whose every item is in `item` (and, with `non_empty`, at least one item)."""
  ok = lambda v: isinstance(v, (tuple, list)) and (bool(v) or not non_empty) and all(map(item.ok, v))
  return Range(ok, f"a {'non-empty ' if non_empty else ''}list of {item.plural}")


NAMES = Range(lambda v: isinstance(v, (tuple, list)) and bool(v) and all(isinstance(x, str) and x for x in v),
              "a non-empty list of names")
NAME_LIST = Range(lambda v: isinstance(v, (tuple, list)) and all(isinstance(x, str) and x for x in v),
                  "a list of names")
SEEDS = each(COUNT, non_empty=True)

_DECLARED: dict[type, tuple[dict[str, Range], tuple[Callable[[Any], str | None], ...]]] = {}


def declare(cls: type, ranges: dict[str, Range], checks: Sequence[Callable[[Any], str | None]] = ()) -> None:
  """Declares the allowed values of config class `cls`: a `Range` per field (fields left out
  take any value of their type), and `checks` across fields, each `cfg -> message or None`."""
  unknown = set(ranges) - {f.name for f in dataclasses.fields(cls)}
  if unknown:
    raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
  _DECLARED[cls] = (dict(ranges), tuple(checks))


def declared(cls: type) -> dict[str, Range]:
  """The `Range` per field that `declare` recorded for config class `cls` (empty if none)."""
  return dict(_DECLARED.get(cls, ({}, ()))[0])


def validate(cfg, prefix: str = "") -> None:
  """Checks every field of `cfg` and of its nested configs against what their classes declare;
  raises ConfigError naming the first field out of range, e.g. "steps=0 must be a positive
  integer"."""
  ranges, checks = _DECLARED.get(type(cfg), ({}, ()))
  for field in dataclasses.fields(cfg):
    value = getattr(cfg, field.name)
    if dataclasses.is_dataclass(value):
      validate(value, f"{prefix}{field.name}.")
    elif field.name in ranges and not ranges[field.name].ok(value):
      raise ConfigError(f"{prefix}{field.name}={show(value)} must be {ranges[field.name].says}")
  for check in checks:
    message = check(cfg)
    if message:
      raise ConfigError(message)


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
