"""Results of every run as JSON and Markdown: the one place that aggregates scores over seeds and
renders results tables.

Trainers hand over their per-seed (or per-run) scores and get back a results dict, then call
`write` with it and its markdown; nothing here trains or reads a model. Stage 1:
`mapping_results`/`mapping_markdown` (per direction the mean over variables — Pearson r, accuracy
for class targets — as mean ± sd over seeds, per-variable scores, overall means, the cosine of
every tied pair of head rows). Stage 2 on frozen features: `content_results`/`content_markdown`
(per condition and dataset, the paper's findings checked on our data). Full fine-tuning:
`text_finetune_*` and `image_finetune_*`. New label formats: `new_format_markdown`. The
launchers' closing lines (`*_summary`) and the pipeline's summary are rendered here too; the
paper's numbers printed beside ours come from `emojax.paper`.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from emojax import formats, image_data, losses, paper, splits
from emojax.conditions import CONDITIONS, TRAINED, ZERO_SHOT_OF
from emojax.encoders import sentence_encoders


# ------------------------------------------------------------------------------------------ stage 1

def mean_sd(values) -> dict:
  """Mean and sample standard deviation (0 for one value) of per-seed scores, with the values."""
  values = np.asarray(values, np.float64)
  return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
          "values": [float(v) for v in values]}


def _directions_table(per_seed: list[dict], names: list[str], part: str) -> dict:
  table = {}
  for name in names:
    per_var = np.stack([np.asarray(r[part][name]) for r in per_seed])  # [S, V]
    target = formats.get_format(name.split("->")[1])
    variables = target.variables if per_var.shape[1] == target.size else ("score",)
    table[name] = {"mean": mean_sd(per_var.mean(1)),
                   "variables": {v: mean_sd(per_var[:, i]) for i, v in enumerate(variables)}}
  overall = [np.mean([np.mean(r[part][n]) for n in names]) for r in per_seed]
  return {"directions": table, "mean": mean_sd(overall)}


def tie_cosines(runs: list[dict], layout: formats.HeadLayout) -> dict:
  names = layout.row_names()
  out = {}
  for k, (i, j) in enumerate(layout.tie_pairs):
    cos = [float(losses.cosine_rows(np.asarray(r["params"]["bank"]), layout.tie_pairs[k:k + 1])[0])
           for r in runs]
    out[f"{names[i]} ~ {names[j]}"] = mean_sd(cos)
  return out


def mapping_results(cfg, directions, runs: list[dict], baseline: list[dict] | None) -> dict:
  names = [d.name for d in directions]
  pairs = [d.pair for d in directions[::2]]
  layout = formats.head_layout([f for d in directions[::2] for f in (d.source, d.target)])
  parts = ("test", "dev", "test_unconditioned") if "test_unconditioned" in runs[0] else ("test", "dev")
  results = {"seeds": list(cfg.seeds), "pairs": pairs,
             "codec": {p: _directions_table(runs, names, p) for p in parts},
             "tie_cosines": tie_cosines(runs, layout)}
  if baseline is not None:
    results["baseline"] = {p: _directions_table(baseline, names, p) for p in ("test", "dev")}
  return results


def table_head(*columns: str) -> list[str]:
  """The header and separator lines of a markdown table."""
  return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _fmt(stat: dict | None) -> str:
  """mean ± sd over seeds (the mean alone for one seed); "–" for a cell that was not run."""
  if not stat:
    return "–"
  return f"{stat['mean']:.3f} ± {stat['sd']:.3f}" if len(stat["values"]) > 1 else f"{stat['mean']:.3f}"


def mapping_markdown(results: dict) -> str:
  n = len(results["seeds"])
  has_base = "baseline" in results
  lines = [f"# Stage 1: emotion codec — test Pearson r (mean ± sd over {n} seed(s): {results['seeds']})", ""]
  if "test_unconditioned" in results["codec"]:
    lines += ["The codec was trained with dataset conditioning; the codec column is scored with each "
              "test item's dataset named, the last column without (what `map_labels` gives by default).", ""]
  lines += [
           "| direction | codec | per-direction baseline |" if has_base else "| direction | codec |",
           "|---|---|---|" if has_base else "|---|---|"]
  uncond = results["codec"].get("test_unconditioned")
  if uncond:
    lines[-2] += " codec, unconditioned |"
    lines[-1] += "---|"
  codec_test = results["codec"]["test"]
  base_test = results["baseline"]["test"] if has_base else None
  for name, row in codec_test["directions"].items():
    cells = [name, _fmt(row["mean"])] + ([_fmt(base_test["directions"][name]["mean"])] if has_base else [])
    cells += [_fmt(uncond["directions"][name]["mean"])] if uncond else []
    lines.append("| " + " | ".join(cells) + " |")
  cells = ["**mean**", f"**{_fmt(codec_test['mean'])}**"] + (
      [f"**{_fmt(base_test['mean'])}**"] if has_base else [])
  cells += [f"**{_fmt(uncond['mean'])}**"] if uncond else []
  lines += ["| " + " | ".join(cells) + " |", "",
            f"Dev mean: codec {_fmt(results['codec']['dev']['mean'])}" +
            (f", baseline {_fmt(results['baseline']['dev']['mean'])}" if has_base else ""), "",
            "## Per variable (test)", "", "| direction | variable | codec | baseline |" if has_base
            else "| direction | variable | codec |", "|---|---|---|---|" if has_base else "|---|---|---|"]
  for name, row in codec_test["directions"].items():
    for var, stat in row["variables"].items():
      cells = [name, var, _fmt(stat)] + (
          [_fmt(base_test["directions"][name]["variables"][var])] if has_base else [])
      lines.append("| " + " | ".join(cells) + " |")
  lines += ["", "## Cosine of tied head rows", "", "| tied pair | cosine |", "|---|---|"]
  lines += [f"| {k} | {_fmt(v)} |" for k, v in results["tie_cosines"].items()]
  return "\n".join(lines) + "\n"


def write(workdir: pathlib.Path, results: dict, markdown: str) -> None:
  (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
  (workdir / "results.md").write_text(markdown)



# ------------------------------------------------------------------------ stage 2, frozen features

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
    table[row] = {"mean": mean_sd(s_SxV.mean(1)),
                  "variables": {v: mean_sd(s_SxV[:, i]) for i, v in enumerate(names)}}
  per_seed = [np.mean([np.mean(r["scores"]) for r in chosen if r["seed"] == s]) for s in seeds]
  return {"rows": table, "mean": mean_sd(per_seed) if per_seed else None}


def _subset_mean(records, cond: str, rows: set[str]) -> dict | None:
  chosen = [r for r in records if r["condition"] == cond and r["part"] == "test" and r["row"] in rows]
  seeds = sorted({r["seed"] for r in chosen})
  if not chosen:
    return None
  return mean_sd([np.mean([np.mean(r["scores"]) for r in chosen if r["seed"] == s]) for s in seeds])


def findings(means: dict) -> list[dict]:
  """The paper's three claims, checked on the condition means (test)."""
  get = lambda c: means.get(c, {}).get("mean") if means.get(c) else None
  out = []
  for claim, a, b, holds in paper.FINDINGS:
    if get(a) is not None and get(b) is not None:
      diff = get(a) - get(b)
      out.append({"claim": claim, "difference": diff, "holds": bool(holds(diff)),
                  "paper_difference": paper.WORDS[a] - paper.WORDS[b], "compared": f"{a} - {b}"})
  return out


