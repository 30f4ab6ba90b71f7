"""Use a trained model from a checkout: `python launch/predict.py ...` is the `emojax` command.

  python launch/predict.py "I lost my job today and my dog died" --format vad,be5   # pretrained texts
  python launch/predict.py --model checkpoints/words happy funeral --format all
  python launch/predict.py export --model checkpoints/images --dataset bass --output /tmp/bass.npy
  python launch/predict.py retrieve --index /tmp/bass.npy --label be5:fear=1 -k 3
  python launch/predict.py --model words --file words.txt --output p.csv   # streamed, any length
  python launch/predict.py train words --workdir=/tmp/words epochs=10     # = launch/train.py

Every command, flag and default is `emojax.cli`'s (`python launch/predict.py --help`); this launcher
only adds the checkout's platform and compilation-cache set-up (launch/common.py).
"""

import sys

import common
from emojax.cli import parse, run  # noqa: F401  (tests call parse and run through this module)


def main() -> int:
  args = parse(sys.argv[1:])
  if args.command != "train":  # `train` runs launch/train.py, which sets up its own platform
    common.setup(args)
  return run(args)


if __name__ == "__main__":
  sys.exit(main())
