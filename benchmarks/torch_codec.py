"""The stage-1 emotion codec in plain PyTorch (CPU): the reference that `bench_mapping_vs_torch.py` times.

Same model, losses and schedule as stage 1 (docs/method.md) and the authors' PyTorch code
(JULIELab/emotion-embeddings, `experiments/mapping/multitask.py`), written the way PyTorch is
normally written:
- one label encoder per FORMAT (Linear 128, LeakyReLU 0.01, Dropout 0.2, Linear 128, LeakyReLU,
  Dropout 0.2, Linear 100) and one bias-free head per format (Linear 100 -> n_vars, bias=False);
- loss of a batch from mapping dataset (A, B): reconstruction of both + mapping both ways
  + MSE(e_A, e_B) + mean over tied head rows of (1 - cos) (valence~valence, arousal~arousal,
  joy~joy, ... across the formats present); terms whose target is a class format weigh 0.1;
- Adam 1e-3 over all parameters, batch 32, a Python loop with one optimizer step per batch, each
  step from ONE mapping dataset chosen uniformly at random.
Deliberately *not* a straw man: the labels sit in tensors once (rows are drawn with
`torch.randint`, with replacement, as emojax does) instead of the authors' per-item DataLoader
collation, and the soft-sharing term is one gather from the concatenated heads instead of a
Python list of row tensors per step. Both make this faster than the authors' code, so a speed
ratio against it is a lower bound on the ratio against theirs. No dev evaluation is timed here.

    PYTHONPATH=. ~/benchenv/bin/python benchmarks/torch_codec.py   # prints steps/s

Needs torch (benchmarks/requirements.txt), numpy and pandas; the data come from
`emojax.mapping_data`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emojax import formats, mapping_data

EMBEDDING, HIDDEN, DROPOUT, SLOPE = 100, 128, 0.2, 0.01
CLASS_TARGET_WEIGHT = 0.1


class LabelEncoder(nn.Module):
  def __init__(self, num_inputs: int):
    super().__init__()
    self.net = nn.Sequential(
        nn.Linear(num_inputs, HIDDEN), nn.LeakyReLU(SLOPE), nn.Dropout(DROPOUT),
        nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(SLOPE), nn.Dropout(DROPOUT),
        nn.Linear(HIDDEN, EMBEDDING))

  def forward(self, y):
    return self.net(y)


class EmotionCodec(nn.Module):
  """Encoders and heads keyed by format name; `tie_pairs` index rows of the concatenated heads."""

  def __init__(self, format_names: Sequence[str]):
    super().__init__()
    self.format_names = list(dict.fromkeys(format_names))
    fmts = [formats.get_format(n) for n in self.format_names]
    self.enc = nn.ModuleDict({f.name: LabelEncoder(f.size) for f in fmts})
    self.dec = nn.ModuleDict({f.name: nn.Linear(EMBEDDING, f.size, bias=False) for f in fmts})
    # Equivalence classes by concept (valence in VA and VAD, joy in BE5 and BE6, ...): every pair
    # of rows sharing a concept, as row indices into torch.cat of all head weights.
    rows, start = {}, 0
    for f in fmts:
      for i, concept in enumerate(f.concepts):
        rows.setdefault(concept, []).append(start + i)
      start += f.size
    pairs = [p for r in rows.values() for p in itertools.combinations(r, 2)]
    self.register_buffer("tie_pairs", torch.tensor(pairs, dtype=torch.long).reshape(-1, 2))

  def target_loss(self, name: str, pred, y):
    kind = formats.get_format(name).kind
    if kind == formats.REGRESSION:
      return F.mse_loss(pred, y)
    if kind == formats.CLASSES:
      return CLASS_TARGET_WEIGHT * F.cross_entropy(pred, y.argmax(-1))
    return CLASS_TARGET_WEIGHT * F.binary_cross_entropy_with_logits(pred, y)

  def sharing_loss(self):
    if not len(self.tie_pairs):
      return torch.zeros((), device=self.tie_pairs.device)
    bank = torch.cat([self.dec[n].weight for n in self.format_names])
    return (1.0 - F.cosine_similarity(bank[self.tie_pairs[:, 0]], bank[self.tie_pairs[:, 1]], dim=-1)).mean()

  def pair_loss(self, fa: str, fb: str, y_a, y_b):
    e_a, e_b = self.enc[fa](y_a), self.enc[fb](y_b)
    reconstruction = self.target_loss(fa, self.dec[fa](e_a), y_a) + self.target_loss(fb, self.dec[fb](e_b), y_b)
    mapping = self.target_loss(fb, self.dec[fb](e_a), y_b) + self.target_loss(fa, self.dec[fa](e_b), y_a)
    return reconstruction + mapping + F.mse_loss(e_a, e_b) + self.sharing_loss()


def load_datasets(pair_names: Sequence[str] = mapping_data.DEFAULT_PAIRS, device: str = "cpu"):
  """[(format_a, format_b, labels_a, labels_b)] of every mapping dataset's train part, as tensors
  on `device` (bench_gpu.py times the same loop on "cuda")."""
  out = []
  for name in pair_names:
    data = mapping_data.load_pair(name)
    fa, fb = data.pair.formats
    out.append((fa, fb, torch.as_tensor(np.asarray(data.a["train"], np.float32), device=device),
                torch.as_tensor(np.asarray(data.b["train"], np.float32), device=device)))
  return out


class Trainer:
  """The authors' loop: pick a dataset uniformly, draw a batch, forward, backward, Adam step."""

  def __init__(self, datasets, batch_size: int = 32, seed: int = 0, learning_rate: float = 1e-3):
    torch.manual_seed(seed)
    self.rng = random.Random(seed)
    self.datasets, self.batch_size = datasets, batch_size
    self.device = datasets[0][2].device  # the model lives where the labels do
    self.model = EmotionCodec([f for fa, fb, _, _ in datasets for f in (fa, fb)]).to(self.device)
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate)
    self.model.train()  # dropout on

  def step(self) -> torch.Tensor:
    fa, fb, y_a, y_b = self.rng.choice(self.datasets)
    idx = torch.randint(len(y_a), (self.batch_size,), device=self.device)
    self.optimizer.zero_grad()
    loss = self.model.pair_loss(fa, fb, y_a[idx], y_b[idx])
    loss.backward()
    self.optimizer.step()
    return loss

  def run(self, num_steps: int) -> float:
    for _ in range(num_steps):
      loss = self.step()
    return float(loss.detach())


