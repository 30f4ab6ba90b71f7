"""Leave-one-population-out (LOPO) transfer: how well a codec maps labels of raters it never saw.

Users map their own labels, rated by a population no mapping pair had; a codec told which dataset a
label comes from (`condition_on_dataset`) can only use its unconditioned path for them. LOPO measures
that path: for every mapping pair P of the pool, stage 1 is trained on the other pairs (each
variant, each seed: `train_mapping.train_seed`, dev-selected on their dev items), then P's *test*
items are mapped both ways, A -> B and B -> A, with no dataset named (condition -1). The split
grammar keeps a word on one side across the pairs that share words, so no held-out test word was a
training item of another pair. A variant is a stage-1 config file plus `name=value` overrides
(`"configs/stage1.py condition_dropout=0.8"`); the transfer config fixes its pool, seeds and steps.
Beside the codecs, per-direction nets (`baselines.train_baselines`) are trained on the pooled items
of the other pairs in the same two formats (dev: theirs), and scored on P's test items; a pair whose
two formats no other pair has gets no baseline (only the shared space can map it). With
`in_population`, each variant is also trained on the whole pool (test r of every direction,
conditioned and unconditioned), the number the default codec must stay within .01 of.
Scores per (variant, held-out pair, seed) are cached as JSON in the workdir, so a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np

import optax

from emojax import baselines, codec, config as config_lib, datasets, format_head, formats, loop, losses
from emojax import mapping_data
from emojax import mesh as mesh_lib, metrics, report, splits, train_mapping
from emojax.run_configs import MappingConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent  # variant config paths are read from here


@dataclasses.dataclass(frozen=True)
class TransferConfig:
  """LOPO transfer of several stage-1 variants against per-direction nets on the other pairs."""

  variants: tuple[str, ...] = ("configs/paper_codec.py", "configs/stage1.py")
  pairs: tuple[str, ...] = mapping_data.DEFAULT_PAIRS  # the pool; each is held out in turn
  held_out: tuple[str, ...] = ()  # () = every pair of the pool
  seeds: tuple[int, ...] = (0, 1, 2)
  steps: int = 0  # > 0: replaces each variant's steps (LOPO trains pairs x seeds x variants codecs)
  in_population: bool = True  # also train each variant on the whole pool (in-population test r)
  baseline_epochs: int = 50  # per-direction nets on the other pairs; 0 skips them
  # True: also leave out every pair that shares a dataset (a rater population) with the held-out
  # pair, so neither of its populations was seen in training (a pair whose format is then in no
  # training pair is skipped); False: only the held-out pair itself.
  strict: bool = False


config_lib.declare(TransferConfig, {"variants": config_lib.NAMES, "pairs": config_lib.NAMES,
                                    "seeds": config_lib.SEEDS, "steps": config_lib.COUNT,
                                    "baseline_epochs": config_lib.COUNT})


def variant_config(spec: str, cfg: TransferConfig) -> MappingConfig:
  """A variant's stage-1 config: the file of `spec` with its overrides, then the pool, seeds, steps
  of the transfer config (no per-direction baselines: those are trained here once)."""
  path, *assignments = spec.split()
  mapping = config_lib.from_file(ROOT / path if not pathlib.Path(path).is_absolute() else path,
                                 assignments)
  if not isinstance(mapping, MappingConfig):
    raise config_lib.ConfigError(f"variant {spec!r}: {path} is not a stage-1 config")
  changes = {"pairs": cfg.pairs, "seeds": cfg.seeds, "baseline_epochs": 0,
             "checkpoint_every": 10_000}
  if cfg.steps:
    changes["steps"] = cfg.steps
  return dataclasses.replace(mapping, **changes)


def slug(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text.removeprefix("configs/")).strip("_")


def check_config(cfg: TransferConfig) -> None:
  config_lib.validate(cfg)
  unknown = [p for p in cfg.held_out if p not in cfg.pairs]
  if unknown:
    raise config_lib.ConfigError(f"held_out: {unknown} are not in the pool pairs={list(cfg.pairs)}")
  if len(cfg.pairs) < 2:
    raise config_lib.ConfigError("pairs: LOPO needs at least two mapping pairs")
  for spec in cfg.variants:
    config_lib.validate(variant_config(spec, cfg))


def held_out_directions(held: mapping_data.PairData, packing: codec.Packing, part: str = "test") -> dict:
  """Direction arrays (A -> B, B -> A) of a pair the codec did not train on, unconditioned."""
  arrays = train_mapping.direction_arrays(packing, [held], part)
  return {**arrays, "cond": np.full_like(arrays["cond"], -1)}


def _scores(directions, scores_DxW, mask_DxW) -> dict[str, list[float]]:
  return {name: [float(v) for v in s] for name, s in
          train_mapping._per_direction(directions, scores_DxW, mask_DxW).items()}


def _cached(path: pathlib.Path, compute) -> dict:
  if path.exists():
    return json.loads(path.read_text())
  out = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(out, indent=1))
  return out


def _seed_trainer(mapping: MappingConfig, packing, pairs, mesh, show_progress: bool):
  """train(seed, run_dir) -> `train_mapping.train_seed`'s run of `pairs`; the epoch function is
  compiled once, when the first seed whose scores are not cached is trained."""
  epoch_fn = None

  def train(seed: int, run_dir: pathlib.Path) -> dict:
    nonlocal epoch_fn
    epoch_fn = epoch_fn or train_mapping.make_epoch_fn(mapping, packing, mesh)
    return train_mapping.train_seed(mapping, seed, pairs, mesh, run_dir, epoch_fn, show_progress)
  return train


def training_pairs(pool, name: str, strict: bool) -> list[str]:
  """The pairs a codec that holds out `name` trains on: all others, or (strict) those sharing no
  dataset with it."""
  held = datasets.get_pair(name)
  shares = lambda p: bool({held.a, held.b} & {datasets.get_pair(p).a,
                                               datasets.get_pair(p).b})
  return [p for p in pool if p != name and not (strict and shares(p))]


def lopo_variant(mapping: MappingConfig, data: dict[str, mapping_data.PairData], held_out, mesh,
                 run_dir: pathlib.Path, *, show_progress: bool = False, strict: bool = False) -> dict:
  """{held-out pair: {seed: {direction: per-variable r}}} for one variant."""
  out = {}
  for name in held_out:
    rest = [data[p] for p in training_pairs(mapping.pairs, name, strict)]
    packing = train_mapping.packing_of(mapping, rest)
    missing = [f for f in data[name].pair.formats if f not in packing.layout.formats]
    if missing:  # a format only this pair has: nothing to map it through
      out[name] = {"skipped": f"formats {missing} are in no other pair"}
      continue
    held_dirs = train_mapping.directions_of([data[name]])
    test = held_out_directions(data[name], packing)
    train = _seed_trainer(mapping, packing, rest, mesh, show_progress)
    per_seed = {}
    for seed in mapping.seeds:
      def compute():
        run = train(seed, run_dir / name / f"seed_{seed}")
        scores, mask = train_mapping.evaluate(run["params"], mapping, packing,
                                              jax.device_put(test, mesh_lib.replicated(mesh)))
        return _scores(held_dirs, scores, mask)
      per_seed[str(seed)] = _cached(run_dir / name / f"seed_{seed}" / "scores.json", compute)
    out[name] = per_seed
  return out


def in_population(mapping: MappingConfig, data, mesh, run_dir: pathlib.Path, *,
                  show_progress: bool = False) -> dict:
  """{seed: {"test": ..., "test_unconditioned": ...}} of the variant trained on the whole pool."""
  pairs = [data[p] for p in mapping.pairs]
  directions = train_mapping.directions_of(pairs)
  packing = train_mapping.packing_of(mapping, pairs)
  train, out = _seed_trainer(mapping, packing, pairs, mesh, show_progress), {}
  for seed in mapping.seeds:
    def compute():
      run = train(seed, run_dir / "all" / f"seed_{seed}")
      if "test_unconditioned" not in run:
        run["test_unconditioned"] = run["test"]  # an unconditioned codec has one path
      return {part: {d.name: [float(v) for v in run[part][d.name]] for d in directions}
              for part in ("test", "test_unconditioned")}
    out[str(seed)] = _cached(run_dir / "all" / f"seed_{seed}" / "scores.json", compute)
  return out


def _pooled(data, names, fa: str, fb: str, part: str) -> tuple[np.ndarray, np.ndarray]:
  """Labels (source fa, target fb) of `part` pooled over the pairs `names` rated in fa and fb."""
  xs, ys = [], []
  for n in names:
    d = data[n]
    if d.pair.formats in ((fa, fb), (fb, fa)):
      swap = d.pair.formats == (fb, fa)
      xs.append(d.b[part] if swap else d.a[part])
      ys.append(d.a[part] if swap else d.b[part])
  if not xs:
    return None, None
  return np.concatenate(xs), np.concatenate(ys)


def lopo_baselines(mapping: MappingConfig, data, held_out, seeds, epochs: int,
                   run_dir: pathlib.Path, strict: bool = False) -> dict:
  """{held-out pair: {seed: {direction: per-variable r}} | {"skipped": why}}: per-direction nets
  trained on the pooled items of the other pairs in the held-out pair's two formats."""
  out = {}
  for name in held_out:
    held = data[name]
    fa, fb = held.pair.formats
    others = training_pairs(mapping.pairs, name, strict)
    if _pooled(data, others, fa, fb, "train")[0] is None:
      out[name] = {"skipped": f"no other pair is rated in {fa} and {fb}"}
      continue

    def compute():
      packing = codec.Packing.of(formats.head_layout([fa, fb]))
      parts = {}
      for part in splits.PARTS:
        sources = [fa, fb]
        xs, ys = [], []
        for src, tgt in ((fa, fb), (fb, fa)):
          if part == "test":
            x, y = (held.a["test"], held.b["test"]) if src == fa else (held.b["test"], held.a["test"])
          else:
            x, y = _pooled(data, others, src, tgt, part)
          xs.append(x)
          ys.append(y)
        x, n = train_mapping.pad_parts(packing, xs)
        y, _ = train_mapping.pad_parts(packing, ys)
        parts[part] = {"x": x, "y": y, "n": n,
                       "src": np.asarray([packing.index(f) for f in sources], np.int32),
                       "tgt": np.asarray([packing.index(f) for f in sources[::-1]], np.int32)}
      _, test_SxDxW, _ = baselines.train_baselines(
          mapping.codec, packing, parts["train"], parts["dev"], parts["test"], seeds, epochs=epochs,
          batch_size=mapping.batch_size, learning_rate=mapping.learning_rate)
      directions = train_mapping.directions_of([held])
      mask = np.asarray(jax.vmap(lambda f: codec.score_mask(packing, f))(parts["test"]["tgt"])) > 0
      return {str(s): {d.name: [float(v) for v in test_SxDxW[i, k][mask[k]]]
                       for k, d in enumerate(directions)} for i, s in enumerate(seeds)}
    out[name] = _cached(run_dir / "baselines" / name / "scores.json", compute)
  return out


