"""emojax: one shared emotion embedding space learned from datasets that disagree on labels.

Stage 1 (`emojax.train_mapping`) trains the emotion codec: per-format label encoders into a
100-d space and bias-free per-format heads whose rows are the emotion variables. `emojax.load`
opens a trained workdir for inference. See README.md for the method and the commands.
"""

from emojax import checkpoint
from emojax.api import EmotionModel, load
from emojax.formats import FORMATS, LabelFormat, get_format, register_format

__all__ = ["EmotionModel", "load", "FORMATS", "LabelFormat", "get_format", "register_format"]