def steps_per_second(num_steps: int, batch_size: int = 32, threads: int | None = None,
                     warmup: int = 50, datasets=None) -> float:
  """Training steps per second over `num_steps` timed steps, after `warmup` untimed ones.

  `threads` sets torch's intra-op thread count for the measurement (None: torch's default, which
  on this loaded 2-core machine ran ~10-20x slower than threads=1: OpenMP threads wait for cores
  that other processes hold)."""
  previous = torch.get_num_threads()
  if threads is not None:
    torch.set_num_threads(threads)
  try:
    trainer = Trainer(datasets if datasets is not None else load_datasets(), batch_size)
    trainer.run(warmup)
    start = time.perf_counter()
    loss = trainer.run(num_steps)
    elapsed = time.perf_counter() - start
    if not np.isfinite(loss):
      raise FloatingPointError(f"PyTorch codec diverged: loss {loss}")
    return num_steps / elapsed
  finally:
    torch.set_num_threads(previous)


if __name__ == "__main__":
  data = load_datasets()
  for b in (32, 256):  # 1 thread: torch's default 2 collapse on this shared 2-core machine
    print(f"batch {b}: {steps_per_second(300, b, threads=1, datasets=data):,.0f} steps/s "
          f"(torch {torch.__version__}, 1 thread)")
