"""The dataset registry: every dataset emojax knows is one declaration here, and every module reads it.

A `Dataset` declares one labelled item set: its file (and a reader from `emojax.readers` only for odd
files), the key column naming each item, the raw column of each variable of its label format and
the study's *nominal* scale, what the content encoder reads (the key, a text column, or one file
per item), modality, language and split rule (the grammar is `emojax.splits`'). A `Pair` declares a
mapping pair of stage 1: two datasets rated on the same items, joined on the key, and its split
(the earlier pairs' of its language, extended, keeps a word on one side across pairs that share
words). The bundled declarations are `REGISTRY`; a user declares their own data the same way,
with keyword arguments, in a config file's `DATASETS` that the launchers pass to `declare`: its
paths are read from the config file's folder, a new class format travels in the declaration
(`format=LabelFormat(...)`), and its splits are written to the run's workdir, never into the
package (docs/own_data.md).
`read_table` reads a declaration once: it checks every value against the nominal scale (not the
observed min/max) and rescales to the format's canonical range; a value outside the scale, a
missing value or an unreadable file raises an error naming the file, the row and the variable,
never a silently clipped label. Class formats read class names from one column instead.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from emojax import formats, readers

DATA_DIR = pathlib.Path(__file__).parent / "data"
MODALITIES = ("words", "texts", "images")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Dataset:
  """One labelled item set. Paths of the bundled data are relative to `emojax/data/`; your own
  (`declare`, from a config file) are relative to the config file's folder, or absolute."""

  name: str
  path: str  # the file (or folder, for a reader that takes one)
  format: str | formats.LabelFormat  # a registered format's name, or a new format's declaration
  modality: str  # "words" | "texts" | "images": what the content encoder reads
  columns: tuple[str, ...]  # raw column of each format variable; class format: the one class column
  scale: tuple = ()  # nominal (low, high) of each raw column, or one (low, high) for all
  key: str = "id"  # column identifying the item
  language: str = "en"  # of the items (words, texts) or of the raters (images)
  text: str = ""  # column with the text the encoder reads; "" (words): the key itself
  files: str = ""  # folder with one file per item named by its key (images)
  split: str = "rule"  # split rule, see `emojax.splits`
  split_file: str = ""  # committed split under emojax/data/splits/ ("": computed when loaded);
  # an absolute path (your own data: <workdir>/splits/<name>) is written on first use, then read
  stage2: bool = True  # False: only a member of a mapping pair, no stage-2 dataset of its own
  group: str = ""  # the same items rated by another population (one split, one Mlt encoder)
  reader: Callable[[pathlib.Path], pd.DataFrame] = readers.read_delimited  # .csv or else .tsv
  key_transform: Callable[[str], str] = str  # e.g. str.lower for case-insensitive joins
  key_prefix: str = ""  # items are called f"{key_prefix}{key}" (e.g. EmoBank's "SemEval_")
  description: str = ""
  # Set from format=LabelFormat(...) (a format declared with the dataset, registered when the
  # dataset is); a field so that dataclasses.replace keeps it.
  declared_format: formats.LabelFormat | None = dataclasses.field(default=None, repr=False)

  def __post_init__(self):
    set_ = functools.partial(object.__setattr__, self)
    if isinstance(self.format, formats.LabelFormat):
      set_("declared_format", self.format)
      set_("format", self.format.name)
    if self.declared_format is not None and self.declared_format.name != self.format:
      raise ValueError(f"dataset {self.name!r}: format {self.format!r} is not the declared "
                       f"{self.declared_format.name!r}")
    fmt = self.declared_format or formats.get_format(self.format)
    set_("columns", (self.columns,) if isinstance(self.columns, str) else tuple(self.columns))
    if len(self.scale) == 2 and all(isinstance(s, (int, float)) for s in self.scale):
      set_("scale", (tuple(self.scale),) * len(self.columns))  # one (low, high) for every column
    set_("scale", tuple(tuple(s) for s in self.scale))
    if self.modality not in MODALITIES:
      raise ValueError(f"dataset {self.name!r}: modality must be one of {MODALITIES}, got {self.modality!r}")
    if fmt.is_classes and (len(self.columns) != 1 or self.scale):
      raise ValueError(f"dataset {self.name!r}: class format {fmt.name!r} reads its class names from "
                       f"one column and has no scale, got columns {self.columns}, scale {self.scale}")
    if not fmt.is_classes and (len(self.columns) != fmt.size or len(self.scale) != fmt.size):
      raise ValueError(f"dataset {self.name!r}: format {fmt.name!r} has {fmt.size} variables, "
                       f"got {len(self.columns)} columns and {len(self.scale)} scales")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pair:
  """A mapping pair: datasets `a` and `b` rated on the same items (joined on the key)."""

  name: str
  a: str
  b: str
  split: str = "rule"  # split rule, see `emojax.splits`; a pair file names items as b's file does
  split_file: str = ""
  stage1: bool = True  # False: the items are in another stage-1 pair already (stage 2 only)
  description: str = ""

  @property
  def formats(self) -> tuple[str, str]:
    return get_dataset(self.a).format, get_dataset(self.b).format


