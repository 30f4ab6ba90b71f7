"""Results of a run as JSON and as a Markdown table: mean and spread over seeds, per direction.

`mapping_results` turns per-seed scores (codec and per-direction baselines) into one dict:
for every direction the mean over variables (Pearson r; accuracy for class targets) as
mean ± sd over seeds, the per-variable scores, and the overall means; plus the cosine of every
tied pair of head rows. `write` puts `results.json` and `results.md` into the workdir.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from emojax import formats, losses


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


def _fmt(stat: dict) -> str:
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
