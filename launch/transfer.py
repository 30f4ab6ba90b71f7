"""Leave-one-population-out transfer: each mapping pair held out of stage 1, mapped by the rest.

  python launch/transfer.py                                  # configs/transfer.py -> checkpoints/transfer
  python launch/transfer.py --workdir=/tmp/transfer held_out=nl_va_be6,es_va_pos7 --seeds=0
  python launch/transfer.py variants="configs/stage1.py condition_dropout=0.8" steps=2000
  python launch/transfer.py --config=configs/new_format_codec.py --workdir=/tmp/new_format   # pos7 onto a frozen codec

For every variant (a stage-1 config file plus overrides) and every held-out pair: stage 1 on the
other pairs, then the held-out pair's test items mapped both ways through the unconditioned path;
per-direction nets trained on the other pairs in the same two formats beside them. Writes
config.json, one directory per variant (codec checkpoints and cached scores per held-out pair and
seed; a rerun resumes) and results.json/.md.
"""

import common

CONFIG = "configs/transfer.py"


def main() -> None:
  args = common.start(__doc__, CONFIG)
  from emojax import transfer
  if not isinstance(args.base, (transfer.TransferConfig, transfer.NewFormatCodecConfig)):
    raise SystemExit(f"--config={args.config} gives a {type(args.base).__name__}; this launcher runs a "
                     f"TransferConfig or a NewFormatCodecConfig (configs/new_format_codec.py)")
  found = common.trainer(args.base)
  cfg = common.configure(args, found.title, check=found.check)
  results = found.run(cfg, args.workdir, restart=args.restart)
  common.report(f"{found.summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  common.main(main)