def _text_paper_differences(cfg, checks: list[dict]) -> list[dict]:
  """Texts: the paper's differences from its text table (mean over the two datasets), not words'."""
  if cfg.modality != "texts":
    return checks
  texts = lambda c: np.mean([paper.TEXTS[n][c] for n in paper.TEXTS])
  for check in checks:
    a, b = check["compared"].split(" - ")
    check["paper_difference"] = float(texts(a) - texts(b))
  return checks


def content_results(cfg, records, data, siblings, mlt_groups, extra: dict) -> dict:
  """Stage 2's results dict from the per-run score records of `train_content.run` (one per run,
  target and seed: condition, table row, dataset part, format, per-variable Pearson r); `cfg` is
  its ContentConfig, `data` its datasets by name, `mlt_groups` the datasets of each Mlt encoder."""
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
  mlt_rows = {n for g in mlt_groups for n in g}
  nets = extra.pop("mapping_nets")  # by stage-1 direction name -> by content direction A→B
  extra["mapping_nets"] = {f"{a}→{b}": nets[f"{pair}:{data[a].format}->{data[b].format}"]
                           for a in data for b, pair in siblings[a]
                           if f"{pair}:{data[a].format}->{data[b].format}" in nets}
  return {
      "modality": cfg.modality, "seeds": list(cfg.seeds),
      "vectors": {"images": image_data.FEATURE_NAME, "texts": cfg.text_encoder}.get(cfg.modality, cfg.vectors),
      "datasets": {n: {"format": d.format, "language": d.language, "sizes": d.sizes(),
                       "dropped": d.dropped} for n, d in data.items()},
      "conditions": by_cond, "means": means,
      "table": {"cells": cells, "mean": means,
                "mean_over_mlt_datasets": {c: _subset_mean(records, c, mlt_rows)
                                           for c in ("Bsl", "Sng", "Aug", "Mlt") if c in conds}},
      "findings": _text_paper_differences(cfg, findings({c: means[c] for c in conds if means[c]})),
      "paper": {"texts": paper.TEXTS, "images": paper.IMAGES}.get(cfg.modality, paper.WORDS), **extra}