# ---------------------------------------------------------------------------------- declarations

def _norare(stem: str) -> str:
  return f"norare_subsets/{stem}.tsv"


# Non-English words are embedded by their English concept gloss (same for a word in every table of
# its language; the encoders read English). BE5 variable order of the NoRaRe columns:
GLOSS = "CONCEPTICON_GLOSS"
_BE5 = ("HAPPINESS", "ANGER", "SADNESS", "FEAR", "DISGUST")
_BE6 = _BE5 + ("SURPRISE",)
_EMO10 = _BE5 + ("ANXIETY", "SURPRISE", "CONTENTMENT", "AMUSEMENT", "SERENITY")  # formats.EMO10's order
# Pairs of one language share words: each later pair extends the splits of every earlier one, and
# a word table takes its part from every pair it is in, so no word is on two sides anywhere.
_ES_PAIRS = ("es_va_be5", "es_va_be5_ferre", "es_vad_be5", "es_va_pos7", "es_be5_pos7")
_NL_PAIRS = ("nl_va_be6", "nl_vad_be6")
_after = lambda pairs, name: f"pair:{','.join(pairs[:pairs.index(name)])}+rule"
_NL_SPLIT = f"pair:{','.join(_NL_PAIRS)}+rule"
# A Spanish word table also keeps the parts the earlier tables gave their words outside every pair
# (Ferré ∩ Hinojosa words, say): one word, one side, in every Spanish table.
_ES_TABLES = ("stadthagen_va", "stadthagen_be5", "redondo_vad", "ferre_be5", "hinojosa_pos7")
_es_split = lambda name: _after(_ES_PAIRS + _ES_TABLES, name)  # every pair, the earlier tables
_AFFTEXT = "affective_text_2007"

