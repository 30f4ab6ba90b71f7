"""Stage-1 ablation: what closes the gap between the shared codec and per-direction baselines.

  .venv/bin/python scripts/mapping_ablation.py [--seeds=0,1,2] [--out=checkpoints/ablation] [--pairs=a,b,...]

Runs launch/mapping.py once per variant (each with 3 seeds, same data and splits) and writes
<out>/ablation.md: test mean r of the codec (and, for conditioned models, without naming the
dataset), the per-direction baselines of the same run, and the wall time of each run.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAPER = ["condition_on_dataset=false"]
VARIANTS = {
    "paper": PAPER,
    "paper, proportional sampling": PAPER + ["sampling=proportional"],
    "paper, embedding-similarity weight 0.1": PAPER + ["weights.similarity=0.1"],
    "paper, no dropout": PAPER + ["codec.dropout=0.0"],
    "dataset conditioning": ["condition_on_dataset=true"],
    "dataset conditioning, similarity 0.1": ["condition_on_dataset=true", "weights.similarity=0.1"],
    "dataset conditioning, dropped 75%": ["condition_on_dataset=true", "condition_dropout=0.75"],
}


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--out", default=str(ROOT / "checkpoints" / "ablation"))
  p.add_argument("--only", default=None, help="variant names separated by ;")
  p.add_argument("--pairs", default="", help="mapping pairs, comma-separated (default: every bundled pair)")
  args = p.parse_args()
  out = pathlib.Path(args.out)
  rows = []
  names = args.only.split(";") if args.only else list(VARIANTS)
  for name in names:
    workdir = out / name.replace(" ", "_").replace(",", "")
    start = time.perf_counter()
    cmd = [sys.executable, str(ROOT / "launch" / "mapping.py"), f"--workdir={workdir}",
           f"--seeds={args.seeds}", *VARIANTS[name], *([f"pairs={args.pairs}"] if args.pairs else [])]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    res = json.loads((workdir / "results.json").read_text())
    f = lambda s: f"{s['mean']:.3f} ± {s['sd']:.3f}"
    uncond = res["codec"].get("test_unconditioned")
    rows.append(f"| {name} | `{' '.join(VARIANTS[name]) or '(defaults)'}` | {f(res['codec']['test']['mean'])} | "
                f"{f(uncond['mean']) if uncond else '–'} | {f(res['baseline']['test']['mean'])} | {seconds:.0f} s |")
    (workdir / "ablation_row.md").write_text(rows[-1] + "\n")
    print(rows[-1], flush=True)
  # The table holds every variant run so far into this directory, in declaration order.
  rows = [(out / n.replace(" ", "_").replace(",", "") / "ablation_row.md") for n in VARIANTS]
  table = ["| variant | overrides | codec test r | codec, dataset not named | baselines test r | wall |",
           "|---|---|---|---|---|---|", *(r.read_text().strip() for r in rows if r.exists())]
  (out / "ablation.md").write_text("\n".join(table) + "\n")
  print("\n".join(table))


if __name__ == "__main__":
  main()
