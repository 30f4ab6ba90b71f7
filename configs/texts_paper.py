"""Stage 2, texts, the paper's head: frozen MiniLM-L6 features -> Dropout 0.5 -> Dense 100.

  python launch/content.py --config=configs/texts_paper.py --workdir=checkpoints/texts_paper

The paper's head on pooled features (one Dense 100 after dropout; the paper fine-tunes BERT-base),
Adam 3e-4, batch 32, 40 epochs, 7 conditions, 3 seeds; configs/texts_fast.py is the tuned head on the same features.
EmoBank (VAD) and Affective Text (BE5), 128 tokens per text. Expected (test split; Pearson r
averaged over a dataset's variables; mean ± sd over seeds 0, 1, 2, against a stage 1 of
configs/paper_codec.py on its 5 pairs; docs/results.md, "Stage 2: texts"):
EmoBank Bsl .451 ± .007, Sng .396 ± .013, Aug .416 ± .016, Mlt .439 ± .006, BsZ .318 ± .017, SnZ
.024 ± .092, AuZ .322 ± .008; Affective Text Bsl .634 ± .008, Sng .637 ± .003, Aug .645 ± .004, Mlt
.585 ± .002, BsZ .527 ± .017, SnZ .064 ± .029, AuZ .462 ± .006. A ridge probe on the same features:
EmoBank .463, Affective Text .658. First run about 5 min on a 2-core CPU (MiniLM features for 11,312
texts), 44 s from the feature cache.
"""

import pathlib

from emojax import datasets
from emojax.conditions import CONDITIONS
from emojax.content_model import EncoderConfig
from emojax.run_configs import ContentConfig

CHECKPOINTS = pathlib.Path(__file__).resolve().parent.parent / "checkpoints"


def get_config() -> ContentConfig:
  return ContentConfig(
      modality="texts", stage1=str(CHECKPOINTS / "mapping"), datasets=datasets.names("texts"),
      conditions=CONDITIONS, encoder=EncoderConfig(hidden=(), dropout=(0.5,)),
      learning_rate=3e-4, batch_size=32, epochs=40, seeds=(0, 1, 2), max_length=128,
      export="emobank_vad:Aug", vader=False)