def summarize(per_pair: dict, seeds) -> dict:
  """Per held-out pair and direction mean r (over variables) as mean ± sd over seeds; the mean
  over pairs (each pair's mean of its two directions) per seed; and per direction kind A->B."""
  rows, per_seed = {}, {str(s): [] for s in seeds}
  for name, by_seed in per_pair.items():
    if "skipped" in by_seed:
      rows[name] = {"skipped": by_seed["skipped"]}
      continue
    directions = list(by_seed[str(seeds[0])])
    rows[name] = {d: report.mean_sd([np.mean(by_seed[str(s)][d]) for s in seeds]) for d in directions}
    rows[name]["pair"] = report.mean_sd([np.mean([np.mean(by_seed[str(s)][d]) for d in directions])
                                         for s in seeds])
    for s in seeds:
      per_seed[str(s)].append(rows[name]["pair"]["values"][list(seeds).index(s)])
  return {"pairs": rows, "mean": report.mean_sd([np.mean(v) for v in per_seed.values()]) if rows else None,
          "n_pairs": len(next(iter(per_seed.values()))) if per_seed else 0}


def _in_population_summary(by_seed: dict, seeds) -> dict:
  return {part: report.mean_sd([np.mean([np.mean(v) for v in by_seed[str(s)][part].values()])
                                for s in seeds]) for part in ("test", "test_unconditioned")}


