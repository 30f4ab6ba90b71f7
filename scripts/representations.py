"""The representation study: every English representation to be had offline, by ridge probe.

  python scripts/representations.py words --out=/tmp/repr   # ~8 min on a 2-core CPU
  python scripts/representations.py texts --out=/tmp/repr   # ~12 min (both encoders over 11,312 texts)
  python scripts/representations.py speed --out=/tmp/repr   # items/s of the serving paths

Words: GloVe 6B 50-d, spaCy en_core_web_md 300-d, and each sentence encoder (all-MiniLM-L6-v2,
all-mpnet-base-v2) reading the word alone as a sentence (context-free), pooled per layer (0 = the
input embeddings after their layer norm, K = the last layer): `tok` = mean over the word's own
word pieces, `mean` = mean over every token with [CLS] and [SEP] (sentence-transformers' pooling),
`cls`; plus concatenations. Each is scored by
`emojax.probe.ridge_probe` (penalty chosen on dev, fitted on train, scored on test) on the items the
stage-2 word runs use (`content_data.load_words` with GloVe: its OOV and gloss-leak rules), so every
row sees the same items. Texts: both encoders' layers, pooled, on EmoBank and Affective Text.
Speed (items/s on this CPU, features only, after compilation) beside each. Prints markdown tables
and writes `<out>/<modality>.json`; features are cached under `<out>/features/`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from emojax import content_data, datasets, probe, splits, text_data  # noqa: E402
from emojax.encoders import bert, word_encoder  # noqa: E402

# The ten word sets of the paper's table (the mean of the targets).
TEN = ("warriner_vad", "stadthagen_va", "stadthagen_be5", "riegel_va", "wierzba_be5", "imbir_vad",
       "schmidtke_vad", "briesemeister_be5", "moors_vad", "redondo_vad")
WORD_SETS = TEN
ENCODERS = ("minilm", "mpnet")  # emojax.encoders.sentence_encoders


# ---------------------------------------------------------------- sentence encoders, all layers

def pools(params, ids_BxL, mask_BxL, *, config):
  """Per layer: mean over all real tokens, mean over word pieces only (no [CLS]/[SEP]), [CLS]:
  three [K+1, B, H] arrays."""
  h = bert.bert_forward(params, ids_BxL, mask_BxL, config=config, all_layers=True)
  m = mask_BxL.astype(h.dtype)
  inner = word_encoder.word_pieces(mask_BxL).astype(h.dtype)
  mean = lambda w: (h * w[None, :, :, None]).sum(2) / jnp.maximum(w.sum(1), 1.0)[None, :, None]
  return mean(m), mean(inner), h[:, :, 0]


def encoder_pools(texts, encoder: str, max_length: int = 128,
                  batch: int = 64) -> tuple[dict[str, np.ndarray], float]:
  """{"mean", "tok", "cls"} -> [K+1, N, H] float32 of a sentence encoder ("minilm", "mpnet"), and
  texts/s of the forward (after a warm-up)."""
  params, config = bert.load_model(encoder)
  tok = bert.load_tokenizer(encoder)
  ids, mask, _ = bert.tokenize(list(texts), max_length, tokenizer=tok)
  n_N = mask.sum(1)
  order = np.argsort(n_N, kind="stable")
  fn = jax.jit(pools, static_argnames="config")
  K1, H = config.num_layers + 1, config.hidden_size
  out = {k: np.zeros((K1, len(texts), H), np.float32) for k in ("mean", "tok", "cls")}
  # Speed over the batches whose shape was compiled already (the first of each length is not timed).
  seen, timed_n, timed_s = set(), 0, 0.0
  for start in range(0, len(order), batch):
    idx = order[start:start + batch]
    L = min(-(-int(n_N[idx].max()) // 8) * 8, ids.shape[1])
    b_ids = np.zeros((batch, L), np.int32)
    b_mask = np.zeros((batch, L), np.int32)
    b_ids[:len(idx)], b_mask[:len(idx)] = ids[idx, :L], mask[idx, :L]
    t0 = time.perf_counter()
    res = [np.asarray(a) for a in fn(params, b_ids, b_mask, config=config)]
    if L in seen:
      timed_n, timed_s = timed_n + len(idx), timed_s + time.perf_counter() - t0
    seen.add(L)
    for k, a in zip(("mean", "tok", "cls"), res):
      out[k][:, idx] = a[:, :len(idx)]
    print(f"\r{encoder} all layers: {min(start + batch, len(order))}/{len(order)}", end="", file=sys.stderr)
  print(file=sys.stderr)
  return out, timed_n / max(timed_s, 1e-9)


def pooled_layers(texts, encoder: str, max_length: int, batch: int) -> dict[str, np.ndarray]:
  p, rate = encoder_pools(texts, encoder, max_length=max_length, batch=batch)
  return {**p, "rate": np.float64(rate)}


def cached(path: pathlib.Path, texts, compute):
  """`compute()` once per list of texts: stored as `<path stem>.<hash of the texts>.npz`."""
  digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
  path = path.with_name(f"{path.stem}.{digest}.npz")
  if path.exists():
    with np.load(path) as f:
      return dict(f)
  arrays = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez(path, **arrays)
  return arrays


# ------------------------------------------------------------------------------------------ words

def word_representations(texts: list[str], out: pathlib.Path) -> tuple[dict, dict]:
  """name -> [N, D] over `texts`, and name -> items/s."""
  reps, speed = {}, {}
  for vec in ("glove50", "spacy300"):
    content_data.word_features(vec, texts[:10])  # load the table first: lookups only are timed
    t0 = time.perf_counter()
    x, found = content_data.word_features(vec, texts)
    speed[vec] = len(texts) / (time.perf_counter() - t0)
    reps[vec] = x
    print(f"{vec}: {int((~found).sum())} of {len(texts)} texts without a vector", file=sys.stderr)

  for encoder in ENCODERS:
    m = cached(out / "features" / f"words_{encoder}.npz", texts,
               lambda: pooled_layers(texts, encoder, max_length=32, batch=256))
    rate, K = float(m["rate"]), m["mean"].shape[0] - 1
    for k in ("mean", "tok", "cls"):
      for layer in range(K + 1):
        if k == "cls" and layer == 0:
          continue  # the [CLS] embedding before any layer is the same for every word
        reps[f"{encoder} L{layer} {k}"] = m[k][layer]
    reps[f"{encoder} L1-{K} tok avg"] = m["tok"][1:].mean(0)
    reps[f"{encoder} L0+L{K} tok"] = np.concatenate([m["tok"][0], m["tok"][K]], 1)
    speed.update({name: rate for name in reps if name.startswith(f"{encoder} ")})
  return reps, speed


def word_study(out: pathlib.Path) -> dict:
  cache = out / "features"
  tables = {n: content_data.word_table(n) for n in WORD_SETS}
  data = {n: content_data.load_words(n, "glove50", cache) for n in WORD_SETS}
  texts = sorted({t for _, _, ts in tables.values() for t in ts})
  at = {t: i for i, t in enumerate(texts)}
  reps, speed = word_representations(texts, out)
  # Concatenations of the best of each family (by Warriner dev r below, fixed here for clarity).
  reps["glove50+spacy300"] = np.concatenate([reps["glove50"], reps["spacy300"]], 1)
  for m in ("minilm L6 tok", "minilm L1-6 tok avg", "minilm L4 mean", "mpnet L3 mean", "mpnet L6 mean",
            "mpnet L1-12 tok avg"):
    reps[f"glove50+{m}"] = np.concatenate([reps["glove50"], reps[m]], 1)
    reps[f"glove50+spacy300+{m}"] = np.concatenate([reps["glove50"], reps["spacy300"], reps[m]], 1)
    speed[f"glove50+{m}"] = speed[f"glove50+spacy300+{m}"] = speed[m]
  speed["glove50+spacy300"] = min(speed["glove50"], speed["spacy300"])
  results = {}
  for name, X in reps.items():
    row = {}
    for n in WORD_SETS:
      keys, _, ts = tables[n]
      text_of = dict(zip(keys, ts))
      d = data[n]
      x = {p: X[[at[text_of[k]] for k in d.items[p]]] for p in splits.PARTS}
      r = probe.ridge_probe(x, d.y)
      row[n] = {"test": r["test_mean"], "dev": r["dev_mean"], "alpha": r["alpha"],
                "test_vars": r["test"].tolist()}
    row["_mean"] = float(np.mean([row[n]["test"] for n in TEN]))
    row["_dim"], row["_items_per_s"] = int(X.shape[1]), speed.get(name)
    results[name] = row
    print(f"{name:34s} D={X.shape[1]:5d} warriner {row['warriner_vad']['test']:.3f} "
          f"mean10 {row['_mean']:.3f}", file=sys.stderr, flush=True)
  return results


def word_markdown(results: dict) -> str:
  short = [n.split("_")[0][:6] + "_" + n.split("_")[1] for n in WORD_SETS]
  lines = ["| representation | D | " + " | ".join(short) + " | mean of 10 | words/s |",
           "|---|---|" + "---|" * len(short) + "---|---|"]
  for name, row in sorted(results.items(), key=lambda kv: -kv[1]["_mean"]):
    cells = " | ".join(f"{row[n]['test']:.3f}" for n in WORD_SETS)
    sp = row["_items_per_s"]
    lines.append(f"| {name} | {row['_dim']} | {cells} | **{row['_mean']:.3f}** | "
                 f"{sp:,.0f} |" if sp else f"| {name} | {row['_dim']} | {cells} | **{row['_mean']:.3f}** | |")
  return "\n".join(lines)


# ------------------------------------------------------------------------------------------ texts

def text_study(out: pathlib.Path) -> dict:
  names = datasets.names("texts")
  tables = {n: text_data.text_table(n) for n in names}
  split = {n: splits.split_of(n) for n in names}
  texts = sorted({t for _, _, ts, _ in tables.values() for t in ts})
  at = {t: i for i, t in enumerate(texts)}

  reps, speed = {}, {}
  for encoder in ENCODERS:
    m = cached(out / "features" / f"texts_{encoder}.npz", texts,
               lambda: pooled_layers(texts, encoder, max_length=128, batch=64))
    K = m["mean"].shape[0] - 1
    for k in ("mean", "tok", "cls"):
      for layer in range(1, K + 1):
        reps[f"{encoder} L{layer} {k}"] = m[k][layer]
    reps[f"{encoder} L1-{K} mean avg"] = m["mean"][1:].mean(0)
    reps[f"{encoder} L{K // 2}-{K} mean avg"] = m["mean"][K // 2:].mean(0)
    reps[f"{encoder} L{K} mean+cls"] = np.concatenate([m["mean"][K], m["cls"][K]], 1)
    last = m["mean"][K]
    reps[f"{encoder} L{K} mean, L2-normalised"] = last / np.linalg.norm(last, axis=1, keepdims=True)
    speed.update({name: float(m["rate"]) for name in reps if name.startswith(f"{encoder} ")})
  results = {}
  for name, X in reps.items():
    row = {}
    for n in names:
      keys, y, ts, _ = tables[n]
      row_of = {k: i for i, k in enumerate(keys)}
      x = {p: X[[at[ts[row_of[k]]] for k in split[n][p]]] for p in splits.PARTS}
      yy = {p: y[[row_of[k] for k in split[n][p]]] for p in splits.PARTS}
      r = probe.ridge_probe(x, yy)
      row[n] = {"test": r["test_mean"], "dev": r["dev_mean"], "alpha": r["alpha"],
                "test_vars": r["test"].tolist()}
    row["_dim"], row["_items_per_s"] = int(X.shape[1]), speed[name]
    results[name] = row
    print(f"{name:34s} " + " ".join(f"{n} {row[n]['test']:.3f}" for n in names), file=sys.stderr, flush=True)
  return results


def text_markdown(results: dict) -> str:
  names = datasets.names("texts")
  lines = ["| representation | D | " + " | ".join(names) + " | texts/s |", "|---|---|" + "---|" * len(names) + "---|"]
  for name, row in sorted(results.items(), key=lambda kv: -kv[1][names[0]]["test"]):
    lines.append(f"| {name} | {row['_dim']} | " + " | ".join(f"{row[n]['test']:.3f}" for n in names)
                 + f" | {row['_items_per_s']:.0f} |")
  return "\n".join(lines)


# ------------------------------------------------------------------------------------------ speed

def speed_study(n_words: int = 2048, n_texts: int = 512) -> dict:
  """Items/s of the serving paths on this CPU, after compilation: word features of the first
  `n_words` Warriner words (`content_data.word_features`), sentence features of the first
  `n_texts` EmoBank texts at max_length 128 (`text_data.text_features`) with each encoder and
  pooling the texts models use."""
  _, _, texts = content_data.word_table("warriner_vad")
  words = list(texts[:n_words])
  out = {}
  for name in ("glove50", "spacy300", "minilm_l4", "minilm_l6", "glove50+minilm_l4", "mpnet_tokavg",
               "glove50+mpnet_tokavg"):
    content_data.word_features(name, words)  # load tables, compile every shape
    t0 = time.perf_counter()
    content_data.word_features(name, words)
    out[name] = len(words) / (time.perf_counter() - t0)
  _, _, sentences, _ = text_data.text_table("emobank_vad")
  sentences = list(sentences[:n_texts])
  for encoder, pooling in (("minilm", "last"), ("mpnet", "last"), ("mpnet", "layers")):
    text_data.text_features(sentences, 128, encoder=encoder, pooling=pooling)
    t0 = time.perf_counter()
    text_data.text_features(sentences, 128, encoder=encoder, pooling=pooling)
    out[f"{encoder} {pooling} (texts, max_length 128)"] = len(sentences) / (time.perf_counter() - t0)
  return out


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("modality", choices=("words", "texts", "speed"))
  ap.add_argument("--out", default="/tmp/representations")
  args = ap.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  if args.modality == "speed":
    results = speed_study()
    (out / "speed.json").write_text(json.dumps(results, indent=1))
    print("\n".join(f"| {k} | {v:,.0f} items/s |" for k, v in results.items()))
    return
  results = word_study(out) if args.modality == "words" else text_study(out)
  (out / f"{args.modality}.json").write_text(json.dumps(results, indent=1))
  print((word_markdown if args.modality == "words" else text_markdown)(results))


if __name__ == "__main__":
  main()
