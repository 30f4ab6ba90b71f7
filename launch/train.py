"""Train any run from its config file: stage 1, stage 2 or a new label format, by the config's type.

  python launch/train.py stage1                      # configs/stage1.py -> checkpoints/mapping
  python launch/train.py words --seeds=0 epochs=10   # configs/words.py -> checkpoints/words
  python launch/train.py configs/texts_finetune.py --accelerator=gpu
  python launch/train.py /path/to/my_texts.py --workdir=/tmp/my_texts   # your own data (docs/own_data.md)
  python launch/train.py new_formats --workdir=/tmp/nf --restart
  python launch/train.py texts --help                # every field of configs/texts.py: default, range, help

`emojax train ...` runs this file. CONFIG is a config file (a path) or a name of configs/; what
it trains follows from the type its `get_config()` returns (`common.trainer`: MappingConfig,
ContentConfig, FinetuneConfig, FinetuneImageConfig, NewFormatConfig, and the stage-1 studies
TransferConfig and NewFormatCodecConfig), with the flags and the
`name=value` overrides of launch/mapping.py and launch/content.py: the workdir defaults to the
config's (checkpoints/<config name>), a rerun of the same command resumes, another config into
the same workdir needs --restart (which starts over).
"""

import sys

import common


def arguments(argv: list[str]):
  """(args, wants help): CONFIG is the first positional argument without `=` (or --config)."""
  wants_help = any(a in ("-h", "--help") for a in argv)
  p = common.parser(__doc__.splitlines()[0], None)
  p.usage = "train.py CONFIG [--workdir DIR] [--restart] [--seeds S] [--accelerator A] [name=value ...]"
  args = p.parse_intermixed_args([a for a in argv if a not in ("-h", "--help")])
  named = [o for o in args.overrides if "=" not in o]
  if named and args.config is None:
    args.config = named[0]
    args.overrides.remove(named[0])
  if wants_help:
    p.description = __doc__
    p.formatter_class = common.argparse.RawDescriptionHelpFormatter
    print(p.format_help())
    if args.config is None:
      print("configs: " + ", ".join(sorted(x.stem for x in (common.ROOT / "configs").glob("*.py"))))
    else:
      print(common.config_help(args, common.overrides(args)))
    raise SystemExit(0)
  if args.config is None:
    p.error("name a config: a file (e.g. /path/to/my_texts.py) or one of configs/ "
            f"({', '.join(sorted(x.stem for x in (common.ROOT / 'configs').glob('*.py')))})")
  return args


def main() -> None:
  args = arguments(sys.argv[1:])
  common.check_workdir_flag(args)
  common.setup(args)
  common.train(args)


if __name__ == "__main__":
  common.main(main)
