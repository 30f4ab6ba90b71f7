"""Text datasets for stage 2: EmoBank (VAD) and Affective Text (BE5) as cached sentence-encoder features.

Two declarations of `emojax.datasets` with modality "texts": `emobank_vad` (10,062 sentences, 1-5
VAD) and `afftext_be5`, the BE5 view of the SemEval-2007 headlines (`afftext_be6` without surprise,
as the paper used it). Their 1,192 shared headlines (EmoBank ids `SemEval_<n>`) form the mapping pair
`en_vad_be6` of stage 1, whose split is the paper's `AffTextEB_splits.json`; `en_vad_be5` is the same
items in the BE5 view (it trains BsZ's mapping nets and links the two datasets as siblings).
Splits, aligned with stage 1 so no test headline's labels were codec training items
(`emojax.splits`): EmoBank its official `split` column (it agrees with AffTextEB on every shared
headline; checked); Affective Text the pair's split for the shared headlines, the 58 others by the
3:1:1 rule.
Features (frozen backbone): a sentence encoder of `emojax.encoders.sentence_encoders` ("minilm",
all-MiniLM-L6-v2, the default; "mpnet", all-mpnet-base-v2), mean pooled over real tokens of the
last layer or averaged over all layers (`bert.POOLINGS`), not L2-normalised, truncated at
max_length; computed once per (model, settings, texts) and cached on disk
(`content_data.cached_features`), with progress. A model's feature record (`feature_record`: the
encoder's name as `"kind"`, `"max_length"`, `"pooling"` unless "last") says how `emojax.api` reads
new texts; `settings` turns it back into the keyword arguments of the functions here.
"""

from __future__ import annotations

import functools
import pathlib
import sys
import time
from collections.abc import Sequence

import numpy as np

from emojax import content_data, datasets, splits
from emojax.encoders import sentence_encoders

POOLING = "mean"  # pooled output = mean over real tokens (what sentence-transformers computes)
NORMALIZE = False
EXTRACT_BATCH = 64


def text_table(name: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...], dict[str, str]]:
  """(keys, canonical labels, text per key, official part per key or {}) of a text dataset, or of
  a word dataset read as one-word texts (the word, or a non-English word's English gloss)."""
  modality = "words" if name in datasets.names("words") else "texts"
  table = datasets.read_table(datasets.get_dataset(name, modality))
  return table.keys, table.y, table.content, table.parts


def model_key(max_length: int, encoder: str = "minilm", pooling: str = "last") -> dict:
  d = sentence_encoders.model_dir(encoder)
  # MiniLM's key predates the choice of encoder: kept, so its cached features stay valid.
  name = sentence_encoders.MINILM_PACKAGE if encoder == "minilm" else sentence_encoders.get(encoder).title
  return {"model": name, "weights_bytes": (d / "model.safetensors").stat().st_size,
          "config": (d / "config.json").read_text(), "max_length": max_length,
          "pooling": POOLING if pooling == "last" else f"{POOLING} of every layer's mean",
          "normalize": NORMALIZE}


def feature_record(encoder: str, max_length: int, pooling: str, dim: int) -> dict:
  """What a text model's model.json records of its features (no "pooling" for the last layer: the
  record of every model before pooling was a choice)."""
  return {"kind": encoder, "max_length": max_length, **({"pooling": pooling} if pooling != "last" else {}),
          "dim": dim}


def settings(feature: dict) -> dict:
  """A feature record as the keyword arguments of `text_features` and friends."""
  return {"max_length": feature["max_length"], "encoder": feature["kind"],
          "pooling": feature.get("pooling", "last")}


def is_text_feature(feature: dict) -> bool:
  """Whether a model's feature record is frozen sentence-encoder features (vs. words, images,
  fine-tuned backbones)."""
  return feature["kind"] in sentence_encoders.ENCODERS


@functools.lru_cache(maxsize=2)
def _encoder(max_length: int, encoder: str, pooling: str = "last"):
  from emojax.encoders import bert
  return bert.TextEncoder(encoder, max_length=max_length, pooling=pooling)


