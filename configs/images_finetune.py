"""Stage 2, images, full fine-tuning: MobileNetV2 trained end to end through the frozen heads (mode b).

  python launch/content.py --modality=images --accelerator=gpu   # GPU/TPU: -> checkpoints/images_finetune
  python launch/content.py --config=configs/images_finetune.py --accelerator=cpu --seeds=0,1 \
      conditions=Sng datasets=bass_us_va export= image_size=96 num_devices=1 --workdir=/tmp/ft96

Bsl/Sng/Aug on each BASS rater table and Mlt on both, seeds 0, 1, 2 (21 runs); SGD 1e-3, momentum
0.9, x0.1 every 7 epochs, 25 epochs (torchvision's fine-tuning recipe; the paper gives no
schedule), batch 32, random flips, best dev epoch. Expected (test split; Pearson r, mean of
valence and arousal, then over the US and Chinese rater tables; mean ± sd over the 3 seeds; one
NVIDIA H100, about 4 min; docs/results.md, "Images"): Bsl .434 ± .003, Sng .434 ± .016, Aug .430 ± .005, Mlt
.438 ± .007. The CPU run above (96 px, Sng, US raters): test r .268 / .331 for seeds 0 / 1.
"""

import pathlib

from emojax import datasets
from emojax.conditions import TRAINED
from emojax.run_configs import FinetuneImageConfig

CHECKPOINTS = pathlib.Path(__file__).resolve().parent.parent / "checkpoints"


def get_config() -> FinetuneImageConfig:
  return FinetuneImageConfig(
      stage1=str(CHECKPOINTS / "mapping"), datasets=datasets.names("images"), conditions=TRAINED,
      seeds=(0, 1, 2), export="bass_us_va:Aug",
      learning_rate=1e-3, momentum=0.9, lr_decay=0.1, lr_decay_epochs=7, batch_size=32, epochs=25,
      image_size=224, dropout=0.5, flip=True, compute_dtype="float32",
      # SGD on torchvision's own conv weights and a zero-initialised Dense 100: both together stop
      # the feature collapse of the first GPU run (docs/results.md, images; true/false restore it).
      train_folded_weights=False, zero_init_head=True)
