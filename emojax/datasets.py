"""Rated label tables, declared rather than coded: file, key column, format, raw columns, nominal scale.

A `LabelTable` names one study's ratings (e.g. the Spanish valence/arousal norms) inside the
bundled data folder `emojax/data/`. `read_labels` reads it, checks every value against the study's
*nominal* scale (not its observed min/max) and rescales to the format's canonical range. A value
outside the scale, a missing value or an unreadable file raises an error that names the file,
the row and the variable: never a silently clipped label. Readers for the few files that are not
plain tables (the SemEval XML/gold layout) live here too.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from emojax import formats

DATA_DIR = pathlib.Path(__file__).parent / "data"


def _read_tsv(path: pathlib.Path) -> pd.DataFrame:
  # Words such as "null" or "nan" are words: only an empty cell is missing.
  return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""], dtype=str)


def _read_csv(path: pathlib.Path) -> pd.DataFrame:
  return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)


def read_affective_text(path: pathlib.Path) -> pd.DataFrame:
  """SemEval-2007 Affective Text: trial + test gold files of the official layout, one frame."""
  columns = ["id", "anger", "disgust", "fear", "joy", "sadness", "surprise"]
  frames = []
  for split in ("trial", "test"):
    gold = path / f"AffectiveText.{split}" / f"affectivetext_{split}.emotions.gold"
    frames.append(pd.read_csv(gold, sep=" ", header=None, names=columns, dtype=str))
  return pd.concat(frames, ignore_index=True)


@dataclasses.dataclass(frozen=True)
class LabelTable:
  """One study's ratings in one format. `columns` lists the raw column of each format variable."""

  name: str
  path: str  # relative to DATA_DIR
  key: str  # column identifying the item (word, text id)
  format: str
  columns: tuple[str, ...]
  scale: tuple[tuple[float, float], ...]  # nominal (low, high) of each raw column
  language: str = "en"
  reader: Callable[[pathlib.Path], pd.DataFrame] = _read_tsv
  key_transform: Callable[[str], str] = str  # e.g. str.lower for case-insensitive joins
  key_prefix: str = ""  # items are called f"{key_prefix}{key}" (e.g. EmoBank's "SemEval_")

  def __post_init__(self):
    fmt = formats.get_format(self.format)
    if len(self.columns) != fmt.size or len(self.scale) != fmt.size:
      raise ValueError(f"table {self.name!r}: format {fmt.name!r} has {fmt.size} variables, "
                       f"got {len(self.columns)} columns and {len(self.scale)} scales")


def rescale(values_NxV: np.ndarray, scale: tuple[tuple[float, float], ...],
            fmt: formats.LabelFormat) -> np.ndarray:
  """Linear map from each variable's nominal raw scale to the format's canonical range."""
  low_V, high_V = np.asarray(scale, dtype=np.float64).T
  unit = (values_NxV - low_V) / (high_V - low_V)
  return (fmt.low + unit * (fmt.high - fmt.low)).astype(np.float32)


def check_in_scale(values_NxV: np.ndarray, scale, *, source: str, variables, row_names) -> None:
  """Raises ValueError naming the first offending row and variable (missing, non-finite, out of scale)."""
  low_V, high_V = np.asarray(scale, dtype=np.float64).T
  bad_NxV = ~np.isfinite(values_NxV) | (values_NxV < low_V) | (values_NxV > high_V)
  if bad_NxV.any():
    n, v = np.argwhere(bad_NxV)[0]
    raise ValueError(f"{source}: row {row_names[n]}, variable {variables[v]!r}: value "
                     f"{values_NxV[n, v]} is missing or outside the declared scale "
                     f"[{low_V[v]:g}, {high_V[v]:g}] ({int(bad_NxV.sum())} bad values in all)")