BUNDLED: tuple[Dataset | Pair, ...] = (
    # Words (stage 2; the non-English ones are also the members of the stage-1 pairs).
    Dataset(name="warriner_vad", path="xanew_warriner2013/Ratings_Warriner_et_al.csv",
            reader=readers.read_csv, key="Word", format="vad", modality="words",
            columns=("V.Mean.Sum", "A.Mean.Sum", "D.Mean.Sum"), scale=(1, 9),
            split="file:xanew_warriner2013/XANEW-NRC_splits.json+rule", split_file="words/warriner_vad",
            description="English words, Warriner et al. 2013 (XANEW copy), all-rater means"),
    Dataset(name="stadthagen_va", path=_norare("StadthagenGonzalez-2017-ValenceArousal"), key="SPANISH",
            format="va", modality="words", language="es", text=GLOSS,
            columns=("SPANISH_VALENCE_MEAN", "SPANISH_AROUSAL_MEAN"), scale=(1, 9),
            split=_es_split("stadthagen_va"), split_file="words/stadthagen_va"),
    Dataset(name="stadthagen_be5", path=_norare("StadthagenGonzalez-2018-DiscreteEmotions"), key="SPANISH",
            format="be5", modality="words", language="es", text=GLOSS,
            columns=tuple(f"SPANISH_{v}_MEAN" for v in _BE5), scale=(1, 5),
            split=_es_split("stadthagen_be5"), split_file="words/stadthagen_be5"),
    Dataset(name="riegel_va", path=_norare("Riegel-2015-AffectiveRatings"), key="POLISH",
            format="va", modality="words", language="pl", text=GLOSS,
            columns=("POLISH_VALENCE_MEAN", "POLISH_AROUSAL_MEAN"), scale=((-3, 3), (1, 5)),
            split="pair:pl_va_be5+rule", split_file="words/riegel_va"),
    Dataset(name="wierzba_be5", path=_norare("Wierzba-2015-DiscreteEmotions"), key="POLISH",
            format="be5", modality="words", language="pl", text=GLOSS,
            columns=tuple(f"POLISH_{v}_MEAN" for v in _BE5), scale=(1, 7),
            split="pair:pl_va_be5+rule", split_file="words/wierzba_be5"),
    Dataset(name="imbir_vad", path=_norare("Imbir-2021-Ratings"), key="POLISH",
            format="vad", modality="words", language="pl", text=GLOSS,
            columns=("POLISH_VALENCE_MEAN", "POLISH_AROUSAL_MEAN", "POLISH_DOMINANCE_MEAN"), scale=(1, 9),
            split="pair:pl_vad_be5+rule", split_file="words/imbir_vad"),  # pl_vad_be5 extends pl_va_be5
    # ANGST carries arousal on two scales; the 1-9 ANEW version matches its dominance scale.
    Dataset(name="schmidtke_vad", path=_norare("Schmidtke-2014-AffectiveRatings"), key="GERMAN",
            key_transform=str.lower, format="vad", modality="words", language="de", text=GLOSS,
            columns=("GERMAN_VALENCE_MEAN", "GERMAN_AROUSAL_MEAN_ANEW", "GERMAN_DOMINANCE_MEAN"),
            scale=((-3, 3), (1, 9), (1, 9)), split="pair:de_vad_be5+rule", split_file="words/schmidtke_vad"),
    Dataset(name="briesemeister_be5", path=_norare("Briesemeister-2011-DiscreteEmotions"), key="GERMAN",
            key_transform=str.lower, format="be5", modality="words", language="de", text=GLOSS,
            columns=tuple(f"GERMAN_{v}_MEAN" for v in _BE5), scale=(1, 5),
            split="pair:de_vad_be5+rule", split_file="words/briesemeister_be5"),
    Dataset(name="moors_vad", path=_norare("Moors-2013-Ratings"), key="DUTCH",
            format="vad", modality="words", language="nl", text=GLOSS,
            columns=("DUTCH_VALENCE_MEAN", "DUTCH_AROUSAL_MEAN", "DUTCH_DOMINANCE_MEAN"), scale=(1, 7),
            split=_NL_SPLIT, split_file="words/moors_vad"),
    Dataset(name="redondo_vad", path=_norare("Redondo-2007-AffectiveRatings"), key="SPANISH",
            format="vad", modality="words", language="es", text=GLOSS,
            columns=("SPANISH_VALENCE_MEAN", "SPANISH_AROUSAL_MEAN", "SPANISH_DOMINANCE_MEAN"), scale=(1, 9),
            split=_es_split("redondo_vad"), split_file="words/redondo_vad"),
    # Dutch, Speed & Brysbaert 2024: valence, arousal and BE6 (BE5 + surprise) from one population,
    # all on 1-5 (the file's metadata; valence too).
    Dataset(name="speed_va", path=_norare("Speed-2024-Emotions"), key="DUTCH",
            format="va", modality="words", language="nl", text=GLOSS,
            columns=("DUTCH_VALENCE_MEAN", "DUTCH_AROUSAL_MEAN"), scale=(1, 5),
            split=_NL_SPLIT, split_file="words/speed_va"),
    Dataset(name="speed_be6", path=_norare("Speed-2024-Emotions"), key="DUTCH",
            format="be6", modality="words", language="nl", text=GLOSS,
            columns=tuple(f"DUTCH_{v}_MEAN" for v in _BE6), scale=(1, 5),
            split=_NL_SPLIT, split_file="words/speed_be6"),
    # Spanish, a second BE5 population (Ferré 2017) and seven positive emotions (Hinojosa 2024).
    Dataset(name="ferre_be5", path=_norare("Ferre-2017-DiscreteEmotions"), key="SPANISH",
            format="be5", modality="words", language="es", text=GLOSS,
            columns=tuple(f"SPANISH_{v}_MEAN" for v in _BE5), scale=(1, 5),
            split=_es_split("ferre_be5"), split_file="words/ferre_be5"),
    Dataset(name="hinojosa_pos7", path=_norare("Hinojosa-2024-Emotions"), key="SPANISH",
            format="pos7", modality="words", language="es", text=GLOSS,
            columns=tuple(f"SPANISH_{v.upper()}_MEAN" for v in formats.POS7), scale=(1, 5),
            split=_es_split("hinojosa_pos7"), split_file="words/hinojosa_pos7"),
    # Single-format word sets (stage 2 only: no other format on their words).
    Dataset(name="coso_be5", path=_norare("Coso-2023-Emotions"), key="CROATIAN",
            format="be5", modality="words", language="hr", text=GLOSS,
            columns=tuple(f"CROATIAN_{v}_MEAN" for v in _BE5), scale=(1, 5),
            split="rule", split_file="words/coso_be5"),
    # Glasgow Norms: English words, embedded by the word itself as Warriner's are.
    Dataset(name="scott_vad", path=_norare("Scott-2019-Ratings"), key="ENGLISH",
            format="vad", modality="words", language="en",
            columns=("ENGLISH_VALENCE_MEAN", "ENGLISH_AROUSAL_MEAN", "ENGLISH_DOMINANCE_MEAN"), scale=(1, 9),
            split="rule", split_file="words/scott_vad"),
    Dataset(name="montefinese_vad", path=_norare("Montefinese-2014-AffectiveRatings"), key="ITALIAN",
            format="vad", modality="words", language="it", text=GLOSS,
            columns=("ITALIAN_VALENCE_ALL_MEAN", "ITALIAN_AROUSAL_ALL_MEAN", "ITALIAN_DOMINANCE_ALL_MEAN"),
            scale=(1, 9), split="rule", split_file="words/montefinese_vad"),
    Dataset(name="soares_vad", path=_norare("Soares-2012-AffectiveRatings"), key="PORTUGUESE",
            format="vad", modality="words", language="pt", text=GLOSS,
            columns=("PORTUGUESE_VALENCE_MEAN", "PORTUGUESE_AROUSAL_MEAN", "PORTUGUESE_DOMINANCE_MEAN"),
            scale=(1, 9), split="rule", split_file="words/soares_vad"),
    # Song 2026 rates ten emotions by female and male raters separately; the male means miss 344 of
    # the 747 rows (amusement alone 253), so only the complete female means are declared. No mapping
    # pair has emo10, so no codec has its head: not a stage-2 set of the shared space (a stage-2
    # run would refuse it) until a new-format run places emo10's head (9 of its 10 variables are
    # tied to be6/pos7 rows already).
    Dataset(name="song_emo10", path=_norare("Song-2026-Emotions"), key="CHINESE",
            format="emo10", modality="words", language="zh", text=GLOSS, stage2=False,
            columns=tuple(f"CHINESE_{v}_MEAN_FEMALE" for v in _EMO10), scale=(1, 5),
            split="rule", split_file="words/song_emo10", description="Chinese words, female raters"),
    # Texts. EmoBank's official split agrees with the headline pair's (checked when it is computed).
    Dataset(name="emobank_vad", path="emobank/emobank.csv", reader=readers.read_csv, key="id",
            format="vad", modality="texts", text="text", columns=("V", "A", "D"), scale=(1, 5),
            split="column:split", description="EmoBank, 10,062 sentences"),
    Dataset(name="afftext_be6", path=_AFFTEXT, reader=readers.read_affective_text, key_prefix="SemEval_",
            format="be6", modality="texts", text="text", stage2=False,
            columns=("joy", "anger", "sadness", "fear", "disgust", "surprise"), scale=(0, 100),
            split="pair:en_vad_be6+rule", description="SemEval-2007 Affective Text headlines"),
    # The BE5 view of the same headlines (surprise dropped), as the paper's text experiment used it.
    Dataset(name="afftext_be5", path=_AFFTEXT, reader=readers.read_affective_text, key_prefix="SemEval_",
            format="be5", modality="texts", text="text",
            columns=("joy", "anger", "sadness", "fear", "disgust"), scale=(0, 100),
            split="pair:en_vad_be6+rule"),
    # Images: BASS silhouettes rated by a US and a Chinese sample ("language" is the raters').
    Dataset(name="bass_us_va", path="bass/BASS_data.csv", reader=readers.read_bass, key="file_name",
            format="va", modality="images", files="bass/images", group="bass",
            columns=("val_mean_us", "aro_mean_us"), scale=(1, 9), split="rule", split_file="images/bass"),
    Dataset(name="bass_ch_va", path="bass/BASS_data.csv", reader=readers.read_bass, key="file_name",
            format="va", modality="images", language="zh", files="bass/images", group="bass",
            columns=("val_mean_ch", "aro_mean_ch"), scale=(1, 9), split="rule", split_file="images/bass"),
    # Texts in class formats no stage-1 pair has (new formats). ISEAR: non-commercial use only.
    Dataset(name="isear", path="isear/isear.csv", reader=readers.read_isear_table, key="MYKEY",
            format="isear7", modality="texts", text="SIT", columns="Field1",
            split="file:emotion_embeddings_splits/ISEAR_splits.json",  # leaves out the 215 non-answers
            description="ISEAR self-reported situations (CC BY-NC-SA 3.0)"),
    Dataset(name="goemotions_ekman", path="goemotions", reader=readers.read_goemotions_ekman,
            format="ekman6", modality="texts", text="text", columns="ekman", split="column:split",
            description="GoEmotions Reddit comments, 27 emotions folded into Ekman's six"),
    # Mapping pairs: the training material of stage 1.
    Pair(name="es_va_be5", a="stadthagen_va", b="stadthagen_be5", split_file="es_va_be5",
         description="Spanish words, Stadthagen-González 2017 VA ∩ 2018 BE5"),
    Pair(name="pl_va_be5", a="riegel_va", b="wierzba_be5", split_file="pl_va_be5",
         description="Polish words (NAWL), Riegel 2015 VA ∩ Wierzba 2015 BE5"),
    Pair(name="pl_vad_be5", a="imbir_vad", b="wierzba_be5", split="pair:pl_va_be5+rule",
         split_file="pl_vad_be5", description="Polish words, Imbir 2016 VAD ∩ Wierzba 2015 BE5"),
    Pair(name="de_vad_be5", a="schmidtke_vad", b="briesemeister_be5", split_file="de_vad_be5",
         description="German words, Schmidtke 2014 VAD ∩ Briesemeister 2011 BE5 (case-insensitive)"),
    Pair(name="en_vad_be6", a="emobank_vad", b="afftext_be6", split_file="en_vad_be6",
         split="file:emotion_embeddings_splits/AffTextEB_splits.json",
         description="English headlines, EmoBank VAD ∩ SemEval-2007 Affective Text BE6"),
    # More raters: a new language, a second Spanish BE5 population, and the seven
    # positive emotions, each split after the pairs of its language declared before it.
    Pair(name="nl_va_be6", a="speed_va", b="speed_be6", split_file="nl_va_be6",
         description="Dutch words, Speed & Brysbaert 2024 VA and BE6 (one file, one population)"),
    Pair(name="nl_vad_be6", a="moors_vad", b="speed_be6", split=_after(_NL_PAIRS, "nl_vad_be6"),
         split_file="nl_vad_be6", description="Dutch words, Moors 2013 VAD ∩ Speed & Brysbaert 2024 BE6"),
    Pair(name="es_va_be5_ferre", a="stadthagen_va", b="ferre_be5", split=_after(_ES_PAIRS, "es_va_be5_ferre"),
         split_file="es_va_be5_ferre", description="Spanish words, Stadthagen-González 2017 VA ∩ Ferré 2017 BE5"),
    Pair(name="es_vad_be5", a="redondo_vad", b="ferre_be5", split=_after(_ES_PAIRS, "es_vad_be5"),
         split_file="es_vad_be5", description="Spanish words, Redondo 2007 VAD ∩ Ferré 2017 BE5"),
    Pair(name="es_va_pos7", a="stadthagen_va", b="hinojosa_pos7", split=_after(_ES_PAIRS, "es_va_pos7"),
         split_file="es_va_pos7", description="Spanish words, Stadthagen-González 2017 VA ∩ Hinojosa 2024 positive emotions"),
    Pair(name="es_be5_pos7", a="stadthagen_be5", b="hinojosa_pos7", split=_after(_ES_PAIRS, "es_be5_pos7"),
         split_file="es_be5_pos7",
         description="Spanish words, Stadthagen-González 2018 BE5 ∩ Hinojosa 2024 positive emotions"),
    # Stage 2 for texts only (BsZ mapping nets, siblings): the same headlines in the BE5 view.
    Pair(name="en_vad_be5", a="emobank_vad", b="afftext_be5", split="pair:en_vad_be6+rule",
         split_file="en_vad_be5", stage1=False,
         description="English headlines, EmoBank VAD ∩ Affective Text BE5 (stage 2 only)"),
)

