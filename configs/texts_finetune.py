"""Stage 2, texts, full fine-tuning: every MiniLM-L6 weight trained through the frozen heads (mode b).

  python launch/content.py --config=configs/texts_finetune.py --accelerator=gpu   # -> checkpoints/texts_finetune
  python launch/content.py --config=configs/texts_finetune.py --accelerator=cpu datasets=emobank_vad \
      conditions=Sng seeds=0 export=emobank_vad:Sng max_steps=300 eval_every=100 max_length=64 \
      --workdir=/tmp/texts_ft_cpu                    # one short run on a CPU, ~2 s a step

Bsl/Sng/Aug x EmoBank, Affective Text x seeds 0, 1, 2 (18 runs), each best-dev state also scored
zero-shot on the other dataset (BsZ/SnZ/AuZ). Expected (test split; Pearson r averaged over a
dataset's variables; mean ± sd over the 3 seeds; one NVIDIA H100, 495 s; docs/results.md, "Texts"): EmoBank
Bsl .554 ± .004, Sng .553 ± .004, Aug .557 ± .005, BsZ .249 ± .014, SnZ .118 ± .042, AuZ .340 ±
.004; Affective Text Bsl .586 ± .018, Sng .580 ± .012, Aug .564 ± .008, BsZ .564 ± .005, SnZ .205
± .034, AuZ .529 ± .011. The CPU run above: dev r .131 / .225 / .301 at steps 100 / 200 / 300.
"""

import pathlib

from emojax import datasets
from emojax.run_configs import FinetuneConfig

CHECKPOINTS = pathlib.Path(__file__).resolve().parent.parent / "checkpoints"


def get_config() -> FinetuneConfig:
  return FinetuneConfig(
      stage1=str(CHECKPOINTS / "mapping"), datasets=datasets.names("texts"), conditions=("Bsl", "Sng", "Aug"),
      seeds=(0, 1, 2), export="emobank_vad:Aug",
      # The paper's text setting: AdamW 1e-5, batch 24, best dev epoch.
      learning_rate=1e-5, weight_decay=0.01, batch_size=24, epochs=10, max_length=128,
      head_dropout=0.1, compute_dtype="float32")
