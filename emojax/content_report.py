"""Stage 2's results: per-condition aggregates over seeds, the paper's findings checked on our
data, and the markdown report (`results.md`) beside `results.json`.

Input is the list of per-run score records `train_content.run` collects (one per run, target and
seed: condition, table row, dataset part, format, per-variable Pearson r); output is the results
dict and its markdown. The paper's own numbers (METHOD.md) sit here, beside the tables that print
them next to ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from emojax import formats, image_data, report, splits
from emojax.content_plan import CONDITIONS, TRAINED, ZERO_SHOT_OF, mlt_groups

if TYPE_CHECKING:
  from emojax.train_content import ContentConfig

PAPER_WORDS = {"Bsl": .807, "Sng": .808, "Aug": .805, "Mlt": .824, "BsZ": .751, "SnZ": .670, "AuZ": .750}
# Texts (BERT-base, fine-tuned): per dataset; zero-shot cells from the sibling's encoder.
PAPER_TEXTS = {"emobank_vad": {"Bsl": .625, "Sng": .618, "Aug": .629, "BsZ": .371, "SnZ": .353, "AuZ": .395},
               "afftext_be5": {"Bsl": .747, "Sng": .749, "Aug": .758, "BsZ": .573, "SnZ": .387, "AuZ": .572}}
PAPER_TEXT_VARIABLES = {("emobank_vad", "Aug"): {"valence": .795, "arousal": .562, "dominance": .518}}
# Images (ImageNet ResNet-34, fine-tuned; AffectNet VA, not BASS): only Bsl and Aug were reported.
PAPER_IMAGES = {"Bsl": .559, "Aug": .576}


def _aggregate(records: list[dict], cond: str, part: str) -> dict:
  chosen = [r for r in records if r["condition"] == cond and r["part"] == part]
  rows = list(dict.fromkeys(r["row"] for r in chosen))
  seeds = sorted({r["seed"] for r in chosen})
  table = {}
  for row in rows:
    by_seed = {r["seed"]: r for r in chosen if r["row"] == row}
    fmt = formats.get_format(by_seed[seeds[0]]["format"])
    s_SxV = np.asarray([by_seed[s]["scores"] for s in seeds])
    names = fmt.variables if s_SxV.shape[1] == fmt.size else ("score",)
    table[row] = {"mean": report.mean_sd(s_SxV.mean(1)),
                  "variables": {v: report.mean_sd(s_SxV[:, i]) for i, v in enumerate(names)}}
  per_seed = [np.mean([np.mean(r["scores"]) for r in chosen if r["seed"] == s]) for s in seeds]
  return {"rows": table, "mean": report.mean_sd(per_seed) if per_seed else None}


def _subset_mean(records, cond: str, rows: set[str]) -> dict | None:
  chosen = [r for r in records if r["condition"] == cond and r["part"] == "test" and r["row"] in rows]
  seeds = sorted({r["seed"] for r in chosen})
  if not chosen:
    return None
  return report.mean_sd([np.mean([np.mean(r["scores"]) for r in chosen if r["seed"] == s]) for s in seeds])


def findings(means: dict) -> list[dict]:
  """The paper's three claims, checked on the condition means (test)."""
  get = lambda c: means.get(c, {}).get("mean") if means.get(c) else None
  checks = [("Sng within 0.01 of Bsl", "Sng", "Bsl", lambda d: abs(d) <= 0.01, .808 - .807),
            ("AuZ at least 0.05 above SnZ", "AuZ", "SnZ", lambda d: d >= 0.05, .750 - .670),
            ("AuZ within 0.02 of BsZ or better", "AuZ", "BsZ", lambda d: d >= -0.02, .750 - .751)]
  out = []
  for claim, a, b, holds, paper in checks:
    if get(a) is not None and get(b) is not None:
      diff = get(a) - get(b)
      out.append({"claim": claim, "difference": diff, "holds": bool(holds(diff)),
                  "paper_difference": paper, "compared": f"{a} - {b}"})
  return out


def _text_paper_differences(cfg: ContentConfig, checks: list[dict]) -> list[dict]:
  """Texts: the paper's differences from its text table (mean over the two datasets), not words'."""
  if cfg.modality != "texts":
    return checks
  paper = lambda c: np.mean([PAPER_TEXTS[n][c] for n in PAPER_TEXTS])
  for check in checks:
    a, b = check["compared"].split(" - ")
    check["paper_difference"] = float(paper(a) - paper(b))
  return checks