REGISTRY: dict[str, Dataset | Pair] = {}
_DECLARED: set[str] = set()  # names `declare` registered: a later `declare` may replace them


def register(*declarations: Dataset | Pair) -> None:
  """Adds declarations to the registry (and the new formats they declare to `emojax.formats`'). A
  name may be declared once (a name `declare` gave may be declared again: it is replaced)."""
  for d in declarations:
    if d.name in REGISTRY and d.name not in _DECLARED:
      raise ValueError(f"dataset {d.name!r} is declared twice")
    if isinstance(d, Pair):
      missing = [m for m in (d.a, d.b) if not isinstance(REGISTRY.get(m), Dataset)]
      if missing:
        raise ValueError(f"pair {d.name!r}: {missing} declared no dataset (declare them first)")
    elif d.declared_format is not None:
      formats.register_format(d.declared_format)
    REGISTRY[d.name] = d
    _DECLARED.discard(d.name)


register(*BUNDLED)
_BUNDLED_NAMES = frozenset(d.name for d in BUNDLED)


def is_bundled(name: str) -> bool:
  """Whether `name` is one of the package's own declarations (not a user's `declare`/`register`)."""
  return name in _BUNDLED_NAMES


def _resolved(d: Dataset | Pair, base: pathlib.Path, split_dir: pathlib.Path) -> Dataset | Pair:
  """`d` with its paths read from `base` and, without a split file of its own, one in `split_dir`."""
  at = lambda p: str(base / p) if p else p  # an absolute p stays as it is
  kind, arg, extended = _split_parts(d.split)
  changes = {"split": f"file:{at(arg)}{'+rule' if extended else ''}" if kind == "file" else d.split,
             "split_file": str(pathlib.Path(at(d.split_file)) if d.split_file else split_dir / d.name)}
  if isinstance(d, Dataset):
    changes |= {"path": at(d.path), "files": at(d.files)}
  return dataclasses.replace(d, **changes)


