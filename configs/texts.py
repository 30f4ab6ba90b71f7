"""Stage 2, texts: frozen MiniLM-L6 features (cached) -> Dropout 0.5 -> Dense 100, 7 conditions, 3 seeds.

  python launch/content.py --modality=texts          # this config -> checkpoints/texts

EmoBank (VAD) and Affective Text (BE5), 128 tokens per text. Expected (test split; Pearson r
averaged over a dataset's variables; mean ± sd over seeds 0, 1, 2; docs/results.md, "Texts"): EmoBank Bsl
.451 ± .007, Sng .396 ± .013, Aug .416 ± .016, Mlt .439 ± .006, BsZ .318 ± .017, SnZ .024 ± .092,
AuZ .322 ± .008; Affective Text Bsl .634 ± .008, Sng .637 ± .003, Aug .645 ± .004, Mlt .585 ±
.002, BsZ .527 ± .017, SnZ .064 ± .029, AuZ .462 ± .006. First run about 5 min on a 2-core CPU
(MiniLM features for 11,312 texts), 44 s from the feature cache.
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
      # Adam 3e-4: best mean dev r over Bsl/Sng/Aug/Mlt among 1e-3 (.509), 3e-4 (.561), 1e-4 (.539).
      # (finetune_text.BSZ_LEARNING_RATE repeats it: fine-tuning's BsZ uses this table's mapping nets.)
      learning_rate=3e-4, batch_size=32, epochs=40, seeds=(0, 1, 2), max_length=128,
      export="emobank_vad:Aug", vader=False)