def content_results(cfg: ContentConfig, records, data, siblings, extra: dict) -> dict:
  extra = dict(extra)
  conds = [c for c in CONDITIONS if c in cfg.conditions]
  order = {name: i for i, name in enumerate(data)}  # rows in dataset order, "A→B" by (A, B)
  records = sorted(records, key=lambda r: (tuple(order[n] for n in r["row"].split("→")), r["seed"]))
  by_cond = {c: {p: _aggregate(records, c, p) for p in ("test", "dev")} for c in conds}
  means = {c: by_cond[c]["test"]["mean"] for c in conds}
  cells = {}
  for name in data:
    cells[name] = {}
    for c in conds:
      row = name
      if c in ZERO_SHOT_OF.values():  # the zero-shot cell of B comes from its first sibling
        row = f"{siblings[name][0][0]}→{name}" if siblings[name] else None
      stat = by_cond[c]["test"]["rows"].get(row) if row else None
      cells[name][c] = stat["mean"] if stat else None
  mlt_rows = {n for g in mlt_groups(list(data)) for n in g}
  nets = extra.pop("mapping_nets")  # by stage-1 direction name -> by content direction A→B
  extra["mapping_nets"] = {f"{a}→{b}": nets[f"{pair}:{data[a].format}->{data[b].format}"]
                           for a in data for b, pair in siblings[a]
                           if f"{pair}:{data[a].format}->{data[b].format}" in nets}
  return {
      "modality": cfg.modality, "seeds": list(cfg.seeds),
      "vectors": image_data.FEATURE_NAME if cfg.modality == "images" else cfg.vectors,
      "datasets": {n: {"format": d.format, "language": d.language, "sizes": d.sizes(),
                       "dropped": d.dropped} for n, d in data.items()},
      "conditions": by_cond, "means": means,
      "table": {"cells": cells, "mean": means,
                "mean_over_mlt_datasets": {c: _subset_mean(records, c, mlt_rows)
                                           for c in ("Bsl", "Sng", "Aug", "Mlt") if c in conds}},
      "findings": _text_paper_differences(cfg, findings({c: means[c] for c in conds if means[c]})),
      "paper": {"texts": PAPER_TEXTS, "images": PAPER_IMAGES}.get(cfg.modality, PAPER_WORDS), **extra}


def _fmt(stat) -> str:
  if not stat:
    return "–"
  return f"{stat['mean']:.3f} ± {stat['sd']:.3f}" if len(stat["values"]) > 1 else f"{stat['mean']:.3f}"


