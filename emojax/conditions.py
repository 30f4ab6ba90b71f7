"""The seven stage-2 conditions of the paper, named once; trainers and reports take subsets by name.

Bsl, Sng, Aug and Mlt train an encoder: Bsl with its own output layer, Sng into the frozen head of
its dataset's format, Aug also through the head of a second format (labels made by stage 1), Mlt on
several datasets at once. BsZ, SnZ and AuZ are zero-shot uses of a Bsl, Sng or Aug encoder on a
sibling dataset (the same items in another label format). A module that runs only some of them
(full fine-tuning has no Mlt) declares `subset(...)`, which keeps this order and rejects names
that are not conditions.
"""

from __future__ import annotations

CONDITIONS = ("Bsl", "Sng", "Aug", "Mlt", "BsZ", "SnZ", "AuZ")
ZERO_SHOT_OF = {"Bsl": "BsZ", "Sng": "SnZ", "Aug": "AuZ"}  # trained condition -> its zero-shot use


def subset(*names: str) -> tuple[str, ...]:
  """The named conditions in the canonical order; a name that is not a condition is an error."""
  unknown = [n for n in names if n not in CONDITIONS]
  if unknown:
    raise ValueError(f"unknown condition(s) {unknown}; the conditions are {CONDITIONS}")
  return tuple(c for c in CONDITIONS if c in names)


TRAINED = subset("Bsl", "Sng", "Aug", "Mlt")  # the conditions that train an encoder
SINGLE_DATASET = subset("Bsl", "Sng", "Aug")  # trained on one dataset, each with a zero-shot use