def stage1_summary(stage1: dict) -> str:
  """", 11 pairs, dataset-conditioned (dropout 0.5), 10000 steps, seed 0": the stage-1 config a
  stage-2 table was trained against (results.json holds it whole); empty for older results."""
  cfg = stage1.get("config")
  if not cfg:
    return ""
  kind = (f"dataset-conditioned (dropout {cfg.get('condition_dropout')})"
          if cfg.get("condition_on_dataset") else "unconditioned (the paper's)")
  seed = f", seed {stage1['seed']}" if stage1.get("seed") is not None else ""
  return f"; {len(cfg.get('pairs', ()))} pairs, {kind}, {cfg.get('steps')} steps{seed}"


def text_features_name(results: dict) -> str:
  """The frozen text features of a stage-2 run (older runs, with "vectors" of words, used MiniLM)."""
  encoders = sentence_encoders.ENCODERS
  return f"{encoders.get(results['vectors'], encoders['minilm']).title} (frozen)"


def content_markdown(results: dict) -> str:
  conds = list(results["conditions"])
  zs = [c for c in conds if c in ZERO_SHOT_OF.values()]
  fit = [c for c in conds if c in TRAINED]
  n = len(results["seeds"])
  lines = [f"# Stage 2, {results['modality']}: test Pearson r (mean ± sd over {n} seed(s): "
           f"{results['seeds']}), features "
           f"{text_features_name(results) if results['modality'] == 'texts' else results['vectors']} "
           f"({results['feature_dim']}-d)", "",
           f"Stage-1 checkpoint: `{results['stage1']['path']}` (fingerprint "
           f"`{results['stage1']['fingerprint'][:12]}`{stage1_summary(results['stage1'])}). Wall "
           f"time of the whole experiment: {results['timing']['wall_s']:.0f} s on "
           f"{results['timing']['device']}.", "",
           "| dataset | lang | format | train/dev/test | " + " | ".join(conds) + " |",
           "|---" * (4 + len(conds)) + "|"]
  for name, info in results["datasets"].items():
    sizes = "/".join(str(info["sizes"][p]) for p in splits.PARTS)
    cells = [_fmt(results["table"]["cells"][name][c]) for c in conds]
    lines.append(f"| {name} | {info['language']} | {info['format']} | {sizes} | " + " | ".join(cells) + " |")
    if isinstance(results["paper"].get(name), dict):  # texts: the paper's numbers per dataset
      quoted = results["paper"][name]
      lines.append("| paper (BERT-base, fine-tuned) | | | | " +
                   " | ".join(f"{quoted[c]:.3f}" if c in quoted else "–" for c in conds) + " |")
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
  if results.get("mlt_with"):
    lines += ["The Mlt encoders were also trained on (training items only: no row, not in dev "
              "selection): " + ", ".join(f"{n} ({info['format']}, {info['language']}, "
                                         f"{info['sizes']['train']})"
                                         for n, info in results["mlt_with"].items()) + ".", ""]
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
        quoted = [paper.TEXT_VARIABLES.get((row, c), {}).get(var) for c in group]
        if results["modality"] == "texts" and any(v is not None for v in quoted):
          lines.append(f"| {row} | {var}, paper | " + " | ".join(
              "–" if v is None else f"{v:.3f}" for v in quoted) + " |")
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


