"""Stage 2 for texts, mode (b): full fine-tuning of MiniLM-L6 into the frozen emotion space.

The paper's text encoder setting (docs/method.md): BERT -> mean-pooled output -> Dense 100 ->
frozen stage-1 head of the dataset's format (Sng), plus the synthetic-label term (Aug), or its own
Dense output (Bsl); AdamW 1e-5, batch 24, best dev epoch. Every BERT weight is trained; the stage-1
parameters are a separate replicated jit argument, never in the optimizer state. The step is
`jax.jit` with the batch sharded over the mesh's `data` axis (as stage 1), state replicated and
donated (the shared pieces are `emojax.finetune`). Default on GPU/TPU; on CPU it runs, slowly
(~2-4 s a step at batch 24, length 64):

  python launch/content.py --config=configs/texts_finetune.py --accelerator=gpu   # the table: Bsl/Sng/Aug x 2 x 3 seeds
  python launch/content.py --config=configs/texts_finetune.py datasets=emobank_vad conditions=Sng seeds=0 \
      export=emobank_vad:Sng max_steps=150 eval_every=50 max_length=64 --workdir=/tmp/ft   # one short run
`run` trains every (seed, condition, dataset), seed by seed, and scores each best-dev state on its
dataset's test split and, as the zero-shot conditions of the frozen-feature table, on the sibling
dataset's test split (SnZ/AuZ through the sibling format's frozen head; BsZ through Bsl's own
output and the per-direction mapping net of `train_content.train_mapping_nets`). A workdir holds
runs/<condition>_<dataset>_s<seed>/ (config.json, metrics.jsonl, results.json), results.json and
results.md (test r, mean ± sd over seeds; rewritten after every run, so a run cut short keeps what
finished) and the best-dev seed of `export` (fine-tuned BERT + Dense 100), which
`emojax.load(workdir).predict(texts, formats=...)` serves.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from emojax import baselines, codec, content_plan, datasets, formats, paper, report, splits, text_data, train_content
from emojax import config as config_lib, finetune as ft, loop, mesh as mesh_lib
from emojax.encoders import bert
from emojax.run_configs import FinetuneConfig


def check_config(cfg: FinetuneConfig) -> None:
  """Every name checked before any work: datasets, conditions, export, dtype."""
  for name in cfg.datasets:
    datasets.get_dataset(name, "texts")
  unknown = [c for c in cfg.conditions if c not in ft.CONDITIONS]
  if unknown or not cfg.conditions or not cfg.datasets or not cfg.seeds:
    raise ValueError(f"text fine-tuning needs datasets, seeds and conditions among {ft.CONDITIONS}; "
                     f"got datasets {list(cfg.datasets)}, conditions {list(cfg.conditions)}, seeds {list(cfg.seeds)}")
  if cfg.export:
    dataset, _, cond = cfg.export.partition(":")
    if cond not in ("Sng", "Aug") or cond not in cfg.conditions or dataset not in cfg.datasets:
      raise ValueError(f"export={cfg.export!r} must name a run of this config as <dataset>:<Sng|Aug> "
                       f"(datasets {list(cfg.datasets)}, conditions {list(cfg.conditions)}), or be empty")
  ft.compute_dtype(cfg.compute_dtype)


def _part(name: str, part: str, max_items: int, max_length: int, tok) -> dict:
  keys, y_NxV, texts, _ = text_data.text_table(name)
  row = {k: i for i, k in enumerate(keys)}
  chosen = splits.split_of(name)[part]
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


def _pad_row(inputs, m):
  inputs["mask"][m:, 0] = 1  # padding rows see one token: no empty rows


def train_one(cfg: FinetuneConfig, condition: str, dataset: str, seed: int, workdir: pathlib.Path, *,
              bert_params, bert_config: bert.BertConfig, tok, siblings, nets: dict,
              show_progress: bool = True) -> dict:
  """One fine-tuning run from the pretrained `bert_params` (not modified); returns its results
  with "test" (r per variable of the best-dev state), "zero_shot" ({sibling: (condition, r per
  variable)}) and "best_params"."""
  heads = ft.prepare_heads(cfg.stage1, datasets.get_dataset(dataset).format, condition)
  dtype = ft.compute_dtype(cfg.compute_dtype)
  mesh = mesh_lib.make_mesh(cfg.num_devices or None)
  mesh_lib.check_batch_divides(cfg.batch_size, mesh)
  packing, fmt = heads.packing, heads.fmt
  train, dev, test = (_part(dataset, p, cfg.max_items, cfg.max_length, tok) for p in ("train", "dev", "test"))
  others = {b: _part(b, "test", cfg.max_items, cfg.max_length, tok) for b, _ in siblings[dataset]}
  truncated = {"train": train.pop("truncated"), "dev": dev.pop("truncated"), "test": test.pop("truncated")}
  train["y"] = packing.pad(train["y"])
  if condition == "Aug":
    y = train["y"][:, :fmt.size]
    train["ya"] = packing.pad(train_content.synthetic_labels(heads.stage1, fmt.name, heads.aug_format, y))

  k_init, k_own, k_train = jax.random.split(jax.random.key(seed), 3)
  params = {"bert": bert_params,
            **ft.head_params(k_init, k_own, bert_config.hidden_size, heads, condition)}
  tx = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
  state = ft.init_state(tx, params, mesh)
  rep, batch_sh = mesh_lib.replicated(mesh), mesh_lib.batch_sharding(mesh)
  frozen = mesh_lib.put_replicated(heads.stage1.params, mesh)
  loss_fn, predict = ft.make_loss(packing, condition, heads.f, heads.fa,
                                  make_forward(bert_config, cfg.head_dropout, dtype))
  step_fn = ft.make_step(tx, loss_fn, mesh)
  eval_fn = jax.jit(lambda p, fr, inputs: predict(p, fr, inputs),  # (prediction, embedding)
                    in_shardings=(rep, rep, batch_sh), out_shardings=rep)

  def outputs(p, part: dict) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, embedding) of every row of a tokenised part, batches padded to one shape."""
    preds, embeddings = [], []
    for inputs, m in ft.padded_batches({"ids": part["ids"], "mask": part["mask"]}, cfg.eval_batch_size,
                                       mesh, _pad_row):
      pred, e = eval_fn(p, frozen, inputs)
      preds.append(np.asarray(pred)[:m])
      embeddings.append(np.asarray(e)[:m])
    return np.concatenate(preds), np.concatenate(embeddings)

  def scores(f: formats.LabelFormat, pred: np.ndarray, y: np.ndarray) -> list[float]:
    return [float(r) for r in train_content.host_scores(f, pred, y)[:f.size]]

  dev_r = lambda p: float(np.mean(scores(fmt, outputs(p, dev)[0], dev["y"])))
  run_dir = workdir / "runs" / f"{condition}_{dataset}_s{seed}"
  run_cfg = dataclasses.replace(cfg, datasets=(dataset,), conditions=(condition,), seeds=(seed,), export="")
  results, best = ft.train_loop(run_cfg, run_dir, title=f"fine-tune {condition}/{dataset}/s{seed}",
                                step_fn=step_fn, state=state, frozen=frozen, train=train,
                                dev_r=dev_r, key=k_train, mesh=mesh, seed=seed,
                                show_progress=show_progress)
  best_dev = mesh_lib.put_replicated(best, mesh)
  zero_shot = {}
  for b, pair in siblings[dataset]:
    fmt_b = formats.get_format(datasets.get_dataset(b).format)
    pred, e = outputs(best_dev, others[b])
    if condition == "Bsl":  # its own format-A output on B's texts -> mapping net A -> B
      pred = pred * (np.arange(packing.width) < fmt.size)
      mapnet = baselines.baseline_module(heads.stage1.config.codec, packing)
      pred = np.asarray(mapnet.apply({"params": nets[(pair, fmt.name, seed)]}, pred, deterministic=True))
    else:  # the embedding through the sibling format's frozen head
      pred = np.asarray(codec.decode(heads.stage1.params, packing, packing.index(fmt_b.name), jnp.asarray(e)))
    zero_shot[b] = (content_plan.ZERO_SHOT_OF[condition], scores(fmt_b, pred, others[b]["y"]))
  results.update(condition=condition, dataset=dataset, seed=seed, variables=list(fmt.variables),
                 test=scores(fmt, outputs(best_dev, test)[0], test["y"]), zero_shot=zero_shot,
                 stage1={"path": str(heads.stage1.workdir), "fingerprint": heads.fingerprint},
                 dev_items=len(dev["y"]), test_items=len(test["y"]), truncated=truncated)
  ft.write_results(run_dir, results)
  results["best_params"], results["heads"] = best, heads
  return results