def read_labels(table: LabelTable) -> tuple[list[str], np.ndarray]:
  """Returns (item keys, canonical labels N x V). Duplicate keys keep their first row."""
  path = DATA_DIR / table.path
  try:
    frame = table.reader(path)
  except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
    raise ValueError(f"cannot read label table {table.name!r} from {path}: {err}") from err
  missing = [c for c in (table.key, *table.columns) if c not in frame.columns]
  if missing:
    raise ValueError(f"{path}: columns {missing} not found (has {list(frame.columns)})")
  fmt = formats.get_format(table.format)
  raw = frame[list(table.columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
  # Header is line 1, so data row i sits on line i + 2 of the file.
  check_in_scale(raw, table.scale, source=str(path), variables=table.columns,
                 row_names=[f"{i + 2} (line)" for i in range(len(frame))])
  keys = [table.key_prefix + table.key_transform(k) for k in frame[table.key]]
  first = ~pd.Series(keys).duplicated().to_numpy()
  return [k for k, keep in zip(keys, first) if keep], rescale(raw[first], table.scale, fmt)


def _norare(stem: str) -> str:
  return f"norare_subsets/{stem}.tsv"


_BE5_NORARE = ("HAPPINESS", "ANGER", "SADNESS", "FEAR", "DISGUST")  # BE5 variable order

TABLES: dict[str, LabelTable] = {t.name: t for t in [
    LabelTable("stadthagen_va", _norare("StadthagenGonzalez-2017-ValenceArousal"), "SPANISH", "va",
               ("SPANISH_VALENCE_MEAN", "SPANISH_AROUSAL_MEAN"), ((1, 9),) * 2, "es"),
    LabelTable("stadthagen_be5", _norare("StadthagenGonzalez-2018-DiscreteEmotions"), "SPANISH", "be5",
               tuple(f"SPANISH_{v}_MEAN" for v in _BE5_NORARE), ((1, 5),) * 5, "es"),
    LabelTable("riegel_va", _norare("Riegel-2015-AffectiveRatings"), "POLISH", "va",
               ("POLISH_VALENCE_MEAN", "POLISH_AROUSAL_MEAN"), ((-3, 3), (1, 5)), "pl"),
    LabelTable("wierzba_be5", _norare("Wierzba-2015-DiscreteEmotions"), "POLISH", "be5",
               tuple(f"POLISH_{v}_MEAN" for v in _BE5_NORARE), ((1, 7),) * 5, "pl"),
    LabelTable("imbir_vad", _norare("Imbir-2021-Ratings"), "POLISH", "vad",
               ("POLISH_VALENCE_MEAN", "POLISH_AROUSAL_MEAN", "POLISH_DOMINANCE_MEAN"), ((1, 9),) * 3, "pl"),
    # ANGST carries arousal on two scales; the 1-9 ANEW version matches its dominance scale.
    LabelTable("schmidtke_vad", _norare("Schmidtke-2014-AffectiveRatings"), "GERMAN", "vad",
               ("GERMAN_VALENCE_MEAN", "GERMAN_AROUSAL_MEAN_ANEW", "GERMAN_DOMINANCE_MEAN"),
               ((-3, 3), (1, 9), (1, 9)), "de", key_transform=str.lower),
    LabelTable("briesemeister_be5", _norare("Briesemeister-2011-DiscreteEmotions"), "GERMAN", "be5",
               tuple(f"GERMAN_{v}_MEAN" for v in _BE5_NORARE), ((1, 5),) * 5, "de",
               key_transform=str.lower),
    LabelTable("moors_vad", _norare("Moors-2013-Ratings"), "DUTCH", "vad",
               ("DUTCH_VALENCE_MEAN", "DUTCH_AROUSAL_MEAN", "DUTCH_DOMINANCE_MEAN"), ((1, 7),) * 3, "nl"),
    LabelTable("redondo_vad", _norare("Redondo-2007-AffectiveRatings"), "SPANISH", "vad",
               ("SPANISH_VALENCE_MEAN", "SPANISH_AROUSAL_MEAN", "SPANISH_DOMINANCE_MEAN"), ((1, 9),) * 3, "es"),
    # English words: Warriner et al. 2013 (XANEW copy), all-rater means; stage 2 for words.
    LabelTable("warriner_vad", "xanew_warriner2013/Ratings_Warriner_et_al.csv", "Word", "vad",
               ("V.Mean.Sum", "A.Mean.Sum", "D.Mean.Sum"), ((1, 9),) * 3, reader=_read_csv),
    LabelTable("emobank_vad", "emobank/emobank.csv", "id", "vad", ("V", "A", "D"), ((1, 5),) * 3,
               reader=_read_csv),
    LabelTable("afftext_be6", "affective_text_2007", "id", "be6",
               ("joy", "anger", "sadness", "fear", "disgust", "surprise"), ((0, 100),) * 6,
               reader=read_affective_text, key_prefix="SemEval_"),
    # The BE5 view of the same headlines (surprise dropped), as the paper's text experiment used it.
    LabelTable("afftext_be5", "affective_text_2007", "id", "be5",
               ("joy", "anger", "sadness", "fear", "disgust"), ((0, 100),) * 5,
               reader=read_affective_text, key_prefix="SemEval_"),
]}


def get_table(name: str) -> LabelTable:
  if name not in TABLES:
    raise KeyError(f"unknown label table {name!r}; known: {sorted(TABLES)}")
  return TABLES[name]
