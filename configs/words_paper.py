"""Stage 2, words, the paper's recipe: GloVe 6B 50-d, the paper's MLP and schedule, 7 conditions, 3 seeds.

  python launch/content.py --config=configs/words_paper.py --workdir=checkpoints/words_paper

The recipe emojax shipped before MiniLM word features (configs/words.py is the tuned default).
Encoder (docs/method.md): GloVe 6B 50-d word vector -> Dropout 0.2 -> Dense 256 -> Dropout 0.5 ->
Dense 128 -> Dropout 0.5 -> Dense 100 through the frozen stage-1 heads; Adam 1e-3, batch 128, 70
epochs, best dev epoch. Expected (test split; Pearson r averaged over a dataset's variables, then
over the datasets; mean ± sd over seeds 0, 1, 2): on the 18 word sets against a stage 1 of
configs/stage1.py (docs/raters.md, "Stage 2, words, on every word set"): Bsl .523 ± .006, Sng .523
± .004, Aug .508 ± .006, Mlt .533 ± .008, BsZ .431 ± .012, SnZ .045 ± .016, AuZ .387 ± .015; on the
ten sets bundled before, against configs/paper_codec.py on its 5 pairs (docs/results.md, "Stage 2:
words"): Bsl .460 ± .018, Sng .481 ± .006, Aug .459 ± .008, Mlt .503 ± .006, BsZ .390 ± .005, SnZ
.036 ± .036, AuZ .414 ± .010; VADER valence r .652 (exported encoder). About 10 min on a 2-core CPU.
"""

import pathlib

from emojax import datasets
from emojax.conditions import CONDITIONS
from emojax.content_model import EncoderConfig
from emojax.run_configs import ContentConfig

CHECKPOINTS = pathlib.Path(__file__).resolve().parent.parent / "checkpoints"


def get_config() -> ContentConfig:
  return ContentConfig(
      modality="words", stage1=str(CHECKPOINTS / "mapping"), datasets=datasets.names("words"),
      conditions=CONDITIONS, vectors="glove50",
      encoder=EncoderConfig(hidden=(256, 128), dropout=(0.2, 0.5, 0.5)),
      learning_rate=1e-3, batch_size=128, epochs=70, seeds=(0, 1, 2),
      augment=("va:be5", "vad:be5", "be5:vad", "be6:vad", "pos7:va"), export="warriner_vad:Aug", vader=True)
