"""New label formats without retraining: ISEAR (isear7) and GoEmotions (ekman6) onto a frozen text model.

  python launch/new_format.py                                   # configs/new_formats.py -> checkpoints/new_formats
  python launch/new_format.py datasets=isear --seeds=0 --workdir=/tmp/isear
  python launch/new_format.py base=checkpoints/texts goemotions_train_items=0   # all 43,410 GoEmotions train items

Reads the stage-2 texts model from `base=` (default checkpoints/texts, made by `launch/content.py
--modality=texts`), whose stage-1 codec and content encoder stay bit-identical. Writes config.json,
features/ (cached MiniLM features), <dataset>/metrics.jsonl, results.json/.md and the exported new
heads + label encoders (model/, model.json): `emojax.load(workdir)` is the base model with the new
formats added.
"""

import common

CONFIG = "configs/new_formats.py"  # the defaults of a plain `python launch/new_format.py`


def main() -> None:
  args = common.start(__doc__, CONFIG)
  from emojax import datasets, new_format, report
  names = lambda cfg: [datasets.get_dataset(name, "texts", classes=True) for name in cfg.datasets]
  cfg = common.configure(args, "emojax: new label formats onto a frozen space", kind=new_format.NewFormatConfig,
                         check=names)
  results = new_format.run(cfg, args.workdir, restart=args.restart)
  common.report(f"{report.new_format_summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  common.main(main)