def _split_parts(rule: str) -> tuple[str, str, bool]:
  base, plus, _ = rule.partition("+")
  kind, _, arg = base.partition(":")
  return kind, arg, bool(plus)


def declare(declarations: Iterable[Dataset | Pair], *, base: str | pathlib.Path,
            split_dir: str | pathlib.Path) -> tuple[Dataset | Pair, ...]:
  """Registers your own data (a config file's `DATASETS`, in order: a pair after its datasets):
  relative paths (`path`, `files`, a `file:` split rule, `split_file`) are read from `base`, the
  config file's folder; a declaration without `split_file` gets `<split_dir>/<name>` (the run's
  workdir/splits), where its split is written on first use and read back by a rerun. A bundled
  name cannot be taken; your own may be declared again (a second run in one process). Returns
  the declarations as registered."""
  base, split_dir = pathlib.Path(base).resolve(), pathlib.Path(split_dir).resolve()
  out = []
  for d in declarations:
    if not isinstance(d, (Dataset, Pair)):
      raise TypeError(f"DATASETS holds {d!r}: only Dataset and Pair declarations")
    if is_bundled(d.name):
      raise ValueError(f"dataset {d.name!r} is a bundled dataset; give yours another name")
    resolved = _resolved(d, base, split_dir)
    register(resolved)
    _DECLARED.add(d.name)
    out.append(resolved)
  return tuple(out)


