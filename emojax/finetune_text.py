"""Stage 2 for texts, mode (b): full fine-tuning of MiniLM-L6 into the frozen emotion space.

The paper's text encoder setting (METHOD.md step 2): BERT -> mean-pooled output -> Dense 100 ->
frozen stage-1 head of the dataset's format (Sng), plus the synthetic-label term (Aug), or its own
Dense output (Bsl); AdamW 1e-5, batch 24, best dev epoch. Every BERT weight is trained; the stage-1
parameters are a separate replicated jit argument, never in the optimizer state. The step is
`jax.jit` with the batch sharded over the mesh's `data` axis (as stage 1), state replicated and
donated. Default on GPU/TPU; on CPU it runs, slowly (~2-4 s a step at batch 24, length 64):

  python scripts/finetune_text.py                                  # full run: 10 epochs, length 128
  python scripts/finetune_text.py max_steps=150 eval_every=50 max_length=64 --workdir=/tmp/ft
Writes config.json, metrics.jsonl (step, loss; dev r at each evaluation) and results.json, and
(Sng/Aug) exports the best-dev state, fine-tuned BERT + Dense 100, as model/ + model.json:
`emojax.load(workdir).predict(texts, modality="texts", fmt=...)` runs the fine-tuned encoder.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import checkpoint, codec, formats, mesh as mesh_lib, progress, splits, text_data
from emojax import config as config_lib
from emojax import train_content
from emojax.encoders import bert


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  stage1: str = "checkpoints/mapping"
  dataset: str = "emobank_vad"
  condition: str = "Sng"  # Bsl | Sng | Aug
  learning_rate: float = 1e-5
  weight_decay: float = 0.01
  batch_size: int = 24  # must divide over the devices of the mesh
  epochs: int = 10
  max_steps: int = 0  # > 0: stop after this many steps (CPU demonstrations)
  eval_every: int = 0  # steps between dev evaluations; 0 = once per epoch
  max_length: int = 128
  head_dropout: float = 0.1  # on the pooled output, before Dense 100
  max_items: int = 0  # > 0: first that many items per split part (tests)
  eval_batch_size: int = 64
  seed: int = 0
  num_devices: int = 0


def _part(name: str, part: str, max_items: int, max_length: int, tok) -> dict:
  keys, y_NxV, texts, _ = text_data._table(name)
  row = {k: i for i, k in enumerate(keys)}
  chosen = text_data.load_split(name)[part]
  chosen = chosen[:max_items] if max_items else chosen
  rows = np.asarray([row[k] for k in chosen], np.int64)
  t = bert.tokenize([texts[r] for r in rows], max_length, tokenizer=tok)
  return {"ids": t.ids_BxL, "mask": t.mask_BxL, "y": y_NxV[rows], "truncated": int(t.truncated_B.sum())}


def make_loss(packing: codec.Packing, bcfg: bert.BertConfig, cond: str, f: int, fa: int,
              head_dropout: float):
  def forward(p, ids, mask, rng):
    h = bert.bert_forward(p["bert"], ids, mask, config=bcfg, dropout_rng=rng,
                          deterministic=rng is None)
    pooled = bert.mean_pool(h, mask)
    if rng is not None and head_dropout:
      keep = jax.random.bernoulli(jax.random.fold_in(rng, 1), 1 - head_dropout, pooled.shape)
      pooled = jnp.where(keep, pooled / (1 - head_dropout), 0.0)
    e = pooled @ p["embed"]["kernel"] + p["embed"]["bias"]
    own = pooled @ p["own"]["kernel"] + p["own"]["bias"] if "own" in p else None
    return e, own

  def predict(p, frozen, ids, mask, rng=None):
    e, own = forward(p, ids, mask, rng)
    return (own if cond == "Bsl" else codec.decode(frozen, packing, f, e)), e

  def loss_fn(p, frozen, batch, rng):
    pred, e = predict(p, frozen, batch["ids"], batch["mask"], rng)
    loss = codec.masked_loss(packing, f, pred, batch["y"])
    if cond == "Aug":
      loss += codec.masked_loss(packing, fa, codec.decode(frozen, packing, fa, e), batch["ya"])
    return loss

  return loss_fn, predict


def finetune(cfg: FinetuneConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
             bert_params=None, bert_config: bert.BertConfig | None = None) -> dict:
  """Fine-tunes; returns {"losses": [...], "dev": [(step, r)], "best": ...}. `bert_params` /
  `bert_config` replace the pretrained MiniLM (tests use a tiny random BERT)."""
  if cfg.condition not in ("Bsl", "Sng", "Aug"):
    raise ValueError(f"condition must be Bsl, Sng or Aug, got {cfg.condition!r}")
  text_data.check_dataset(cfg.dataset)
  workdir = pathlib.Path(workdir).resolve()
  mesh = mesh_lib.make_mesh(cfg.num_devices or None)
  mesh_lib.check_batch_divides(cfg.batch_size, mesh)
  stage1, fingerprint = train_content.load_stage1(cfg.stage1)
  packing = stage1.packing
  fmt = formats.get_format(text_data.datasets.get_table(cfg.dataset).format)
  f = packing.index(fmt.name)
  aug_fmt = train_content.augment_map(train_content.ContentConfig()).get(fmt.name)
  fa = packing.index(aug_fmt) if cfg.condition == "Aug" else f
  if bert_params is None:
    bert_params, bert_config = bert.load_minilm()
  tok = bert.load_tokenizer()
  train, dev = (_part(cfg.dataset, p, cfg.max_items, cfg.max_length, tok) for p in ("train", "dev"))
  train["y"] = packing.pad(train["y"])
  if cfg.condition == "Aug":
    train["ya"] = packing.pad(train_content.synthetic_labels(stage1, fmt.name, aug_fmt, train["y"][:, :fmt.size]))

  rng = jax.random.key(cfg.seed)
  k_init, k_own, k_train = jax.random.split(rng, 3)
  H, E = bert_config.hidden_size, stage1.config.codec.embedding_dim
  dense = lambda k, n: {"kernel": jax.random.truncated_normal(k, -2, 2, (H, n)) / 0.8796 / np.sqrt(H),
                        "bias": jnp.zeros(n)}
  # Own buffers: the state is donated, and the caller's arrays must survive the run.
  params = {"bert": jax.tree.map(jnp.copy, bert_params), "embed": dense(k_init, E)}
  if cfg.condition == "Bsl":
    params["own"] = dense(k_own, packing.width)
  tx = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
  rep, batch_sh = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)
  state = jax.device_put({"params": params, "opt": tx.init(params)}, rep)
  frozen = jax.device_put(stage1.params, rep)
  loss_fn, predict = make_loss(packing, bert_config, cfg.condition, f, fa, cfg.head_dropout)

  def step(state, frozen, batch, key):
    loss, grads = jax.value_and_grad(loss_fn)(state["params"], frozen, batch, key)
    updates, opt = tx.update(grads, state["opt"], state["params"])
    finite = jnp.isfinite(loss)
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, {"loss": loss, "finite": finite}

  step_fn = jax.jit(step, in_shardings=(rep, rep, batch_sh, rep), out_shardings=(rep, rep),
                    donate_argnums=(0,))
  eval_fn = jax.jit(lambda p, fr, ids, mask: predict(p, fr, ids, mask)[0],
                    in_shardings=(rep, rep, batch_sh, batch_sh), out_shardings=batch_sh)

  def dev_r(p) -> float:
    B, n = cfg.eval_batch_size, len(dev["y"])
    B = -(-B // mesh.size) * mesh.size
    preds = []
    for s in range(0, n, B):
      ids = np.zeros((B, dev["ids"].shape[1]), np.int32)
      mask = np.zeros_like(ids)
      m = min(B, n - s)
      ids[:m], mask[:m] = dev["ids"][s:s + m], dev["mask"][s:s + m]
      mask[m:, 0] = 1  # padding rows see one token: no empty rows
      preds.append(np.asarray(eval_fn(p, frozen, ids, mask))[:m, :fmt.size])
    return float(np.mean(train_content.host_scores(fmt, np.concatenate(preds), dev["y"])[:fmt.size]))

  n, B = len(train["y"]), cfg.batch_size
  per_epoch = max(n // B, 1)
  total = cfg.max_steps or per_epoch * cfg.epochs
  eval_every = cfg.eval_every or per_epoch
  if mesh_lib.is_writer():
    workdir.mkdir(parents=True, exist_ok=True)
    config_lib.dump(cfg, workdir / "config.json")
  log = open(workdir / "metrics.jsonl", "w") if mesh_lib.is_writer() else None
  bar = progress.Progress(total, f"fine-tune {cfg.condition}/{cfg.dataset}",
                          enabled=show_progress and mesh_lib.is_writer())
  losses, devs, best, best_r, order = [], [], None, -np.inf, None
  t0 = time.perf_counter()
  for s in range(total):
    if s % per_epoch == 0:
      order = np.random.RandomState(cfg.seed * 1000 + s // per_epoch).permutation(n)
    idx = order[(s % per_epoch) * B:(s % per_epoch) * B + B]
    batch = {k: train[k][idx] for k in ("ids", "mask", "y") + (("ya",) if "ya" in train else ())}
    state, out = step_fn(state, frozen, batch, jax.random.fold_in(k_train, s))
    loss = float(out["loss"])
    if not np.isfinite(loss):
      raise FloatingPointError(f"non-finite loss at step {s + 1}")
    losses.append(loss)
    record = {"step": s + 1, "loss": loss}
    if (s + 1) % eval_every == 0 or s + 1 == total:
      r = dev_r(state["params"])
      devs.append((s + 1, r))
      record["dev_r"] = r
      if r > best_r:
        best_r, best = r, jax.device_get(state["params"])
    if log:
      log.write(json.dumps(record) + "\n")
      log.flush()
    bar.update(s + 1, loss=loss)
  if log:
    log.close()
  wall = time.perf_counter() - t0
  k = max(1, min(10, len(losses) // 5))
  results = {"config": config_lib.to_dict(cfg), "stage1": {"path": str(stage1.workdir), "fingerprint": fingerprint},
             "steps": total, "first_loss": losses[0], "last_loss": losses[-1],
             f"mean_loss_first_{k}": float(np.mean(losses[:k])), f"mean_loss_last_{k}": float(np.mean(losses[-k:])),
             "dev": devs, "best_dev_r": best_r, "train_items": n, "dev_items": len(dev["y"]),
             "truncated": {"train": train["truncated"], "dev": dev["truncated"]},
             "wall_s": wall, "s_per_step": wall / total, "device": f"{mesh.size} x {jax.devices()[0].device_kind}"}
  if best is not None and cfg.condition in ("Sng", "Aug"):  # Bsl's own output is not served
    results["export"] = export(workdir, cfg, best, bert_config, packing, results["stage1"], best_r)
  if mesh_lib.is_writer():
    (workdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
  results["best_params"] = best
  results["losses"] = losses
  return results


FEATURE_KIND = "minilm_finetuned"  # model.json feature kind that `emojax.load` reads as this model


def export(workdir: pathlib.Path, cfg: FinetuneConfig, best, bert_config: bert.BertConfig,
           packing: codec.Packing, stage1: dict, best_r: float) -> dict:
  """Exports the best-dev parameters (BERT + Dense 100; never Bsl's own output) the way the
  content stage does: checkpoint.export_model, stage "content", with the stage-1 fingerprint."""
  meta = {"modality": "texts",
          "encoder": {"run": f"{cfg.condition}/{cfg.dataset} (fine-tuned)", "seed": cfg.seed,
                      "best_dev": best_r},
          "feature": {"kind": FEATURE_KIND, "max_length": cfg.max_length,
                      "dim": bert_config.hidden_size, "bert": dataclasses.asdict(bert_config)},
          "stage1": stage1}
  checkpoint.export_model(workdir, {"bert": best["bert"], "embed": best["embed"]}, packing.layout,
                          cfg, stage="content", seed=cfg.seed, extra=meta)
  return meta
