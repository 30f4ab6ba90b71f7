"""Stage 2's plan: which encoders to train (runs), what each is scored on (targets), and how the
runs are grouped into compiled calls.

The paper's seven conditions are a vocabulary here, not code paths: Bsl, Sng, Aug and Mlt
train an encoder (a `Run`: condition, dataset(s), seed); BsZ, SnZ and AuZ are the zero-shot uses of
a Bsl, Sng or Aug encoder on a sibling dataset (the same items in another label format, linked by
a stage-1 mapping pair), i.e. extra `Target`s of those runs. `plan_groups` partitions the runs
into few groups of similar epoch length, each trained as one vmapped, compiled epoch function by
`train_content`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from emojax import content_data, datasets
from emojax.conditions import CONDITIONS, TRAINED, ZERO_SHOT_OF  # noqa: F401 (the plan's vocabulary)

if TYPE_CHECKING:
  from emojax.run_configs import ContentConfig


@dataclasses.dataclass(frozen=True)
class Run:
  """One encoder to train: a condition on one dataset (several for Mlt) with one seed."""

  condition: str
  datasets: tuple[str, ...]
  seed: int
  # Datasets that only add training items (`ContentConfig.mlt_with`): not scored, not in the name
  extra: tuple[str, ...] = ()

  @property
  def name(self) -> str:
    return f"{self.condition}/{'+'.join(self.datasets)}"

  @property
  def trains_on(self) -> tuple[str, ...]:
    return self.datasets + self.extra


@dataclasses.dataclass(frozen=True)
class Target:
  """An evaluation of a run: its predictions on one dataset part through a head (or own output)."""

  kind: str  # "fit" (a training dataset), "zero" (sibling via head B), "chain" (Bsl output on B)
  dataset: str
  part: str
  fmt: str  # format whose head/variables produce the prediction


def siblings_of(names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
  """dataset A -> [(sibling B, mapping pair)] in declaration order of the mapping pairs."""
  out = {n: [] for n in names}
  for pair in datasets.sibling_pairs(names):
    out[pair.a].append((pair.b, pair.name))
    out[pair.b].append((pair.a, pair.name))
  return out


def plan_runs(cfg: ContentConfig, data: dict[str, content_data.ContentData]) -> list[Run]:
  """Encoders to train: a zero-shot condition alone (e.g. conditions=SnZ) trains the encoders of
  datasets with a sibling only; Mlt trains one encoder per sibling group, each also on the
  `cfg.mlt_with` datasets (which get no encoder of their own)."""
  names = [n for n in data if n not in cfg.mlt_with]
  siblings = siblings_of(names)
  runs = []
  for seed in cfg.seeds:
    for cond in ("Bsl", "Sng", "Aug"):
      if cond in cfg.conditions:
        runs += [Run(cond, (n,), seed) for n in names]
      elif ZERO_SHOT_OF[cond] in cfg.conditions:
        runs += [Run(cond, (n,), seed) for n in names if siblings[n]]
    if "Mlt" in cfg.conditions:
      runs += [Run("Mlt", group, seed, tuple(cfg.mlt_with)) for group in mlt_groups(names)]
  return runs


def mlt_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
  """Datasets one Mlt encoder trains on: sibling groups, plus declared groups of one format rated
  by several populations (BASS US + China), which no mapping pair links."""
  extra = [tuple(n for n in names if n in g) for g in datasets.rater_groups()]
  return datasets.sibling_groups(names) + [g for g in extra if len(g) > 1]


def targets_of(run: Run, siblings, fmt: dict[str, str]) -> list[Target]:
  """Dev and test of each training dataset; test of each sibling for the zero-shot conditions."""
  a = run.datasets[0]
  out = [Target("fit", n, part, fmt[n]) for n in run.datasets for part in ("dev", "test")]
  if run.condition in ("Sng", "Aug"):
    out += [Target("zero", b, "test", fmt[b]) for b, _ in siblings[a]]
  if run.condition == "Bsl":
    out += [Target("chain", b, "test", fmt[a]) for b, _ in siblings[a]]
  return out


def plan_groups(steps_R: Sequence[int], max_groups: int, multiple: int = 1) -> list[list[int]]:
  """Partition of runs into <= max_groups groups of similar epoch length minimising the padded
  work Σ_g (|g| rounded up to `multiple`) × max steps in g (exact DP over runs sorted by steps)."""
  order = sorted(range(len(steps_R)), key=lambda r: steps_R[r])
  s = [steps_R[r] for r in order]
  n = len(s)
  cost = lambda i, j: math.ceil((j - i) / multiple) * multiple * s[j - 1]  # runs order[i:j]
  best = {(0, 0): (0, [])}
  for g in range(1, max_groups + 1):
    for j in range(1, n + 1):
      options = [(best[(g - 1, i)][0] + cost(i, j), best[(g - 1, i)][1] + [(i, j)])
                 for i in range(j) if (g - 1, i) in best]
      if options:
        best[(g, j)] = min(options, key=lambda o: o[0])
  _, cuts = min((best[(g, n)] for g in range(1, max_groups + 1) if (g, n) in best), key=lambda o: o[0])
  return [[order[k] for k in range(i, j)] for i, j in cuts]
