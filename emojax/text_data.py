"""Text datasets for stage 2: EmoBank (VAD) and Affective Text (BE5) as cached MiniLM features.

Two declarations of `emojax.datasets` with modality "texts": `emobank_vad` (10,062 sentences, 1-5
VAD) and `afftext_be5`, the BE5 view of the SemEval-2007 headlines (`afftext_be6` without surprise,
as the paper used it). Their 1,192 shared headlines (EmoBank ids `SemEval_<n>`) form the mapping pair
`en_vad_be6` of stage 1, whose split is the paper's `AffTextEB_splits.json`; `en_vad_be5` is the same
items in the BE5 view (it trains BsZ's mapping nets and links the two datasets as siblings).
Splits, aligned with stage 1 so no test headline's labels were codec training items
(`emojax.splits`): EmoBank its official `split` column (it agrees with AffTextEB on every shared
headline; checked); Affective Text the pair's split for the shared headlines, the 58 others by the
3:1:1 rule.
Features (mode (a) of issue 4, frozen backbone): all-MiniLM-L6-v2 (`emojax.encoders.bert`), mean
pooled over real tokens, not L2-normalised, max_length 128 with truncation; computed once per
(model, settings, texts) and cached on disk (`content_data.cached_features`), with progress.
"""

from __future__ import annotations

import functools
import pathlib
import sys
import time
from collections.abc import Sequence

import numpy as np

from emojax import content_data, datasets, splits

POOLING = "mean"  # pooled output = mean over real tokens (what sentence-transformers computes)
NORMALIZE = False
EXTRACT_BATCH = 64


def text_table(name: str) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...], dict[str, str]]:
  """(keys, canonical labels, text per key, official part per key or {}) of a text dataset."""
  table = datasets.read_table(datasets.get_dataset(name, "texts"))
  return table.keys, table.y, table.content, table.parts


def model_key(max_length: int) -> dict:
  from emojax.encoders import bert
  d = bert.minilm_dir()
  return {"model": bert.PACKAGE, "weights_bytes": (d / "model.safetensors").stat().st_size,
          "config": (d / "config.json").read_text(), "max_length": max_length, "pooling": POOLING,
          "normalize": NORMALIZE}


@functools.lru_cache(maxsize=2)
def _encoder(max_length: int):
  from emojax.encoders import bert
  return bert.MiniLMEncoder(max_length=max_length)


def text_features(texts: Sequence[str], max_length: int = 128, *, show_progress: bool = False,
                  notice: list | None = None) -> np.ndarray:
  """Pooled MiniLM features (N x 384 float32) of any non-empty strings; truncation at max_length.
  Empty / whitespace-only strings raise a ValueError naming the item (from `bert.tokenize`)."""
  from emojax.encoders import bert
  enc = _encoder(max_length)
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
      print(f"\rMiniLM features: {done}/{len(order)} texts, {done / dt:.0f}/s, "
            f"ETA {(len(order) - done) * dt / done:.0f} s", end="", file=sys.stderr, flush=True)
  if show_progress:
    print(file=sys.stderr)
  return out


def cached_text_features(name: str, texts: Sequence[str], max_length: int,
                         cache_dir: str | pathlib.Path, *, show_progress: bool = True) -> np.ndarray:
  def compute():
    notice = []
    x = text_features(texts, max_length, show_progress=show_progress, notice=notice)
    if notice and show_progress:
      print(f"{name}: {notice[0]} text(s) longer than {max_length} tokens were truncated",
            file=sys.stderr)
    return {"x": x}
  return content_data.cached_features(cache_dir, f"{name}.minilm{max_length}",
                                      [model_key(max_length), list(texts)], compute)["x"]


def _limit(split: dict[str, list[str]], max_items: int) -> dict[str, list[str]]:
  return {p: v[:max_items] if max_items else v for p, v in split.items()}


def load_texts(name: str, cache_dir: str | pathlib.Path, *, max_length: int = 128,
               max_items: int = 0, show_progress: bool = True) -> content_data.ContentData:
  """A text dataset as `ContentData`. `max_items` > 0 keeps the first that many items of each
  part (tests); features are computed only for the items kept."""
  keys, y_NxV, texts, _ = text_table(name)
  row = {k: i for i, k in enumerate(keys)}
  split = _limit(splits.split_of(name), max_items)
  rows = np.asarray([row[k] for p in splits.PARTS for k in split[p]], np.int64)
  x_NxD = cached_text_features(name, [texts[r] for r in rows], max_length, cache_dir,
                               show_progress=show_progress)
  at = {r: i for i, r in enumerate(rows)}
  items, x, y = {}, {}, {}
  for part in splits.PARTS:
    rr = np.asarray([row[k] for k in split[part]], np.int64)
    items[part] = list(split[part])
    x[part] = x_NxD[[at[r] for r in rr]].reshape(len(rr), -1)
    y[part] = y_NxV[rr]
  ds = datasets.get_dataset(name)
  return content_data.ContentData(name, ds.format, ds.language, items, x, y, {})  # none dropped