@loop.releases_workdir
def run(cfg: TransferConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
        restart: bool = False) -> dict:
  """LOPO of every variant (and the baselines) -> results.json/.md in `workdir`."""
  workdir = pathlib.Path(workdir).resolve()
  check_config(cfg)
  loop.start_workdir(workdir, cfg, stage="transfer", restart=restart)
  mesh = mesh_lib.make_mesh(None)
  data = {name: mapping_data.load_pair(name) for name in cfg.pairs}
  held_out = cfg.held_out or cfg.pairs
  results = {"config": config_lib.to_dict(cfg), "seeds": list(cfg.seeds), "held_out": list(held_out),
             "strict": cfg.strict, "variants": {}}
  for spec in cfg.variants:
    mapping = variant_config(spec, cfg)
    run_dir = workdir / slug(spec)
    if show_progress:
      print(f"variant {spec}: {len(held_out)} held-out pairs x {len(cfg.seeds)} seeds", flush=True)
    entry = {"config": config_lib.to_dict(mapping),
             "lopo": summarize(lopo_variant(mapping, data, held_out, mesh, run_dir, strict=cfg.strict),
                                      cfg.seeds)}
    if cfg.in_population:
      entry["in_population"] = _in_population_summary(in_population(mapping, data, mesh, run_dir),
                                                       cfg.seeds)
    results["variants"][spec] = entry
  if cfg.baseline_epochs:
    mapping = variant_config(cfg.variants[0], cfg)
    results["baselines"] = summarize(lopo_baselines(mapping, data, held_out, cfg.seeds,
                                                    cfg.baseline_epochs, workdir, cfg.strict), cfg.seeds)
  if mesh_lib.is_writer():
    report.write(workdir, results, report.transfer_markdown(results))
  return results