BSZ_LEARNING_RATE = 3e-4  # the frozen-feature text table's Adam rate (configs/texts.py), for its BsZ nets


def mapping_nets(cfg: FinetuneConfig, siblings) -> dict:
  """BsZ's per-direction mapping nets, the frozen-feature table's own (same data, schedule, seeds)."""
  if "Bsl" not in cfg.conditions or not any(siblings.values()):
    return {}
  stage1, _ = train_content.load_stage1(cfg.stage1)
  content_cfg = train_content.ContentConfig(modality="texts", datasets=tuple(cfg.datasets), seeds=tuple(cfg.seeds),
                                            conditions=("BsZ",), learning_rate=BSZ_LEARNING_RATE)
  return train_content.train_mapping_nets(content_cfg, stage1, list(cfg.datasets))[0]


@loop.releases_workdir
def run(cfg: FinetuneConfig, workdir: str | pathlib.Path, *, bert_params=None,
        bert_config: bert.BertConfig | None = None, show_progress: bool = True, restart: bool = False) -> dict:
  """Every (seed, condition, dataset), seed by seed; results.json/.md after each run; the best-dev
  seed of `export` exported. `bert_params` / `bert_config` replace the pretrained MiniLM (tests
  use a tiny random BERT). `restart`: start over in a workdir that holds a run of another config."""
  check_config(cfg)
  mesh_lib.check_batch_divides(cfg.batch_size, mesh_lib.make_mesh(cfg.num_devices or None))  # before any work
  workdir = loop.start_workdir(workdir, cfg, stage="content", restart=restart)
  if bert_params is None:
    bert_params, bert_config = bert.load_model("minilm")
  tok = bert.load_tokenizer()
  siblings = content_plan.siblings_of(list(cfg.datasets))
  nets = mapping_nets(cfg, siblings)
  records, exported, results = [], None, {}
  export_dataset, _, export_cond = cfg.export.partition(":")
  for seed in cfg.seeds:
    for cond in cfg.conditions:
      for dataset in cfg.datasets:
        out = train_one(cfg, cond, dataset, seed, workdir, bert_params=bert_params, bert_config=bert_config,
                        tok=tok, siblings=siblings, nets=nets, show_progress=show_progress)
        records.append({k: out[k] for k in ("condition", "dataset", "seed", "test", "zero_shot", "best_dev_r",
                                            "steps", "first_loss", "last_loss", "s_per_step", "wall_s", "device")})
        if (cond, dataset) == (export_cond, export_dataset) and (
            exported is None or out["best_dev_r"] > exported["best_dev_r"]):
          exported = out
        results = {"config": dataclasses.asdict(cfg), "runs": records,
                   "table": report.text_finetune_table(records, cfg.datasets), "paper": paper.TEXTS}
        _write(workdir, results)
  if exported is not None:
    results["export"] = export(workdir, cfg, exported["best_params"], bert_config, exported["heads"],
                               exported["best_dev_r"], exported["seed"])
    _write(workdir, results)
  return results


def _write(workdir: pathlib.Path, results: dict) -> None:
  if mesh_lib.is_writer():
    (workdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (workdir / "results.md").write_text(report.text_finetune_markdown(results))


FEATURE_KIND = "minilm_finetuned"  # model.json feature kind that `emojax.load` reads as this model
def export(workdir: pathlib.Path, cfg: FinetuneConfig, best, bert_config: bert.BertConfig,
           heads: ft.Heads, best_r: float, seed: int) -> dict:
  """The best-dev BERT + Dense 100 (never Bsl's own output), for `emojax.load`."""
  feature = {"kind": FEATURE_KIND, "max_length": cfg.max_length, "dim": bert_config.hidden_size,
             "bert": dataclasses.asdict(bert_config)}
  return ft.export(workdir, cfg, {"bert": best["bert"], "embed": best["embed"]}, heads,
                   modality="texts", run=f"{cfg.export} seed {seed}", seed=seed,
                   best_r=best_r, feature=feature)
