"""Stage 2, words: every word lexicon into the frozen emotion space, all seven conditions, 3 seeds.

  python launch/content.py --modality=words          # this config -> checkpoints/words
  python launch/content.py --config=configs/words.py vectors=spacy300 --workdir=/tmp/words_spacy

Encoder (docs/method.md): GloVe 6B 50-d word vector -> Dropout 0.2 -> Dense 256 -> Dropout 0.5 ->
Dense 128 -> Dropout 0.5 -> Dense 100 through the frozen stage-1 heads; Adam 1e-3, batch 128, 70
epochs, best dev epoch. Expected (test split; Pearson r averaged over a dataset's variables, then
over the datasets; mean ± sd over seeds 0, 1, 2, against a stage 1 of configs/paper_codec.py;
docs/results.md, "Words"): Bsl .460 ± .018, Sng .481 ± .006, Aug .459 ± .008, Mlt .503 ± .006, BsZ .390 ±
.005, SnZ .036 ± .036, AuZ .414 ± .010; VADER valence r .652 (exported encoder). About 3 min on a
2-core CPU.
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
      augment=("va:be5", "vad:be5", "be5:vad"), export="warriner_vad:Aug", vader=True)