# ------------------------------------------------------------- a new format onto a frozen codec

@dataclasses.dataclass(frozen=True)
class NewFormatCodecConfig:
  """A label format learned onto a frozen stage-1 codec that never saw it (its pairs held out)."""

  variant: str = "configs/stage1.py"  # the frozen codec's stage-1 config (+ overrides)
  new_format: str = "pos7"
  pairs: tuple[str, ...] = mapping_data.DEFAULT_PAIRS  # the pairs with new_format are its material
  seeds: tuple[int, ...] = (0, 1, 2)
  steps: int = 0  # > 0: replaces the frozen codec's steps
  head_steps: int = 3_000  # steps of the new head + label encoder (one pair per step, uniformly)
  eval_every: int = 100  # dev r after every this many steps; the best dev state is kept
  learning_rate: float = 1e-3
  batch_size: int = 32
  baseline_epochs: int = 50  # per-direction nets on the new format's pairs (dedicated baseline)


config_lib.declare(NewFormatCodecConfig, {
    "pairs": config_lib.NAMES, "seeds": config_lib.SEEDS, "steps": config_lib.COUNT,
    "head_steps": config_lib.POSITIVE_INT, "eval_every": config_lib.POSITIVE_INT,
    "learning_rate": config_lib.POSITIVE, "batch_size": config_lib.POSITIVE_INT,
    "baseline_epochs": config_lib.COUNT},
    checks=[lambda c: c.head_steps % c.eval_every and (
        f"head_steps ({c.head_steps}) must be a multiple of eval_every ({c.eval_every})")])


def _new_format_split(cfg: NewFormatCodecConfig):
  fmt = formats.get_format(cfg.new_format)
  new = [p for p in cfg.pairs if fmt.name in datasets.get_pair(p).formats]
  rest = [p for p in cfg.pairs if p not in new]
  if not new or not rest:
    raise config_lib.ConfigError(f"new_format={fmt.name!r}: needs pairs with it ({new}) and without it")
  return fmt, new, rest


def _partner_arrays(packing: codec.Packing, data: list[mapping_data.PairData], fmt, part: str) -> dict:
  """Per pair of the new format: the partner's labels (padded to the frozen packing), the new
  format's labels, the partner's format index, row counts: y_f [K, N, W], y_new [K, N, V], f, n."""
  partner, new = [], []
  for d in data:
    swap = d.pair.formats[0] == fmt.name
    partner.append(d.b[part] if swap else d.a[part])
    new.append(d.a[part] if swap else d.b[part])
  y_f, n = train_mapping.pad_parts(packing, partner)
  n_max = y_f.shape[1]
  y_new = np.zeros((len(new), n_max, fmt.size), np.float32)
  for k, y in enumerate(new):
    y_new[k, :len(y)] = y
  f = np.asarray([packing.index(d.pair.formats[1] if d.pair.formats[0] == fmt.name else d.pair.formats[0])
                  for d in data], np.int32)
  return {"y_f": y_f, "y_new": y_new, "f": f, "n": n}