# -------------------------------------------------------------------------------------------- lookup

def get(name: str) -> Dataset | Pair:
  if name not in REGISTRY:
    raise KeyError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
  return REGISTRY[name]


def names(modality: str | None = None, *, classes: bool = False) -> tuple[str, ...]:
  """Stage-2 datasets in declaration order, of one modality (None: all), rated in a class format
  (the new-format sets) if `classes`, else in a regression format."""
  return tuple(d.name for d in REGISTRY.values()
               if isinstance(d, Dataset) and d.stage2 and modality in (None, d.modality)
               and formats.get_format(d.format).is_classes == classes)


def get_dataset(name: str, modality: str | None = None, *, classes: bool | None = None) -> Dataset:
  """A `Dataset` by name; with `modality` / `classes`, one of `names(modality, classes=...)`."""
  if modality is None and classes is None:
    known = tuple(n for n, d in REGISTRY.items() if isinstance(d, Dataset))
  else:
    known = names(modality, classes=bool(classes))
  if name not in known:
    what = "new-format " if classes else f"{modality.removesuffix('s')} " if modality else ""
    raise KeyError(f"unknown {what}dataset {name!r}; known: {list(known)}")
  return REGISTRY[name]


def pair_names(*, stage1: bool = False) -> tuple[str, ...]:
  """Mapping pairs in declaration order; `stage1`: only those stage 1 trains on by default."""
  return tuple(n for n, d in REGISTRY.items() if isinstance(d, Pair) and (d.stage1 or not stage1))