# ----------------------------------------------------------------------------- full fine-tuning

def _run_length(cfg: dict) -> str:
  """How long a recorded fine-tuning config trains: "300 steps" or "10 epochs"."""
  return f"{cfg['max_steps']} steps" if cfg["max_steps"] else f"{cfg['epochs']} epochs"


def text_finetune_table(records: list[dict], datasets) -> dict:
  """{dataset: {condition or zero-shot condition: mean_sd of the test r (mean over variables)}}."""
  cells: dict[str, dict[str, list[float]]] = {}
  for rec in records:
    cells.setdefault(rec["dataset"], {}).setdefault(rec["condition"], []).append(float(np.mean(rec["test"])))
    for b, (zs, r) in rec["zero_shot"].items():
      cells.setdefault(b, {}).setdefault(zs, []).append(float(np.mean(r)))
  return {name: {c: mean_sd(v) for c, v in cells[name].items()} for name in datasets if name in cells}


def text_finetune_markdown(results: dict) -> str:
  cfg = results["config"]
  cols = [c for c in CONDITIONS if any(c in row for row in results["table"].values())]
  lines = ["# Stage 2, texts: MiniLM-L6 fine-tuned into the frozen space", "",
           f"Test Pearson r (mean over the format's variables), mean ± sd over the seeds finished, n "
           f"(of {', '.join(map(str, cfg['seeds']))}); AdamW {cfg['learning_rate']}, batch {cfg['batch_size']}, "
           f"{_run_length(cfg)}, length {cfg['max_length']}, "
           f"{cfg['compute_dtype']}. Zero-shot cells of a dataset come from the other dataset's encoder.", "",
           *table_head("dataset", *cols)]
  for name, row in results["table"].items():
    lines.append(f"| {name} | " + " | ".join(
        f"{row[c]['mean']:.3f} ± {row[c]['sd']:.3f} (n={len(row[c]['values'])})" if c in row else "–"
        for c in cols) + " |")
    quoted = results["paper"].get(name, {})
    lines.append("| paper (BERT-base) | " + " | ".join(f"{quoted[c]:.3f}" if c in quoted else "–" for c in cols)
                 + " |")
  lines += ["", "| run | steps | s/step | best dev r | test r |", "|---|---|---|---|---|"]
  lines += [f"| {r['condition']} {r['dataset']} s{r['seed']} | {r['steps']} | {r['s_per_step']:.4f} | "
            f"{r['best_dev_r']:.3f} | {np.mean(r['test']):.3f} |" for r in results["runs"]]
  if "export" in results:
    lines += ["", f"Exported for `emojax.load`: {results['export']['encoder']['run']} "
                  f"(best dev r {results['export']['encoder']['best_dev']:.3f})."]
  return "\n".join(lines) + "\n"