def learn_new_format(frozen, mapping: MappingConfig, packing: codec.Packing, fmt, data, seed: int,
                     cfg: NewFormatCodecConfig) -> dict:
  """Head H (|F| x E) and label encoder E_F of format `fmt` against the frozen codec `frozen`;
  losses: prediction ℓ(H e_f, y), reconstruction ℓ(H E_F(y), y), similarity MSE(E_F(y), e_f),
  mapping ℓ_f(head_f E_F(y), y_f), with e_f the frozen partner encoder's embedding (unconditioned,
  deterministic). Returns test r per direction ("<pair>:<f>-><fmt>", "<pair>:<fmt>-><f>")."""
  module = format_head.label_encoder(mapping.codec)
  parts = {p: _partner_arrays(packing, data, fmt, p) for p in splits.PARTS}

  def embed_partner(a):  # frozen, deterministic partner embeddings of every row [K, N, E]
    return jax.vmap(lambda f, y: codec.encode(frozen, mapping.codec, f, packing.encoder_input(y)))(a["f"], a["y_f"])

  emb = {p: jax.jit(embed_partner)(parts[p]) for p in splits.PARTS}
  mask_KxW = jnp.asarray(packing.mask_FxW)[parts["train"]["f"]]

  def predict(params, e_NxE, y_new_NxV, f, dropout_key=None):
    to_new = e_NxE @ params["head"].T
    kwargs = ({"deterministic": False, "rngs": {"dropout": dropout_key}} if dropout_key is not None
              else {"deterministic": True})
    e_new = module.apply({"params": params["encoder"]}, y_new_NxV, **kwargs)
    return to_new, e_new, e_new @ params["head"].T, codec.decode(frozen, packing, f, e_new)

  def loss_fn(params, k, idx, key):
    tr = parts["train"]
    e, y_new, y_f = emb["train"][k][idx], jnp.asarray(tr["y_new"])[k][idx], jnp.asarray(tr["y_f"])[k][idx]
    to_new, e_new, back, to_f = predict(params, e, y_new, jnp.asarray(tr["f"])[k], key)
    return (losses.mse(to_new, y_new) + losses.mse(back, y_new) + losses.embedding_similarity(e_new, e)
            + losses.mse(to_f, y_f, mask_KxW[k]))

  def scores(params, part):  # [K, 2]: r (mean over variables) f -> new, new -> f
    a, e = parts[part], emb[part]
    out = []
    for k in range(len(data)):
      n = int(a["n"][k])
      to_new, _, _, to_f = predict(params, e[k][:n], jnp.asarray(a["y_new"][k][:n]), int(a["f"][k]))
      r_f = metrics.pearson(to_f, jnp.asarray(a["y_f"][k][:n]))
      real = np.asarray(packing.mask_FxW[int(a["f"][k])]) > 0
      out.append((metrics.pearson(to_new, jnp.asarray(a["y_new"][k][:n])), r_f[jnp.asarray(real)]))
    return out

  tx = optax.adam(cfg.learning_rate)
  n_train = jnp.asarray(parts["train"]["n"])

  @jax.jit
  def chunk(params, opt, key):
    def step(carry, key):
      params, opt = carry
      k_pair, k_rows, k_drop = jax.random.split(key, 3)
      k = jax.random.randint(k_pair, (), 0, len(data))
      idx = jnp.minimum((jax.random.uniform(k_rows, (cfg.batch_size,)) * n_train[k]).astype(jnp.int32),
                        n_train[k] - 1)
      loss, grads = jax.value_and_grad(loss_fn)(params, k, idx, k_drop)
      updates, opt = tx.update(grads, opt, params)
      return (optax.apply_updates(params, updates), opt), loss
    (params, opt), loss = jax.lax.scan(step, (params, opt), jax.random.split(key, cfg.eval_every))
    return params, opt, loss.mean()

  key = jax.random.key(seed)
  params = format_head.init_params(jax.random.fold_in(key, 0), mapping.codec, fmt)
  opt = tx.init(params)
  best, best_dev = params, -np.inf
  for c in range(cfg.head_steps // cfg.eval_every):
    params, opt, _ = chunk(params, opt, jax.random.fold_in(key, c + 1))
    dev = float(np.mean([np.mean(np.asarray(x)) for pair in scores(params, "dev") for x in pair]))
    if dev > best_dev:
      best, best_dev = params, dev
  out = {}
  for d, (to_new, to_f) in zip(data, scores(best, "test")):
    partner = d.pair.formats[1] if d.pair.formats[0] == fmt.name else d.pair.formats[0]
    out[f"{d.pair.name}:{partner}->{fmt.name}"] = [float(v) for v in np.asarray(to_new)]
    out[f"{d.pair.name}:{fmt.name}->{partner}"] = [float(v) for v in np.asarray(to_f)]
  return out


@loop.releases_workdir
def new_format_run(cfg: NewFormatCodecConfig, workdir: str | pathlib.Path, *, show_progress: bool = True,
                   restart: bool = False) -> dict:
  """The new format learned onto a codec trained without its pairs (per seed), against per-direction
  nets trained on its pairs -> results.json/.md in `workdir`."""
  workdir = pathlib.Path(workdir).resolve()
  config_lib.validate(cfg)
  fmt, new, rest = _new_format_split(cfg)
  loop.start_workdir(workdir, cfg, stage="transfer", restart=restart)
  mesh = mesh_lib.make_mesh(None)
  lopo_cfg = TransferConfig(variants=(cfg.variant,), pairs=tuple(rest), seeds=cfg.seeds, steps=cfg.steps)
  mapping = variant_config(cfg.variant, lopo_cfg)
  data = {name: mapping_data.load_pair(name) for name in cfg.pairs}
  rest_data, new_data = [data[p] for p in rest], [data[p] for p in new]
  packing = train_mapping.packing_of(mapping, rest_data)
  train, per_seed = _seed_trainer(mapping, packing, rest_data, mesh, show_progress), {}
  for seed in cfg.seeds:
    def compute():
      run = train(seed, workdir / "frozen" / f"seed_{seed}")
      return learn_new_format(run["params"], mapping, packing, fmt, new_data, seed, cfg)
    per_seed[str(seed)] = _cached(workdir / "new_format" / f"seed_{seed}" / "scores.json", compute)
  results = {"config": config_lib.to_dict(cfg), "format": fmt.name, "seeds": list(cfg.seeds),
             "frozen_pairs": rest, "new_format": _direction_stats(per_seed, cfg.seeds)}
  if cfg.baseline_epochs:
    def compute_baselines():
      bpack = codec.Packing.of(train_mapping.layout_of(new_data))
      arrays = {p: train_mapping.direction_arrays(bpack, new_data, p) for p in splits.PARTS}
      _, test_SxDxW, _ = baselines.train_baselines(
          mapping.codec, bpack, arrays["train"], arrays["dev"], arrays["test"], cfg.seeds,
          epochs=cfg.baseline_epochs, batch_size=mapping.batch_size, learning_rate=mapping.learning_rate)
      mask = np.asarray(jax.vmap(lambda f: codec.score_mask(bpack, f))(arrays["test"]["tgt"])) > 0
      directions = train_mapping.directions_of(new_data)
      return {str(s): {d.name: [float(v) for v in test_SxDxW[i, k][mask[k]]] for k, d in enumerate(directions)}
              for i, s in enumerate(cfg.seeds)}
    results["baseline"] = _direction_stats(_cached(workdir / "baselines" / "scores.json", compute_baselines),
                                           cfg.seeds)
  if mesh_lib.is_writer():
    report.write(workdir, results, report.new_format_codec_markdown(results))
  return results


def _direction_stats(per_seed: dict, seeds) -> dict:
  names = list(per_seed[str(seeds[0])])
  return {n: report.mean_sd([np.mean(per_seed[str(s)][n]) for s in seeds]) for n in names}