def get_pair(name: str) -> Pair:
  known = pair_names()
  if name not in known:
    raise KeyError(f"unknown mapping pair {name!r}; known: {list(known)}")
  return REGISTRY[name]


def sibling_pairs(names: Sequence[str]) -> list[Pair]:
  """Mapping pairs whose two datasets are both among `names`: the zero-shot directions and the
  datasets one multi-dataset (Mlt) encoder trains on. Any modality: datasets are the link."""
  chosen = set(names)
  return [get_pair(p) for p in pair_names() if {get_pair(p).a, get_pair(p).b} <= chosen]


def sibling_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
  """Connected components (size >= 2) of the sibling relation, in the order of `names`."""
  group_of = {n: {n} for n in names}
  for pair in sibling_pairs(names):
    merged = group_of[pair.a] | group_of[pair.b]
    for n in merged:
      group_of[n] = merged
  seen, out = set(), []
  for n in names:
    if len(group_of[n]) > 1 and n not in seen:
      out.append(tuple(m for m in names if m in group_of[n]))
      seen |= group_of[n]
  return out


def rater_groups() -> list[tuple[str, ...]]:
  """Datasets declaring one `group`: the same items rated by several populations, in one format
  (BASS US + China), which no mapping pair links."""
  out: dict[str, list[str]] = {}
  for d in REGISTRY.values():
    if isinstance(d, Dataset) and d.group:
      out.setdefault(d.group, []).append(d.name)
  return [tuple(v) for v in out.values() if len(v) > 1]


# ------------------------------------------------------------------------------------------ reading

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


def path_of(ds: Dataset) -> pathlib.Path:
  return DATA_DIR / ds.path  # an absolute `path` stays as it is


