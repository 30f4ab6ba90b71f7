"""A new label format learned onto a frozen text model: comments labelled joy/anger/sadness/neutral.

  python launch/new_format.py --config=docs/examples/my_format.py --workdir=/tmp/my_format

my_comments.csv (next to this file; docs/examples/make_csvs.py says where it comes from):
`id,text,feeling`, one class name per comment. The format is declared with the dataset: its
classes joy, anger and sadness share a concept with the codec's basic emotions (their head rows
are pulled together), neutral is new. The base model's codec and text encoder stay frozen (the
pretrained "texts", or the workdir of your own texts run); only the new head and label encoder
train. The split (3:1:1 by a fixed seed) is written to <workdir>/splits/my_feelings.json;
`emojax.load("/tmp/my_format").predict([...], formats="feelings4")` predicts in the new format.
"""

from emojax.datasets import Dataset
from emojax.formats import CLASSES, LabelFormat
from emojax.new_format import NewFormatConfig

FEELINGS = LabelFormat("feelings4", ("joy", "anger", "sadness", "neutral"), CLASSES)

DATASETS = (
    Dataset(name="my_feelings", path="my_comments.csv", key="id", text="text", format=FEELINGS,
            modality="texts", columns="feeling", split="rule"),
)


def get_config() -> NewFormatConfig:
  return NewFormatConfig(base="texts", datasets=("my_feelings",), learning_rate=3e-3,
                         baseline_learning_rate=1e-3, batch_size=32, epochs=60, seeds=(0, 1, 2),
                         baseline=True)
