"""Stage 1: train the emotion codec on every bundled mapping dataset, with per-direction baselines.

  python launch/mapping.py                         # paper's method, seed 0, checkpoints/mapping
  python launch/mapping.py --seeds=0,1,2 --accelerator=cpu --workdir=/tmp/run steps=2000

Writes config.json, seed_*/metrics.jsonl, seed_*/checkpoints (resumable), results.json/.md and
the exported model (model/, model.json) that `emojax.load` and stage 2 read.
"""

import common


def main() -> None:
  args = common.start(__doc__, "checkpoints/mapping")
  from emojax import train_mapping
  cfg = common.configure(args, train_mapping.MappingConfig(), "emojax stage 1: emotion codec")
  results = train_mapping.run(cfg, args.workdir)
  codec_mean, base = results["codec"]["test"]["mean"], results.get("baseline")
  line = f"test mean r: codec {codec_mean['mean']:.3f} ± {codec_mean['sd']:.3f}"
  if base:
    line += f", per-direction baselines {base['test']['mean']['mean']:.3f} ± {base['test']['mean']['sd']:.3f}"
  common.report(f"{line}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