def _read_frame(ds: Dataset, needed: Iterable[str]) -> pd.DataFrame:
  path = path_of(ds)
  try:
    frame = ds.reader(path)
  except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
    raise ValueError(f"cannot read dataset {ds.name!r} from {path}: {err}") from err
  missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
  if missing:
    raise ValueError(f"{path}: columns {missing} not found (has {list(frame.columns)})")
  return frame


def _labels(ds: Dataset, frame: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
  """(keys of every row, canonical labels of every row, mask of each key's first row)."""
  fmt = formats.get_format(ds.format)
  if fmt.is_classes:
    y = readers.class_vectors(list(frame[ds.columns[0]]), fmt.name)
  else:
    raw = frame[list(ds.columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    # Header is line 1, so data row i sits on line i + 2 of the file.
    check_in_scale(raw, ds.scale, source=str(path_of(ds)), variables=ds.columns,
                   row_names=[f"{i + 2} (line)" for i in range(len(frame))])
    y = rescale(raw, ds.scale, fmt)
  keys = [ds.key_prefix + ds.key_transform(k) for k in frame[ds.key]]
  return keys, y, ~pd.Series(keys).duplicated().to_numpy()


def read_labels(ds: Dataset) -> tuple[list[str], np.ndarray]:
  """Returns (item keys, canonical labels N x V). Duplicate keys keep their first row."""
  keys, y, first = _labels(ds, _read_frame(ds, (ds.key, *ds.columns)))
  return [k for k, keep in zip(keys, first) if keep], y[first]


@dataclasses.dataclass(frozen=True)
class Table:
  """A dataset as read: one row per item (a key's first row in the file)."""

  keys: tuple[str, ...]
  y: np.ndarray  # N x V canonical labels (class formats: 0/1 rows)
  content: tuple[str, ...]  # what the content encoder reads: the text column, else the key
  parts: dict[str, str]  # key -> split part from the file's split column ("column:" rules), else {}


def split_column(ds: Dataset) -> str:
  kind, _, column = ds.split.partition(":")
  return column if kind == "column" else ""


@functools.cache
def _read_table(ds: Dataset) -> Table:
  column = split_column(ds)
  frame = _read_frame(ds, [c for c in (ds.key, *ds.columns, ds.text, column) if c])
  keys, y, first = _labels(ds, frame)
  kept = tuple(k for k, keep in zip(keys, first) if keep)

  def first_value(col: str) -> dict[str, object]:
    out = {}
    for key, value in zip(keys, frame[col]):
      out.setdefault(key, value)
    return out

  content = kept
  if ds.text:
    text_of = first_value(ds.text)
    empty = [k for k in kept if not isinstance(text_of[k], str) or not text_of[k].strip()]
    if empty:
      raise ValueError(f"dataset {ds.name!r}: no {ds.text} for {empty[:5]}")
    content = tuple(text_of[k] for k in kept)
  parts = first_value(column) if column else {}
  return Table(kept, y[first], content, parts)


def read_table(name: str | Dataset) -> Table:
  """The dataset's items, labels, encoder input and file split column, read once per declaration."""
  return _read_table(name if isinstance(name, Dataset) else get_dataset(name))


def check_readable(declarations: Iterable[Dataset | Pair]) -> None:
  """Reads every declared table once, so that a bad file, column or value is reported before a
  run starts; a pair must share items (its key columns agree)."""
  for d in declarations:
    if isinstance(d, Pair) and not item_keys(d):
      raise ValueError(f"pair {d.name!r}: datasets {d.a!r} and {d.b!r} share no item (compare "
                       f"their key columns, {get_dataset(d.a).key!r} and {get_dataset(d.b).key!r})")
    if isinstance(d, Dataset):
      read_table(d)


def item_keys(name: str | Dataset | Pair) -> tuple[str, ...]:
  """A dataset's keys in file order; a pair's shared keys, sorted."""
  d = get(name) if isinstance(name, str) else name
  if isinstance(d, Pair):
    keys_b = set(read_table(d.b).keys)
    return tuple(sorted(k for k in read_table(d.a).keys if k in keys_b))
  return read_table(d).keys