def text_finetune_summary(results: dict) -> str:
  """One line per run: loss first -> last, s/step, best dev r, test r, zero-shot r."""
  return "\n".join(
      f"{r['condition']} {r['dataset']} seed {r['seed']}: loss {r['first_loss']:.4f} -> {r['last_loss']:.4f} "
      f"over {r['steps']} steps ({r['s_per_step']:.3f} s/step), best dev r {r['best_dev_r']:.3f}, test r "
      f"{np.mean(r['test']):.3f}" + "".join(f", {zs} on {b} {np.mean(v):.3f}" for b, (zs, v) in r["zero_shot"].items())
      for r in results["runs"])


def image_finetune_table(records: list[dict], conditions, datasets) -> dict:
  """{condition: {dataset: (mean, sd) of the test r (mean over variables) over seeds}, "mean": ...}."""
  out = {}
  for cond in conditions:
    per = {name: [float(np.mean(r["test"][name])) for r in records
                  if r["condition"] == cond and name in r["test"]] for name in datasets}
    per = {k: v for k, v in per.items() if v}
    if not per:
      continue
    seed_means = np.mean([v for v in per.values()], axis=0)  # mean over tables, per seed
    out[cond] = {**{k: _mean_sd_pair(v) for k, v in per.items()}, "mean": _mean_sd_pair(seed_means)}
  return out


def _mean_sd_pair(values) -> list[float]:
  stat = mean_sd(values)  # the sample sd, as in every other table
  return [stat["mean"], stat["sd"]]


def image_finetune_markdown(results: dict) -> str:
  cfg = results["config"]
  conds = list(results["table"])
  lines = ["# Stage 2, images: MobileNetV2 fine-tuned into the frozen space", "",
           f"Test Pearson r (mean of {', '.join(results['variables'])}), mean ± sd over seeds "
           f"{cfg['seeds']}; split {results['split']}; SGD {cfg['learning_rate']} momentum "
           f"{cfg['momentum']}, x{cfg['lr_decay']} every {cfg['lr_decay_epochs']} epochs, "
           f"{_run_length(cfg)}, image size {cfg['image_size']}.", "",
           *table_head("raters", *conds)]
  for row in list(cfg["datasets"]) + ["mean"]:
    cells = [results["table"][c].get(row) for c in conds]
    lines.append(f"| {row} | " + " | ".join(f"{m:.3f} ± {s:.3f}" if m is not None else "–"
                                             for m, s in (c or (None, None) for c in cells)) + " |")
  if "export" in results:
    lines += ["", f"Exported for `emojax.load`: {results['export']['encoder']['run']} "
                  f"(best dev r {results['export']['encoder']['best_dev']:.3f})."]
  return "\n".join(lines) + "\n"


def image_finetune_summary(results: dict) -> str:
  """One line per run: loss first -> last, s/step, best dev r, test r per rater table."""
  lines = [f"{rec['condition']} {'+'.join(rec['datasets'])} seed {rec['seed']}: loss {rec['first_loss']:.4f}"
           f" -> {rec['last_loss']:.4f} over {rec['steps']} steps ({rec['s_per_step']:.2f} s/step), best "
           f"dev r {rec['best_dev_r']:.3f}, test r "
           + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in rec["test"].items())
           for rec in results["runs"]]
  return "\n".join(lines)


def finetune_markdown(results: dict) -> str:
  """results.md of a fine-tuning workdir, text or image (an image config records `image_size`)."""
  if "image_size" in results["config"]:
    return image_finetune_markdown(results)
  return text_finetune_markdown(results)


# ------------------------------------------------------------------------------- new formats

