"""Leave-one-population-out (LOPO) transfer of stage-1 codecs, against per-direction nets.

  python launch/transfer.py --workdir=/tmp/raters/transfer        # this config

Every bundled stage-1 pair (11) is held out in turn; each variant's codec is trained on the other
10 (seeds 0, 1, 2) and maps the held-out pair's test items both ways with no dataset named. The
variants: the paper's codec, the conditioned codec (the default, configs/stage1.py), the conditioned
codec with the condition dropped for 80% of the rows (more training for the unconditioned path).
Steps are 3,000 instead of 10,000 for all of them (dev r of the full pool plateaus by ~3,000 steps;
LOPO trains 3 x 11 x 3 + 9 codecs). Expected (test split of each held-out pair; Pearson r averaged
over the target's variables, then over both directions and the 11 pairs; seeds 0, 1, 2):
docs/results.md, "Leave-one-population-out transfer". About 22 min on a 2-core CPU.
"""

from emojax.mapping_data import DEFAULT_PAIRS
from emojax.transfer import TransferConfig


def get_config() -> TransferConfig:
  return TransferConfig(
      variants=("configs/paper_codec.py", "configs/conditioned_codec.py",
                "configs/conditioned_codec.py condition_dropout=0.8"),
      pairs=DEFAULT_PAIRS, held_out=(), seeds=(0, 1, 2), steps=3_000, in_population=True,
      baseline_epochs=50)
