"""The positive-emotions format (pos7) learned onto a frozen codec trained without it.

  python launch/transfer.py --config=configs/new_format_codec.py --workdir=/tmp/raters/new_format

The paper's first open question on real data of a second kind (word norms, a regression format):
the codec of `variant` is trained on every bundled pair without pos7 (9 pairs) and frozen; a pos7
head and label encoder are learned on the two pos7 pairs (Spanish VA ∩ Hinojosa, BE5 ∩ Hinojosa),
so pos7 maps to and from every format of the frozen space. Against per-direction nets trained on
the same pairs. Expected (test split; Pearson r averaged over the target's variables; seeds 0, 1,
2): docs/results.md, "The positive-emotions format".
"""

from emojax.mapping_data import DEFAULT_PAIRS
from emojax.transfer import NewFormatCodecConfig


def get_config() -> NewFormatCodecConfig:
  return NewFormatCodecConfig(
      variant="configs/stage1.py", new_format="pos7", pairs=DEFAULT_PAIRS, seeds=(0, 1, 2), steps=3_000,
      head_steps=3_000, eval_every=100, learning_rate=1e-3, batch_size=32, baseline_epochs=50)
