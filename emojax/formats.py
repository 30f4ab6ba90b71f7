"""Label formats: the ways emotion is written down, and which of their variables mean the same thing.

A format is a declaration — name, ordered variables, kind (regression, single-label classes,
multi-label) and canonical range — kept in one registry. Every variable carries a *concept*
(by default its own name); variables of different formats that share a concept form an
equivalence class whose head rows the soft-sharing loss pulls toward one direction. Valence and
joy are different concepts on purpose (docs/method.md). Adding a format is one `register_format` call;
`head_layout` stacks the head rows of any list of formats into one bank and compiles the
equivalence classes into the int array of index pairs the loss consumes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

import numpy as np

REGRESSION = "regression"
CLASSES = "classes"  # single label: one-hot in, softmax logits out
MULTILABEL = "multilabel"  # any subset: 0/1 vector in, sigmoid logits out
KINDS = (REGRESSION, CLASSES, MULTILABEL)


@dataclasses.dataclass(frozen=True)
class LabelFormat:
  name: str
  variables: tuple[str, ...]
  kind: str
  low: float = 0.0  # canonical range; classes and multi-label are 0/1
  high: float = 1.0
  concepts: tuple[str, ...] = ()  # one per variable; defaults to the variable names

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"format {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
    if len(set(self.variables)) != len(self.variables) or not self.variables:
      raise ValueError(f"format {self.name!r}: variables must be non-empty and unique")
    if not self.concepts:
      object.__setattr__(self, "concepts", self.variables)
    if len(self.concepts) != len(self.variables):
      raise ValueError(f"format {self.name!r}: need one concept per variable")

  @property
  def size(self) -> int:
    return len(self.variables)

  @property
  def is_classes(self) -> bool:
    return self.kind != REGRESSION


FORMATS: dict[str, LabelFormat] = {}


def register_format(fmt: LabelFormat) -> LabelFormat:
  if fmt.name in FORMATS and FORMATS[fmt.name] != fmt:
    raise ValueError(f"format {fmt.name!r} is already registered with another declaration")
  FORMATS[fmt.name] = fmt
  return fmt


def get_format(name: str) -> LabelFormat:
  if name not in FORMATS:
    raise KeyError(f"unknown label format {name!r}; known formats: {sorted(FORMATS)}")
  return FORMATS[name]


# Dimensional formats live in [-1, 1], basic-emotion intensities in [0, 1] (docs/method.md).
register_format(LabelFormat("va", ("valence", "arousal"), REGRESSION, -1.0, 1.0))
register_format(LabelFormat("vad", ("valence", "arousal", "dominance"), REGRESSION, -1.0, 1.0))
BE5 = ("joy", "anger", "sadness", "fear", "disgust")
register_format(LabelFormat("be5", BE5, REGRESSION, 0.0, 1.0))
register_format(LabelFormat("be6", BE5 + ("surprise",), REGRESSION, 0.0, 1.0))
# Hinojosa et al. 2024's seven positive emotions (intensity 1-5 -> [0, 1]). None is tied to a basic
# emotion: their study rates them *as* distinct from happiness, and none of them is the same concept
# as joy (on the 501 Spanish words both studies rate, happiness correlates .62-.81 with them, the
# seven .65-.87 with one another: related, not one concept). Tying pleasure or contentment to joy
# would pull two directions together that the data keep apart; the space may still place them
# near joy. Three of them are also rated by Song 2026 (below), the same concept by name.
POS7 = ("awe", "relief", "excitement", "amusement", "pleasure", "contentment", "serenity")
register_format(LabelFormat("pos7", POS7, REGRESSION, 0.0, 1.0))
# Song 2026's ten emotions (1-5): BE6's six (happiness read as joy, as for every BE5 table),
# anxiety (its own concept: not fear), and contentment, amusement, serenity tied to pos7's rows:
# the same terms, and on the 470 concepts both studies rate (through the gloss) Song's amusement
# and serenity correlate best with Hinojosa's amusement (.51) and serenity (.46) of the seven.
EMO10 = BE5 + ("anxiety", "surprise", "contentment", "amusement", "serenity")
register_format(LabelFormat("emo10", EMO10, REGRESSION, 0.0, 1.0))
# ISEAR's seven single-label classes: the five basic emotions tie to BE5's rows.
register_format(LabelFormat("isear7", BE5 + ("shame", "guilt"), CLASSES))
# Ekman's six classes as GoEmotions uses them (its ekman_mapping.json): a comment may carry any
# subset, so multi-label; the six tie to BE6's rows (`emojax.new_format` learns it onto a space).
register_format(LabelFormat("ekman6", BE5 + ("surprise",), MULTILABEL))


@dataclasses.dataclass(frozen=True)
class HeadLayout:
  """Where each format's head rows sit in the stacked bank W (total_variables x embedding)."""

  formats: tuple[str, ...]
  offsets: Mapping[str, int]
  tie_pairs: np.ndarray  # int32 [P, 2], row indices into the bank
  tie_concepts: tuple[str, ...]  # concept of each pair, for reports
  declared: Mapping[str, LabelFormat]  # the formats themselves: a loaded model's may be unregistered

  def format(self, name: str) -> LabelFormat:
    return self.declared[name]

  @property
  def num_rows(self) -> int:
    last = self.formats[-1]
    return self.offsets[last] + self.format(last).size

  def rows(self, name: str) -> slice:
    if name not in self.offsets:
      raise KeyError(f"format {name!r} is not in this model; it has {list(self.formats)}")
    return slice(self.offsets[name], self.offsets[name] + self.format(name).size)

  def row_names(self) -> list[str]:
    return [f"{f}:{v}" for f in self.formats for v in self.format(f).variables]


def head_layout(format_names: Sequence[str | LabelFormat]) -> HeadLayout:
  """Stacks heads in the given order and compiles every equivalence class into index pairs.
  Formats are registered names or declarations (`LabelFormat`s, e.g. those a model.json declares)."""
  declared = {}
  for f in format_names:  # de-duplicate, keep order
    fmt = f if isinstance(f, LabelFormat) else get_format(f)
    declared.setdefault(fmt.name, fmt)
  names = tuple(declared)
  offsets, rows_of_concept, start = {}, {}, 0
  for name in names:
    fmt = declared[name]
    offsets[name] = start
    for i, concept in enumerate(fmt.concepts):
      rows_of_concept.setdefault(concept, []).append(start + i)
    start += fmt.size
  pairs, concepts = [], []
  for concept, rows in rows_of_concept.items():
    for i, j in itertools.combinations(rows, 2):
      pairs.append((i, j))
      concepts.append(concept)
  tie_pairs = np.asarray(pairs, dtype=np.int32).reshape(-1, 2)
  return HeadLayout(names, offsets, tie_pairs, tuple(concepts), declared)
