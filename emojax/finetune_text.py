"""Stage 2 for texts, mode (b): full fine-tuning of MiniLM-L6 into the frozen emotion space.

The paper's text encoder setting (METHOD.md step 2): BERT -> mean-pooled output -> Dense 100 ->
frozen stage-1 head of the dataset's format (Sng), plus the synthetic-label term (Aug), or its own
Dense output (Bsl); AdamW 1e-5, batch 24, best dev epoch. Every BERT weight is trained; the stage-1
parameters are a separate replicated jit argument, never in the optimizer state. The step is
`jax.jit` with the batch sharded over the mesh's `data` axis (as stage 1), state replicated and
donated (the shared pieces are `emojax.finetune`). Default on GPU/TPU; on CPU it runs, slowly (~2-4 s a step at batch 24, length 64):

  python scripts/finetune_text.py                                  # full run: 10 epochs, length 128
  python scripts/finetune_text.py max_steps=150 eval_every=50 max_length=64 --workdir=/tmp/ft
  python scripts/finetune_text.py --accelerator=gpu compute_dtype=bfloat16     # bf16 compute
Writes config.json, metrics.jsonl (step, loss; dev r at each evaluation) and results.json, and
(Sng/Aug) exports the best-dev state, fine-tuned BERT + Dense 100, as model/ + model.json:
`emojax.load(workdir).predict(texts, modality="texts", fmt=...)` runs the fine-tuned encoder.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import finetune as ft, mesh as mesh_lib, text_data, train_content
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
  compute_dtype: str = "float32"  # bfloat16: BERT matmuls/activations in bf16, parameters fp32


def _part(name: str, part: str, max_items: int, max_length: int, tok) -> dict:
  keys, y_NxV, texts, _ = text_data.text_table(name)
  row = {k: i for i, k in enumerate(keys)}
  chosen = text_data.load_split(name)[part]
  chosen = chosen[:max_items] if max_items else chosen
  rows = np.asarray([row[k] for k in chosen], np.int64)
  t = bert.tokenize([texts[r] for r in rows], max_length, tokenizer=tok)
  return {"ids": t.ids_BxL, "mask": t.mask_BxL, "y": y_NxV[rows], "truncated": int(t.truncated_B.sum())}


def make_forward(bcfg: bert.BertConfig, head_dropout: float, dtype=jnp.float32):
  """BERT -> mean pool -> dropout -> Dense 100 (and Bsl's own layer). With a bf16 `dtype` the
  BERT matmuls and activations run in bf16 from fp32 parameters; pooling and heads stay fp32."""
  def forward(p, inputs, rng):
    h = bert.bert_forward(p["bert"], inputs["ids"], inputs["mask"], config=bcfg, dropout_rng=rng,
                          deterministic=rng is None, compute_dtype=dtype)
    pooled = bert.mean_pool(h.astype(jnp.float32), inputs["mask"])
    rng = None if rng is None else jax.random.fold_in(rng, 1)
    return ft.head_outputs(p, ft.dropout(pooled, head_dropout, rng))
  return forward


def finetune(cfg: FinetuneConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
             bert_params=None, bert_config: bert.BertConfig | None = None) -> dict:
  """Fine-tunes; returns {"losses": [...], "dev": [(step, r)], "best_params": ...}. `bert_params` /
  `bert_config` replace the pretrained MiniLM (tests use a tiny random BERT)."""
  text_data.check_dataset(cfg.dataset)
  heads = ft.prepare_heads(cfg.stage1, text_data.datasets.get_table(cfg.dataset).format,
                                 cfg.condition)
  dtype = ft.compute_dtype(cfg.compute_dtype)
  workdir = pathlib.Path(workdir).resolve()
  mesh = mesh_lib.make_mesh(cfg.num_devices or None)
  mesh_lib.check_batch_divides(cfg.batch_size, mesh)
  packing, fmt = heads.packing, heads.fmt
  if bert_params is None:
    bert_params, bert_config = bert.load_minilm()
  tok = bert.load_tokenizer()
  train, dev = (_part(cfg.dataset, p, cfg.max_items, cfg.max_length, tok) for p in ("train", "dev"))
  truncated = {"train": train.pop("truncated"), "dev": dev.pop("truncated")}
  train["y"] = packing.pad(train["y"])
  if cfg.condition == "Aug":
    y = train["y"][:, :fmt.size]
    train["ya"] = packing.pad(train_content.synthetic_labels(heads.stage1, fmt.name, heads.aug_format, y))

  k_init, k_own, k_train = jax.random.split(jax.random.key(cfg.seed), 3)
  params = {"bert": bert_params,
            **ft.head_params(k_init, k_own, bert_config.hidden_size, heads, cfg.condition)}
  tx = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
  state = ft.init_state(tx, params, mesh)
  rep, batch_sh = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)
  frozen = mesh_lib.put_replicated(heads.stage1.params, mesh)
  loss_fn, predict = ft.make_loss(packing, cfg.condition, heads.f, heads.fa,
                                  make_forward(bert_config, cfg.head_dropout, dtype))
  step_fn = ft.make_step(tx, loss_fn, mesh)
  eval_fn = jax.jit(lambda p, fr, inputs: predict(p, fr, inputs)[0],
                    in_shardings=(rep, rep, batch_sh), out_shardings=rep)

  def pad_row(inputs, m):
    inputs["mask"][m:, 0] = 1  # padding rows see one token: no empty rows

  def dev_r(p) -> float:
    preds = [np.asarray(eval_fn(p, frozen, inputs))[:m, :fmt.size] for inputs, m in
             ft.padded_batches({"ids": dev["ids"], "mask": dev["mask"]}, cfg.eval_batch_size,
                               mesh, pad_row)]
    return float(np.mean(train_content.host_scores(fmt, np.concatenate(preds), dev["y"])[:fmt.size]))

  results, best = ft.train_loop(cfg, workdir, title=f"fine-tune {cfg.condition}/{cfg.dataset}",
                                step_fn=step_fn, state=state, frozen=frozen, train=train,
                                dev_r=dev_r, key=k_train, mesh=mesh, seed=cfg.seed,
                                show_progress=show_progress)
  results.update(stage1={"path": str(heads.stage1.workdir), "fingerprint": heads.fingerprint},
                 dev_items=len(dev["y"]), truncated=truncated)
  if best is not None and cfg.condition in ("Sng", "Aug"):  # Bsl's own output is not served
    results["export"] = export(workdir, cfg, best, bert_config, heads, results["best_dev_r"])
  ft.write_results(workdir, results)
  results["best_params"] = best
  return results


FEATURE_KIND = "minilm_finetuned"  # model.json feature kind that `emojax.load` reads as this model


def export(workdir: pathlib.Path, cfg: FinetuneConfig, best, bert_config: bert.BertConfig,
           heads: ft.Heads, best_r: float) -> dict:
  """The best-dev BERT + Dense 100 (never Bsl's own output), for `emojax.load`."""
  feature = {"kind": FEATURE_KIND, "max_length": cfg.max_length, "dim": bert_config.hidden_size,
             "bert": dataclasses.asdict(bert_config)}
  return ft.export(workdir, cfg, {"bert": best["bert"], "embed": best["embed"]}, heads,
                   modality="texts", run=f"{cfg.condition}/{cfg.dataset}", seed=cfg.seed,
                   best_r=best_r, feature=feature)
