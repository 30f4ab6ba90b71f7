"""New label formats without retraining: ISEAR (isear7) and GoEmotions (ekman6) onto a frozen text model.

  python launch/new_format.py                                   # both datasets, 3 seeds -> checkpoints/new_formats
  python launch/new_format.py datasets=isear --seeds=0 --workdir=/tmp/isear
  python launch/new_format.py base=checkpoints/texts goemotions_train_items=0   # all 43,410 GoEmotions train items

Reads the stage-2 texts model from `base=` (default checkpoints/texts, made by `launch/content.py
--modality=texts`), whose stage-1 codec and content encoder stay bit-identical. Writes config.json,
features/ (cached MiniLM features), <dataset>/metrics.jsonl, results.json/.md and the exported new
heads + label encoders (model/, model.json): `emojax.load(workdir)` is the base model with the new
formats added.
"""

import common


def main() -> None:
  args = common.start(__doc__, "checkpoints/new_formats")
  from emojax import new_format
  cfg = common.configure(args, new_format.NewFormatConfig(base=str(common.ROOT / "checkpoints" / "texts")),
                         "emojax: new label formats onto a frozen space")
  results = new_format.run(cfg, args.workdir)
  lines = []
  for name, r in results["datasets"].items():
    bsl = (f", baseline {r['baseline']['test']['mean']:.3f} ± {r['baseline']['test']['sd']:.3f}"
           if r["baseline"] else "")
    lines.append(f"{name} ({r['format']}) test {r['metric']}: new head "
                 f"{r['new_format']['test']['mean']:.3f} ± {r['new_format']['test']['sd']:.3f}{bsl}")
  common.report("\n".join(lines) + f"\nwall time: {results['timing']['wall_s']:.0f} s\n"
                f"results: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