def content_markdown(results: dict) -> str:
  conds = list(results["conditions"])
  zs = [c for c in conds if c in ZERO_SHOT_OF.values()]
  fit = [c for c in conds if c in TRAINED]
  n = len(results["seeds"])
  lines = [f"# Stage 2, {results['modality']}: test Pearson r (mean ± sd over {n} seed(s): "
           f"{results['seeds']}), features "
           f"{'MiniLM-L6 (frozen)' if results['modality'] == 'texts' else results['vectors']} "
           f"({results['feature_dim']}-d)", "",
           f"Stage-1 checkpoint: `{results['stage1']['path']}` (fingerprint "
           f"`{results['stage1']['fingerprint'][:12]}`). Wall time of the whole experiment: "
           f"{results['timing']['wall_s']:.0f} s on {results['timing']['device']}.", "",
           "| dataset | lang | format | train/dev/test | " + " | ".join(conds) + " |",
           "|---" * (4 + len(conds)) + "|"]
  for name, info in results["datasets"].items():
    sizes = "/".join(str(info["sizes"][p]) for p in splits.PARTS)
    cells = [_fmt(results["table"]["cells"][name][c]) for c in conds]
    lines.append(f"| {name} | {info['language']} | {info['format']} | {sizes} | " + " | ".join(cells) + " |")
    if isinstance(results["paper"].get(name), dict):  # texts: the paper's numbers per dataset
      paper = results["paper"][name]
      lines.append("| paper (BERT-base, fine-tuned) | | | | " +
                   " | ".join(f"{paper[c]:.3f}" if c in paper else "–" for c in conds) + " |")
  lines.append("| **mean** | | | | " + " | ".join(f"**{_fmt(results['means'][c])}**" for c in conds) + " |")
  if results["modality"] == "images":
    lines.append("| paper (AffectNet VA, ResNet-34) | | | | " + " | ".join(
        f"{results['paper'][c]:.3f}" if c in results["paper"] else "–" for c in conds) + " |")
  elif all(isinstance(results["paper"].get(c), float) for c in conds):
    lines.append("| paper (their data, fastText) | | | | " +
                 " | ".join(f"{results['paper'][c]:.3f}" for c in conds) + " |")
  sub = results["table"]["mean_over_mlt_datasets"]
  if sub.get("Mlt"):
    lines.append("| mean over the Mlt datasets | | | | " +
                 " | ".join(_fmt(sub.get(c)) for c in conds) + " |")
  lines += ["", "Bsl/Sng/Aug means are over all datasets, Mlt over the datasets with a sibling, "
            "zero-shot means over all directions (table below); a dataset's zero-shot cell is "
            "predicted from its first sibling.", ""]
  if results["modality"] == "images":
    lines += ["BsZ/SnZ/AuZ are not run for images: zero-shot needs a sibling dataset of the same "
              "images in another label format (e.g. BE5), and BASS has only valence/arousal (US and "
              "Chinese raters, both format va). Mlt is one encoder trained on both rater populations.", ""]
  if results["findings"]:
    lines += ["## The paper's findings on our data", "", "| claim | ours | paper | holds |",
              "|---|---|---|---|"]
    lines += [f"| {f['claim']} ({f['compared']}) | {f['difference']:+.3f} | "
              f"{f['paper_difference']:+.3f} | {'yes' if f['holds'] else 'no'} |" for f in results["findings"]]
    lines.append("")
  if zs:
    directions = list(dict.fromkeys(r for c in zs for r in results["conditions"][c]["test"]["rows"]))
    lines += ["## Zero-shot directions (test r on B through A's encoder)", "",
              "| A→B | " + " | ".join(zs) + " | mapping net, labels A→B |", "|---" * (2 + len(zs)) + "|"]
    for d in directions:
      cells = [_fmt(results["conditions"][c]["test"]["rows"].get(d, {}).get("mean")) for c in zs]
      lines.append(f"| {d} | " + " | ".join(cells) + f" | {_fmt(results['mapping_nets'].get(d))} |")
    lines.append("")
  if "vader" in results and "n" in results["vader"]:
    v = results["vader"]
    lines += ["## Zero-shot VADER valence (English encoder, VAD head, valence row)", "",
              f"{v['n']} VADER entries not in the English training split ({v['excluded']} excluded, "
              f"{v['oov']} without a vector): " +
              ", ".join(f"{c} r = {_fmt(v[c])}" for c in ("Sng", "Aug") if c in v) +
              (f"; exported encoder r = {v['exported']['mean']:.3f}" if "exported" in v else "") +
              ".", ""]
  for title, group, key in (("Per variable (test)", fit, "dataset"), ("Zero-shot per variable (test)", zs, "A→B")):
    if not group:
      continue
    lines += [f"## {title}", "", f"| {key} | variable | " + " | ".join(group) + " |",
              "|---" * (2 + len(group)) + "|"]
    rows = list(dict.fromkeys(r for c in group for r in results["conditions"][c]["test"]["rows"]))
    for row in rows:
      first = next(results["conditions"][c]["test"]["rows"][row] for c in group
                   if row in results["conditions"][c]["test"]["rows"])
      for var in first["variables"]:
        cells = [_fmt(results["conditions"][c]["test"]["rows"].get(row, {}).get("variables", {}).get(var))
                 for c in group]
        lines.append(f"| {row} | {var} | " + " | ".join(cells) + " |")
        paper = [PAPER_TEXT_VARIABLES.get((row, c), {}).get(var) for c in group]
        if results["modality"] == "texts" and any(v is not None for v in paper):
          lines.append(f"| {row} | {var}, paper | " + " | ".join(
              "–" if v is None else f"{v:.3f}" for v in paper) + " |")
    lines.append("")
  reasons = list(dict.fromkeys(r for info in results["datasets"].values() for r in info["dropped"]))
  titles = {"oov": "out of vocabulary", "gloss_in_sibling_train": "gloss in a sibling's training split"}
  lines += ["## Items per dataset and what was dropped (train/dev/test)", "",
            "| " + " | ".join(["dataset", "kept", *(titles.get(r, r) for r in reasons)]) + " |",
            "|---" * (2 + len(reasons)) + "|"]
  for name, info in results["datasets"].items():
    tri = lambda d: "/".join(str(d[p]) for p in splits.PARTS)
    lines.append("| " + " | ".join([name, tri(info["sizes"]), *(tri(info["dropped"].get(
        r, dict.fromkeys(splits.PARTS, 0))) for r in reasons)]) + " |")
  lines += ["", "Dev means: " + ", ".join(f"{c} {_fmt(results['conditions'][c]['dev']['mean'])}"
                                          for c in fit if results['conditions'][c]['dev']['mean']), ""]
  t = results["timing"]
  lines += ["## Timing", "", "| phase | seconds |", "|---|---|"]
  lines += [f"| {k} | {v:.1f} |" for k, v in t["phases"].items()]
  lines += [f"| **total** | **{t['wall_s']:.1f}** |", "",
            f"{t['runs']} encoders trained in {t['groups']} compiled group(s) of "
            f"{', '.join(str(g) for g in t['group_sizes'])} runs.", ""]
  return "\n".join(lines)
