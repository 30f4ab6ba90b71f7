"""Stage 1: train the emotion codec on every bundled mapping dataset, with per-direction baselines.

  python launch/mapping.py                         # configs/stage1.py: seed 0 -> checkpoints/mapping
  python launch/mapping.py --config=configs/paper_codec.py      # the paper's codec, 3 seeds
  python launch/mapping.py --seeds=0,1,2 --accelerator=cpu --workdir=/tmp/run steps=2000
  python launch/mapping.py --workdir=/tmp/run --restart steps=4000   # that workdir, another config

Writes config.json, seed_*/metrics.jsonl, seed_*/checkpoints (resumable), results.json/.md and
the exported model (model/, model.json) that `emojax.load` and stage 2 read. A rerun of the same
command resumes; another config into the same workdir needs --restart (which starts over).
"""

import common

CONFIG = "configs/stage1.py"  # the defaults of a plain `python launch/mapping.py`


def main() -> None:
  args = common.start(__doc__, CONFIG)
  from emojax import report, run_configs, train_mapping
  cfg = common.configure(args, "emojax stage 1: emotion codec", kind=run_configs.MappingConfig)
  results = train_mapping.run(cfg, args.workdir, restart=args.restart)
  common.report(f"{report.mapping_summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  common.main(main)