def new_format_markdown(results: dict) -> str:
  n = len(results["seeds"])
  lines = [f"# New label formats learned onto a frozen space (mean ± sd over {n} seed(s): "
           f"{results['seeds']})", "",
           f"Base model: `{results['base']['path']}` (fingerprint {results['base']['fingerprint'][:12]}), "
           f"stage 1 `{results['stage1']['path']}`. Every base parameter bit-identical after "
           f"learning: {results['base_parameters_bit_identical']}.", "",
           "| dataset | format | metric | train/dev/test | new head (frozen space) | dedicated baseline "
           "| paper |", "|---|---|---|---|---|---|---|"]
  for name, r in results["datasets"].items():
    s = r["sizes"]
    quoted = f"{r['paper']['score']:.3f} ({r['paper']['what']})" if r["paper"] else "–"
    bsl = _fmt(r["baseline"]["test"]) if r["baseline"] else "–"
    lines.append(f"| {name} | {r['format']} | {r['metric']} | {s['train']}/{s['dev']}/{s['test']} "
                 f"| {_fmt(r['new_format']['test'])} | {bsl} | {quoted} |")
  lines += ["", "Dev scores (best epoch): " + "; ".join(
      f"{n} new head {_fmt(r['new_format']['dev'])}"
      + (f", baseline {_fmt(r['baseline']['dev'])}" if r["baseline"] else "")
      for n, r in results["datasets"].items()), ""]
  for name, r in results["datasets"].items():
    lines += [f"## {name}", "",
              f"Items left out: {r['dropped'] or 'none'}; items with the empty label set per part: "
              f"{r['empty_label_set']}; best epochs new head {r['new_format']['best_epoch']}"
              + (f", baseline {r['baseline']['best_epoch']}" if r["baseline"] else "")
              + f"; exported seed {r['exported_seed']}.", "",
              "| tied rows (exported seed) | cosine |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in r["tie_cosines"].items()]
    lines.append("")
    if r["test_f1_per_class"]:
      methods = list(r["test_f1_per_class"])
      lines += ["| test F1 per class | " + " | ".join(methods) + " | test items with the class |",
                "|---" * (len(methods) + 2) + "|"]
      for v in r["test_f1_per_class"][methods[0]]:
        lines.append(f"| {v} | " + " | ".join(_fmt(r["test_f1_per_class"][m][v]) for m in methods)
                     + f" | {r['class_counts']['test'][v]} |")
      lines.append("")
  for name, ex in results["examples"].items():
    targets = list(ex["targets"])
    header = [v for t in targets for v in (f"{t}:{x}" for x in ex["targets"][t])]
    lines += [f"## map_labels from {name} (one-hot of each class)", "",
              "| class | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for i, cls in enumerate(ex["classes"]):
      cells = [f"{v:.2f}" for t in targets for v in ex["map_labels"][t][i]]
      lines.append(f"| {cls} | " + " | ".join(cells) + " |")
    lines += ["", f"Round trip {name} -> {name}: {ex['round_trip_correct']}/{len(ex['classes'])} "
              "classes come back as themselves.", ""]
  t = results["timing"]
  lines.append(f"Wall time {t['wall_s']:.0f} s (" + ", ".join(
      f"{n}: features {v['features_s']:.0f} s, training {v['train_s']:.0f} s"
      for n, v in t["per_dataset"].items()) + f"), {t['device']}.")
  return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- launchers' closing lines

def mapping_summary(results: dict) -> str:
  """launch/mapping.py's closing line: test mean r of the codec and of the baselines."""
  codec_mean, base = results["codec"]["test"]["mean"], results.get("baseline")
  line = f"test mean r: codec {codec_mean['mean']:.3f} ± {codec_mean['sd']:.3f}"
  if base:
    line += f", per-direction baselines {base['test']['mean']['mean']:.3f} ± {base['test']['mean']['sd']:.3f}"
  return line


def content_summary(results: dict) -> str:
  """launch/content.py's closing lines for a frozen-feature run: test mean r per condition."""
  means = " ".join(f"{c} {s['mean']:.3f}" for c, s in results["means"].items() if s)
  return f"test mean r: {means}\nwall time: {results['timing']['wall_s']:.0f} s"


def new_format_summary(results: dict) -> str:
  """launch/new_format.py's closing lines: the test score of new head and baseline per dataset."""
  lines = []
  for name, r in results["datasets"].items():
    bsl = (f", baseline {r['baseline']['test']['mean']:.3f} ± {r['baseline']['test']['sd']:.3f}"
           if r["baseline"] else "")
    lines.append(f"{name} ({r['format']}) test {r['metric']}: new head "
                 f"{r['new_format']['test']['mean']:.3f} ± {r['new_format']['test']['sd']:.3f}{bsl}")
  return "\n".join(lines) + f"\nwall time: {results['timing']['wall_s']:.0f} s"


def pipeline_summary(mapping_dir: str | pathlib.Path, content_dir: str | pathlib.Path) -> str:
  """A few lines for the end of the one-command pipeline: stage-1 codec vs baselines, and the
  stage-2 test means per condition with the paper's three findings, from the two results.json."""
  mapping = json.loads((pathlib.Path(mapping_dir) / "results.json").read_text())
  content = json.loads((pathlib.Path(content_dir) / "results.json").read_text())
  line = f"stage 1 ({len(mapping['pairs'])} mapping datasets): codec test r {_fmt(mapping['codec']['test']['mean'])}"
  if "baseline" in mapping:
    line += f", per-direction baselines {_fmt(mapping['baseline']['test']['mean'])}"
  lines = ["== summary ==", line,
           f"stage 2, {content['modality']} ({len(content['datasets'])} datasets, seeds "
           f"{content['seeds']}), test mean r per condition:",
           "  " + ", ".join(f"{c} {_fmt(s)}" for c, s in content["means"].items() if s)]
  for f in content.get("findings", []):
    lines.append(f"  paper's finding '{f['claim']}': {f['compared']} = {f['difference']:+.3f} "
                 f"(paper {f['paper_difference']:+.3f}) -> {'holds' if f['holds'] else 'does not hold'}")
  if content.get("vader", {}).get("exported"):
    lines.append(f"  VADER valence vs the exported encoder's valence: r = "
                 f"{content['vader']['exported']['mean']:.3f} on {content['vader']['n']} words")
  lines.append(f"details: {pathlib.Path(mapping_dir) / 'results.md'}, {pathlib.Path(content_dir) / 'results.md'}")
  return "\n".join(lines)


# ------------------------------------------------------------ leave-one-population-out transfer

def _subset_stat(rows: dict, names, n_seeds: int) -> dict | None:
  """mean ± sd over seeds of the mean over `names` of each held-out pair's two-direction mean."""
  per_seed = [np.mean([rows[n]["pair"]["values"][s] for n in names]) for s in range(n_seeds)]
  return mean_sd(per_seed) if names else None


def transfer_markdown(results: dict) -> str:
  """`emojax.transfer`'s tables: per held-out pair and direction, test r of its items mapped by a
  codec trained without it (unconditioned) for each variant, and by per-direction nets trained on
  the other pairs; the mean over pairs (and over the pairs a baseline exists for); in-population r."""
  variants, held = list(results["variants"]), results["held_out"]
  n_seeds = len(results["seeds"])
  base = results.get("baselines")
  cols = [*(f"v{i + 1}" for i in range(len(variants))), *(["per-direction nets"] if base else [])]
  lines = ["# Leave-one-population-out transfer", "",
           f"Test items of each held-out pair mapped both ways by a codec trained on the other pairs"
           f"{' that share no dataset with it' if results.get('strict') else ''} (no dataset named); Pearson r averaged over the target's variables, mean ± sd over seeds "
           f"{results['seeds']}. Variants:", ""]
  lines += [f"- v{i + 1}: `{v}`" for i, v in enumerate(variants)] + [""]
  lines += table_head("held-out pair", "direction", *cols)
  for name in held:
    first = results["variants"][variants[0]]["lopo"]["pairs"][name]
    directions = [d for d in first if d not in ("pair", "skipped")]
    for d in directions + ["pair"]:
      cells = [_fmt(results["variants"][v]["lopo"]["pairs"][name].get(d)) for v in variants]
      if base:
        cells.append(_fmt(base["pairs"][name].get(d)))
      label = d.split(":", 1)[1] if d != "pair" else "**both**"
      lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
  with_base = [n for n in held if base and "skipped" not in base["pairs"][n]]
  mean_all = [_fmt(results["variants"][v]["lopo"]["mean"]) for v in variants]
  n_mapped = results["variants"][variants[0]]["lopo"]["n_pairs"]
  lines.append(f"| **mean over {n_mapped} pairs** | | " + " | ".join(mean_all + (["–"] if base else [])) + " |")
  if base:
    sub = [_fmt(_subset_stat(results["variants"][v]["lopo"]["pairs"], with_base, n_seeds)) for v in variants]
    lines.append(f"| **mean over the {len(with_base)} pairs with a baseline** | | "
                 + " | ".join(sub + [_fmt(base["mean"])]) + " |")
  if any("in_population" in results["variants"][v] for v in variants):
    lines += ["", "In-population test r (trained on every pair; mean over all directions):", "",
              *table_head("variant", "test r (as trained)", "test r (unconditioned)")]
    for i, v in enumerate(variants):
      ip = results["variants"][v].get("in_population")
      if ip:
        lines.append(f"| v{i + 1} | {_fmt(ip['test'])} | {_fmt(ip['test_unconditioned'])} |")
  unmapped = {n: r["skipped"] for n, r in results["variants"][variants[0]]["lopo"]["pairs"].items()
              if "skipped" in r}
  if unmapped:
    lines += ["", "Not mapped (a format of the pair is in no training pair): "
              + "; ".join(f"{n} ({why})" for n, why in unmapped.items()) + "."]
  if base:
    skipped = [n for n in held if n not in with_base and n not in unmapped]
    if skipped:
      lines += ["", f"No per-direction baseline for {', '.join(skipped)}: no other pair is rated in "
                    f"their two formats (only the shared space maps them)."]
  return "\n".join(lines) + "\n"


def transfer_summary(results: dict) -> str:
  """launch/transfer.py's closing lines: LOPO mean per variant (and the baselines')."""
  lines = [f"LOPO mean r over {len(results['held_out'])} held-out pairs:"]
  for v, entry in results["variants"].items():
    ip = entry.get("in_population")
    lines.append(f"  {v}: {_fmt(entry['lopo']['mean'])}"
                 + (f" (in-population test r {_fmt(ip['test'])})" if ip else ""))
  if results.get("baselines"):
    lines.append(f"  per-direction nets on the other pairs: {_fmt(results['baselines']['mean'])} "
                 f"(over the pairs they exist for)")
  return "\n".join(lines)


def new_format_codec_markdown(results: dict) -> str:
  """`emojax.transfer.new_format_run`: per direction of the new format's pairs, test r of the format
  learned onto a frozen codec that never saw it, and of per-direction nets trained on those pairs."""
  base = results.get("baseline", {})
  lines = [f"# New format `{results['format']}` onto a frozen codec", "",
           f"Frozen codec trained on {', '.join(results['frozen_pairs'])}; new head + label encoder "
           f"learned on the format's pairs; test Pearson r (mean over the target's variables), mean ± sd "
           f"over seeds {results['seeds']}.", "",
           *table_head("direction", "new format on the frozen codec", "per-direction nets")]
  for name, stat in results["new_format"].items():
    lines.append(f"| {name} | {_fmt(stat)} | {_fmt(base.get(name))} |")
  return "\n".join(lines) + "\n"