def text_features(texts: Sequence[str], max_length: int = 128, *, encoder: str = "minilm",
                  pooling: str = "last", show_progress: bool = False,
                  notice: list | None = None) -> np.ndarray:
  """Pooled features (N x hidden float32) of any non-empty strings by the named sentence encoder;
  truncation at max_length. Empty / whitespace-only strings raise a ValueError naming the item
  (from `bert.tokenize`)."""
  from emojax.encoders import bert
  enc = _encoder(max_length, encoder, pooling)
  tokens = bert.tokenize(texts, max_length, tokenizer=enc.tokenizer)  # once: also what is cut
  if notice is not None and tokens.truncated_B.any():
    notice.append(int(tokens.truncated_B.sum()))
  chunk = EXTRACT_BATCH * 16
  if len(texts) <= chunk:
    return enc.embed_tokens(tokens, batch_size=EXTRACT_BATCH, normalize=NORMALIZE)
  # Long lists: chunks in length order (few compiled shapes per chunk), with rate and ETA.
  order = np.argsort([len(t) for t in texts], kind="stable")
  out = np.zeros((len(texts), enc.config.hidden_size), np.float32)
  t0 = time.perf_counter()
  for start in range(0, len(order), chunk):
    idx = order[start:start + chunk]
    out[idx] = enc.embed([texts[i] for i in idx], batch_size=EXTRACT_BATCH, normalize=NORMALIZE)
    if show_progress:
      done, dt = min(start + chunk, len(order)), time.perf_counter() - t0
      print(f"\r{encoder} features: {done}/{len(order)} texts, {done / dt:.0f}/s, "
            f"ETA {(len(order) - done) * dt / done:.0f} s", end="", file=sys.stderr, flush=True)
  if show_progress:
    print(file=sys.stderr)
  return out


def cached_text_features(name: str, texts: Sequence[str], max_length: int,
                         cache_dir: str | pathlib.Path, *, encoder: str = "minilm",
                         pooling: str = "last", show_progress: bool = True) -> np.ndarray:
  def compute():
    notice = []
    x = text_features(texts, max_length, encoder=encoder, pooling=pooling, show_progress=show_progress,
                      notice=notice)
    if notice and show_progress:
      print(f"{name}: {notice[0]} text(s) longer than {max_length} tokens were truncated",
            file=sys.stderr)
    return {"x": x}
  layers = "" if pooling == "last" else f".{pooling}"
  return content_data.cached_features(cache_dir, f"{name}.{encoder}{max_length}{layers}",
                                      [model_key(max_length, encoder, pooling), list(texts)], compute)["x"]


def _limit(split: dict[str, list[str]], max_items: int) -> dict[str, list[str]]:
  return {p: v[:max_items] if max_items else v for p, v in split.items()}


def load_texts(name: str, cache_dir: str | pathlib.Path, *, max_length: int = 128,
               encoder: str = "minilm", pooling: str = "last", max_items: int = 0,
               show_progress: bool = True) -> content_data.ContentData:
  """A text dataset as `ContentData`. `max_items` > 0 keeps the first that many items of each
  part (tests); features are computed only for the items kept. A word dataset is read as one-word
  texts; as for word features (`content_data.load_words`), its dev and test words whose text is a
  training word's of a sibling table are left out."""
  keys, y_NxV, texts, _ = text_table(name)
  row = {k: i for i, k in enumerate(keys)}
  split = splits.split_of(name)
  ds = datasets.get_dataset(name)
  dropped = {}
  if ds.modality == "words":
    leaks = content_data.sibling_train_leaks(name, split, dict(zip(keys, texts)))
    split = {p: [k for k in v if k not in leaks[p]] for p, v in split.items()}
    dropped = {"gloss_in_sibling_train": {p: len(v) for p, v in leaks.items()}}
  split = _limit(split, max_items)
  rows = np.asarray([row[k] for p in splits.PARTS for k in split[p]], np.int64)
  x_NxD = cached_text_features(name, [texts[r] for r in rows], max_length, cache_dir,
                               encoder=encoder, pooling=pooling, show_progress=show_progress)
  at = {r: i for i, r in enumerate(rows)}
  items, x, y = {}, {}, {}
  for part in splits.PARTS:
    rr = np.asarray([row[k] for k in split[part]], np.int64)
    items[part] = list(split[part])
    x[part] = x_NxD[[at[r] for r in rr]].reshape(len(rr), -1)
    y[part] = y_NxV[rr]
  return content_data.ContentData(name, ds.format, ds.language, items, x, y, dropped)
