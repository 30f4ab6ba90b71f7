"""emojax: one shared emotion embedding space learned from datasets that disagree on labels.

Stage 1 (`emojax.train_mapping`) trains the emotion codec: per-format label encoders into a
100-d space and bias-free per-format heads whose rows are the emotion variables. `emojax.load`
opens a trained workdir for inference, or a pretrained model of the package by name
(`emojax.load("texts")`; `emojax.pretrained.NAMES`). README.md has the commands, docs/method.md the method.
"""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it

from emojax import checkpoint
from emojax.api import EmotionModel, load
from emojax.formats import FORMATS, LabelFormat, get_format, register_format

__all__ = ["__version__", "EmotionModel", "load", "FORMATS", "LabelFormat", "get_format", "register_format"]
