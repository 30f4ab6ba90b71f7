"""Stage 1 with your own mapping pair: words rated for valence/arousal AND the five basic emotions.

  python launch/mapping.py --config=docs/examples/my_words_pair.py --workdir=/tmp/my_codec

my_words.csv (next to this file; docs/examples/make_csvs.py says where its numbers come from) has
one row per word: `word,valence,arousal,happiness,anger,sadness,fear,disgust`, valence and arousal
rated 1-9, the basic emotions 1-5. The two tables of the pair are two declarations over that one
file (two files joined on the word work the same way). The codec trains on the bundled pairs plus
this one; the pair's split (3:1:1 by a fixed seed) is written to <workdir>/splits/my_words.json.
"""

from emojax.datasets import Dataset, Pair
from emojax.mapping_data import DEFAULT_PAIRS
from emojax.run_configs import MappingConfig

DATASETS = (
    Dataset(name="my_words_va", path="my_words.csv", key="word", format="va", modality="words",
            columns=("valence", "arousal"), scale=(1, 9), stage2=False),
    Dataset(name="my_words_be5", path="my_words.csv", key="word", format="be5", modality="words",
            columns=("happiness", "anger", "sadness", "fear", "disgust"), scale=(1, 5), stage2=False),
    Pair(name="my_words", a="my_words_va", b="my_words_be5", split="rule",
         description="my words, rated for VA and BE5"),
)


def get_config() -> MappingConfig:
  return MappingConfig(pairs=(*DEFAULT_PAIRS, "my_words"), steps=10_000, eval_every=100, seeds=(0,),
                       baseline_epochs=50)
