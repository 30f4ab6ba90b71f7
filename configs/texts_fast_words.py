"""Stage 2, texts, an experiment: the `texts_fast` Mlt encoder also trained on human BE norms of words.

  python launch/content.py --config=configs/texts_fast_words.py   # -> checkpoints/texts_fast_words

configs/texts_fast.py's Mlt encoder (EmoBank VAD + Affective Text BE5, MiniLM-L6, each example
weighing the same) with the training words of the six bundled BE5/BE6 word norms added as one-word
texts (`mlt_with`; a non-English word is read as its English concept gloss, as the word models read
it): Stadthagen-González BE5 (es), Wierzba (pl), Briesemeister (de), Ferré (es), Ćoso (hr), Speed
BE6 (nl); 2,564 words, each weighing as a text does. The question it answers: do more items with BE
labels (the headlines are the only English texts with them) make the calibrated strongest emotion
better on ISEAR and GoEmotions? Expected (test split; mean ± sd over seeds 0, 1, 2, against the
shipped codec; docs/representations.md, "More BE labels: word norms as one-word texts"): EmoBank
Mlt .492 ± .008, Affective Text .648 ± .006 (texts_fast: .496 ± .002, .688 ± .005); each seed's
exported encoder (`seeds=<s>`) reads the strongest emotion (train/zscore) of ISEAR at .578 ± .020
(texts_fast .524 ± .016) and of GoEmotions at .482 ± .016 (.476 ± .016): ISEAR better, GoEmotions
not, Affective Text worse, so not shipped. Mlt only; about 30 s from texts_fast's feature cache.
"""

import dataclasses
import pathlib

from emojax import config

WORD_NORMS = ("stadthagen_be5", "wierzba_be5", "briesemeister_be5", "ferre_be5", "coso_be5", "speed_be6")


def get_config():
  texts_fast = config.load_file(pathlib.Path(__file__).with_name("texts_fast.py")).get_config()
  return dataclasses.replace(texts_fast, conditions=("Mlt",), mlt_with=WORD_NORMS)
