"""Stage 2 with your own texts rated for valence, arousal and dominance, into the pretrained codec.

  python launch/content.py --config=docs/examples/my_texts.py --workdir=/tmp/my_texts

my_texts.csv (next to this file; docs/examples/make_csvs.py says where its numbers come from):
`id,text,valence,arousal,dominance,split`, ratings on a 1-5 scale, `split` naming each text's
part (train/dev/test). Frozen MiniLM features (cached in <workdir>/features) -> Dense 100 ->
the frozen heads of the pretrained codec (`stage1="codec"`; or the workdir of your own stage 1).
The split read from the column is written to <workdir>/splits/my_texts.json; the exported
encoder is `emojax.load("/tmp/my_texts")`, which predicts VAD and every other format of the codec.
"""

from emojax.content_model import EncoderConfig
from emojax.datasets import Dataset
from emojax.run_configs import ContentConfig

DATASETS = (
    Dataset(name="my_texts", path="my_texts.csv", key="id", text="text", format="vad",
            modality="texts", columns=("valence", "arousal", "dominance"), scale=(1, 5),
            split="column:split"),
)


def get_config() -> ContentConfig:
  return ContentConfig(
      modality="texts", stage1="codec", datasets=("my_texts",), conditions=("Bsl", "Sng", "Aug"),
      augment=("vad:be5",), encoder=EncoderConfig(hidden=(), dropout=(0.5,)), learning_rate=3e-4,
      batch_size=32, epochs=40, seeds=(0, 1, 2), max_length=128, export="my_texts:Aug", vader=False,
      readout="region")
