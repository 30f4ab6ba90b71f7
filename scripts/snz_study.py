"""Why zero-shot through the heads (SnZ) collapses, and post-hoc readings that repair it.

  python scripts/snz_study.py geometry /tmp/snz/s1/paper_s0 /tmp/snz/s1/cond_s0 ...  # head rows
  python scripts/snz_study.py analyze /tmp/snz/words_paper                          # one stage-2 run
  python scripts/snz_study.py splits --shuffles=5                        # Polish baselines by split
  python scripts/snz_study.py compare REFERENCE RUN... --seeds=0,1,2 --only=DATASETS  # option rows

`geometry` reads stage-1 workdirs: cosines and principal angles between the head rows of VA, VAD
and BE5, and how many principal components the codec's label embeddings need. `analyze` reads a
finished stage-2 workdir on frozen features (`python launch/content.py --modality=words|texts
--workdir=W ...`): it re-enters the run's own training code, which resumes every group from its
last checkpoint (no training), and scores every Sng and Aug encoder on its sibling's test items
through the foreign head after each post-hoc reading of `readings` (emojax.geometry); with the
conditions present it also checks the paper's findings with paired bootstrap intervals
(emojax.stats). `splits` trains the per-direction Polish VA<->BE5 baselines on other shuffles of
the items (the paper's 3:1:1 proportions). `compare` tabulates runs (Sng, Aug, BsZ, SnZ, AuZ and
Sng − Bsl against a reference run's Bsl) from their results.json. Outputs: JSON and Markdown
under --out (default /tmp/snz).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emojax import api, codec, config as config_lib, datasets, geometry, mapping_data, progress, region, splits, stats  # noqa: E402
from emojax import baselines, train_content, train_mapping  # noqa: E402
from emojax.content_plan import mlt_groups, plan_groups, plan_runs, siblings_of, targets_of  # noqa: E402
from emojax.run_configs import ContentConfig  # noqa: E402

PAIRS = ("va", "be5"), ("vad", "be5"), ("va", "vad")  # format pairs whose head rows are compared


# ------------------------------------------------------------------------------------ stage 1

def head(stage1, fmt: str) -> np.ndarray:
  return np.asarray(stage1.params["bank"])[stage1.layout.rows(fmt)]


def geometry_of(path: str) -> dict:
  stage1 = api.load(path)
  fmts = stage1.layout.formats
  out = {"path": path, "pairs": list(stage1.config.pairs), "conditioned": bool(stage1.packing.conditions),
         "seed": stage1.meta["seed"], "formats": {}}
  for a, b in PAIRS:
    if a in fmts and b in fmts:
      cos = np.asarray(geometry.row_cosines(head(stage1, a), head(stage1, b)))
      angles = np.degrees(np.asarray(geometry.principal_angles(head(stage1, a), head(stage1, b))))
      out["formats"][f"{a}~{b}"] = {
          "cos": {f"{va}~{vb}": float(cos[i, j]) for i, va in enumerate(stage1.layout.format(a).variables)
                  for j, vb in enumerate(stage1.layout.format(b).variables)},
          "mean_abs_cos": float(np.abs(cos).mean()), "principal_angles_deg": angles.tolist()}
  z = region.label_embeddings(stage1)
  _, _, share = geometry.pca(z, min(z.shape))
  cum = np.cumsum(np.asarray(share))
  out["label_pca"] = {"k90": int(np.searchsorted(cum, 0.90) + 1), "k99": int(np.searchsorted(cum, 0.99) + 1),
                      "share_top5": float(cum[4])}
  for f in ("va", "vad", "be5"):
    if f in fmts:  # how much of the label embeddings' spread a head reads at all
      out.setdefault("label_outside", {})[f] = float(geometry.outside_energy(z, head(stage1, f), center=True))
  return out


def geometry_markdown(rows: list[dict]) -> str:
  lines = ["| stage 1 | seed | cos(valence, joy) | mean abs cos VA~BE5 | principal angles VA~BE5 (deg) | "
           "mean abs cos VAD~BE5 | principal angles VAD~BE5 (deg) | label PCs for 90 % / 99 % | "
           "label spread outside VA / VAD / BE5 span |", "|---" * 9 + "|"]
  for r in rows:
    f = r["formats"]
    vb, db = f.get("va~be5"), f.get("vad~be5")
    ang = lambda x: ", ".join(f"{a:.0f}" for a in x["principal_angles_deg"]) if x else "–"
    cell = lambda x, k: f"{x[k]:.2f}" if x else "–"
    lo = r.get("label_outside", {})
    lines.append(
        f"| {pathlib.Path(r['path']).name} | {r['seed']} | "
        f"{(vb or db)['cos'].get('valence~joy', float('nan')):.2f} | {cell(vb, 'mean_abs_cos')} | {ang(vb)} | "
        f"{cell(db, 'mean_abs_cos')} | {ang(db)} | {r['label_pca']['k90']} / {r['label_pca']['k99']} | "
        + " / ".join(f"{lo[k]:.2f}" if k in lo else "–" for k in ("va", "vad", "be5")) + " |")
  return "\n".join(lines)


# ------------------------------------------------------------------------------------ stage 2

def restore(workdir: pathlib.Path):
  """A finished stage-2 run's pieces, re-entered through its own code: config, stage 1, data,
  pool, encoder module, and the best params of every run (each group resumes at its last epoch)."""
  cfg = config_lib.from_dict(ContentConfig, json.loads((workdir / "config.json").read_text()))
  mesh = train_content.content_mesh(cfg.num_devices, cfg.batch_shards)
  stage1, fingerprint = train_content.load_stage1(cfg.stage1)
  packing = stage1.packing
  data = train_content.load_data(cfg, pathlib.Path(cfg.feature_cache) if cfg.feature_cache else workdir / "features")
  pool = train_content.Pool(data, packing, stage1, train_content.augment_map(cfg.augment))
  from emojax import mesh as mesh_lib
  frozen = mesh_lib.put_replicated(stage1.params, mesh)
  device_pool = mesh_lib.put_replicated(pool.arrays, mesh)
  module = train_content.encoder_module(cfg.encoder, stage1.config.codec.embedding_dim, packing.width)
  runs = plan_runs(cfg, data)
  steps = [-(-sum(len(data[n].items["train"]) for n in r.datasets) // cfg.batch_size) for r in runs]
  groups = plan_groups(steps, cfg.max_groups, train_content.run_shards_of(mesh))
  dim = next(iter(data.values())).dim
  region_fit = region.fit(stage1) if cfg.readout == "region" else None
  params = {}
  bar = progress.Progress(1, "restore", enabled=False)
  for g_i, group in enumerate(groups):
    group_runs = [runs[i] for i in group + [group[-1]] * (-len(group) % train_content.run_shards_of(mesh))]
    arrays = train_content.run_arrays(group_runs, pool, packing, cfg, max(len(r.datasets) for r in group_runs))
    # The trainer's own (private) digest names the group's checkpoint folder: the same folder, so
    # train_group resumes at its last epoch and trains nothing.
    digest = train_content._group_digest(cfg, group_runs, arrays, pool, fingerprint)
    best, _, _ = train_content.train_group(cfg, group_runs, arrays, device_pool, frozen, module, packing, dim,
                                           mesh, workdir / "groups" / f"{g_i}-{digest}", bar, 0)
    # read out as the run reads its encoders (cfg.readout): "raw" below means "as trained and read"
    best = train_content.region_readout(cfg, group_runs, best, stage1, region_fit, packing)
    for r, run in enumerate(group_runs[:len(group)]):
      params[run] = jax.tree.map(lambda a: np.asarray(a[r]), best)
  return cfg, stage1, data, pool, module, params


class Reader:
  """Embeddings and head readings of restored encoders on pool rows."""

  def __init__(self, stage1, pool, module):
    self.stage1, self.pool, self.module = stage1, pool, module
    self._apply = jax.jit(lambda p, x: module.apply({"params": p}, x, deterministic=True))

  def embed(self, p, rows) -> tuple[np.ndarray, np.ndarray]:
    e, own = self._apply(p, self.pool.arrays["x"][rows])
    return np.asarray(e), np.asarray(own)

  def y(self, dataset: str, rows) -> np.ndarray:
    fmt = self.stage1.layout.format(datasets.get_dataset(dataset).format)
    return self.pool.arrays["y"][rows][:, :fmt.size]


def readings(stage1) -> dict:
  """Post-hoc maps e -> e' applied before reading a foreign head B (own format A known)."""
  z = region.label_embeddings(stage1)
  mu, cov = region.fit(stage1)
  out = {"raw": lambda e, a: e,
         "removed (inside own span only)": lambda e, a: np.asarray(geometry.remove_outside(e, head(stage1, a))),
         "outside own span only": lambda e, a: e - np.asarray(geometry.remove_outside(e, head(stage1, a)))}
  for k in (2, 3, 5, 10):
    if k >= z.shape[1]:  # a space this narrow: the projection would be the identity (or undefined)
      continue
    m, U, _ = geometry.pca(z, k)
    out[f"PCA-{k} of label embeddings"] = lambda e, a, m=m, U=U: np.asarray(geometry.project_affine(e, m, U))
  out["conditional mean of label embeddings"] = lambda e, a: np.asarray(
      geometry.conditional_mean(e, head(stage1, a), mu, cov))
  # The codec's own label manifold: re-embed what head A reads with A's label encoder.
  def reencode(e, a):
    fmt = stage1.layout.format(a)
    return stage1.embed_labels(np.clip(e @ head(stage1, a).T, fmt.low, fmt.high), a)
  out["re-encode A's reading (codec E_A)"] = reencode
  return out


def pearson_mean(pred, y) -> float:
  return float(np.mean(np.asarray(stats.mean_r(pred[None], y))))


def analyze(workdir: pathlib.Path, resamples: int) -> dict:
  cfg, stage1, data, pool, module, params = restore(workdir)
  reader, maps = Reader(stage1, pool, module), readings(stage1)
  siblings = siblings_of(list(data))
  fmt_of = {n: d.format for n, d in data.items()}
  seeds = list(cfg.seeds)
  out = {"workdir": str(workdir), "stage1": str(stage1.workdir), "seeds": seeds, "energy": {},
         "zero_shot": {}, "fit": {}}
  preds = {}  # (condition, row) -> [S, N, V] test predictions, for the findings
  for run, p in sorted(params.items(), key=lambda kv: (kv[0].seed, kv[0].name)):
    a = run.datasets[0]
    for target in targets_of(run, siblings, fmt_of):
      if target.part != "test":
        continue
      rows = pool.rows(target.dataset, "test")
      y = reader.y(target.dataset, rows)
      e, own = reader.embed(p, rows)
      fa = fmt_of[a]
      if target.kind == "fit":
        pred = own[:, :y.shape[1]] if run.condition == "Bsl" else e @ head(stage1, fmt_of[target.dataset]).T
        preds.setdefault((run.condition, target.dataset), {})[run.seed] = pred
        if run.condition in ("Sng", "Aug") and len(run.datasets) == 1:
          after = {k: pearson_mean(f(e, fa) @ head(stage1, fa).T, y) for k, f in maps.items()}
          out["fit"].setdefault(run.condition, {}).setdefault(a, []).append(after)
          out["energy"].setdefault(run.condition, {}).setdefault(a, []).append({
              "outside_own": float(geometry.outside_energy(e, head(stage1, fa))),
              "outside_own_centered": float(geometry.outside_energy(e, head(stage1, fa), center=True))})
      elif target.kind == "zero":
        fb = fmt_of[target.dataset]
        scores = {k: pearson_mean(f(e, fa) @ head(stage1, fb).T, y) for k, f in maps.items()}
        zc = {"Sng": "SnZ", "Aug": "AuZ"}[run.condition]
        out["zero_shot"].setdefault(zc, {}).setdefault(f"{a}→{target.dataset}", []).append(scores)
        preds.setdefault((zc, f"{a}→{target.dataset}"), {})[run.seed] = e @ head(stage1, fb).T
        if zc == "SnZ":
          fixed = maps["conditional mean of label embeddings"](e, fa) @ head(stage1, fb).T
          preds.setdefault(("SnZ+cm", f"{a}→{target.dataset}"), {})[run.seed] = fixed
      elif target.kind == "chain":
        preds.setdefault(("BsZ-own", f"{a}→{target.dataset}"), {})[run.seed] = own
  if "BsZ" in cfg.conditions:
    nets, _ = train_content.train_mapping_nets(cfg, stage1, list(data), workdir / "mapping_nets")
    mapnet = baselines.baseline_module(stage1.config.codec, stage1.packing)
    pair_of = {(a, b): pair for a, sib in siblings.items() for b, pair in sib}
    for (cond, row), by_seed in list(preds.items()):
      if cond != "BsZ-own":
        continue
      a, b = row.split("→")
      width = stage1.layout.format(fmt_of[a]).size
      size_b = stage1.layout.format(fmt_of[b]).size
      for s, own in by_seed.items():
        x = np.zeros((len(own), stage1.packing.width), np.float32)
        x[:, :width] = own[:, :width]
        net = nets[(pair_of[(a, b)], fmt_of[a], s)]
        preds.setdefault(("BsZ", row), {})[s] = np.asarray(
            mapnet.apply({"params": net}, x, deterministic=True))[:, :size_b]
  out["summary"] = summarize(out, preds, data, seeds)
  out["findings"] = findings(preds, pool, reader, data, siblings, seeds, resamples)
  return out


def _mean_over(table: dict, key: str) -> tuple[float, float]:
  """mean ± sd over seeds of the mean over rows of table[row][seed][key]."""
  per_seed = np.mean([[entry[key] for entry in lst] for lst in table.values()], 0)
  return float(per_seed.mean()), float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0


def summarize(out: dict, preds: dict, data, seeds) -> dict:
  summary = {}
  for key in next(iter(out["zero_shot"].get("SnZ", {}).values()), [{}])[0]:
    row = {}
    for zc in ("SnZ", "AuZ"):
      if zc in out["zero_shot"]:
        row[zc] = _mean_over(out["zero_shot"][zc], key)
    for c in ("Sng", "Aug"):
      if c in out["fit"]:
        row[c] = _mean_over(out["fit"][c], key)
    summary[key] = row
  summary["energy"] = {c: {k: _mean_over(v, k) for k in ("outside_own", "outside_own_centered")}
                       for c, v in out["energy"].items()}
  return summary


CLAIMS = (  # (name, a, b, claim, margin, rows: "fit10" | "mlt" | "zero")
    ("Sng within .01 of Bsl", "Sng", "Bsl", "within", 0.01, "fit"),
    ("Aug not worse than Sng by .01", "Aug", "Sng", "not_worse", 0.01, "fit"),
    ("Mlt above Sng", "Mlt", "Sng", "greater", 0.0, "mlt"),
    ("SnZ above 0", "SnZ", None, "greater", 0.0, "zero"),
    ("AuZ at least .05 above SnZ", "AuZ", "SnZ", "greater", 0.05, "zero"),
    ("AuZ within .02 of BsZ or better", "AuZ", "BsZ", "not_worse", 0.02, "zero"),
    ("SnZ, conditional-mean reading, above 0.50", "SnZ+cm", None, "greater", 0.50, "zero"),
    ("SnZ, conditional-mean reading, within .02 of BsZ or better", "SnZ+cm", "BsZ", "not_worse", 0.02, "zero"))


def findings(preds, pool, reader, data, siblings, seeds, resamples) -> list[dict]:
  out = []
  fit_rows = list(data)
  mlt_rows = [n for g in mlt_groups(list(data)) for n in g]
  zero_rows = [f"{a}→{b}" for a in data for b, _ in siblings[a]]
  for name, a, b, claim, margin, kind in CLAIMS:
    rows = {"fit": fit_rows, "mlt": mlt_rows, "zero": zero_rows}[kind]
    conds = [a] if b is None else [a, b]
    if not all((c, r) in preds and len(preds[(c, r)]) == len(seeds) for c in conds for r in rows):
      continue
    groups = []
    for r in rows:
      target = r.split("→")[-1]
      y = reader.y(target, pool.rows(target, "test"))
      stack = lambda c: np.stack([preds[(c, r)][s][:, :y.shape[1]] for s in seeds])
      groups.append(stats.Group(stack(a), y, None if b is None else stack(b)))
    res = stats.bootstrap(groups, resamples=resamples, seed=0)
    out.append({"claim": name, "compared": a if b is None else f"{a} − {b}", "rows": len(rows),
                **res, "verdict": stats.verdict(res["low"], res["high"], claim, margin)})
  return out


def analyze_markdown(res: dict) -> str:
  s, lines = res["summary"], []
  lines += [f"stage 2: `{res['workdir']}`, stage 1: `{res['stage1']}`, seeds {res['seeds']}", "",
            "| reading before the foreign head | SnZ | AuZ | Sng (own head, after the reading) | Aug (own head) |",
            "|---|---|---|---|---|"]
  f = lambda x: f"{x[0]:.3f} ± {x[1]:.3f}" if x else "–"
  for key, row in s.items():
    if key != "energy":
      lines.append(f"| {key} | {f(row.get('SnZ'))} | {f(row.get('AuZ'))} | {f(row.get('Sng'))} | {f(row.get('Aug'))} |")
  lines += ["", "| encoder | energy outside its own head's span | spread (centred) outside it |", "|---|---|---|"]
  for c, e in s["energy"].items():
    lines.append(f"| {c} | {f(e['outside_own'])} | {f(e['outside_own_centered'])} |")
  if res["findings"]:
    lines += ["", "| finding | compared | difference | 95 % interval | per seed | verdict |", "|---|---|---|---|---|---|"]
    for x in res["findings"]:
      lines.append(f"| {x['claim']} | {x['compared']} | {x['difference']:+.3f} | [{x['low']:+.3f}, {x['high']:+.3f}] "
                   f"| {', '.join(f'{d:+.3f}' for d in x['per_seed'])} | {x['verdict']} |")
  return "\n".join(lines)


# ------------------------------------------------------------------------- Polish split shuffles

def split_shuffles(pair: str, shuffles: int, seeds: tuple[int, ...]) -> dict:
  """Per-direction baselines of one mapping pair on `shuffles` random 3:1:1 splits of its items
  (shuffle 0 = the committed split), each with `seeds`: test r per direction, mean over seeds."""
  base = mapping_data.load_pair(pair)
  items = [k for p in splits.PARTS for k in base.items[p]]
  ya = np.concatenate([base.a[p] for p in splits.PARTS])
  yb = np.concatenate([base.b[p] for p in splits.PARTS])
  n = len(items)
  cut = [0, n * 3 // 5, n * 4 // 5, n]
  packing = codec.Packing.of(train_mapping.layout_of([base]))
  cfg = codec.CodecConfig()
  out = {}
  for k in range(shuffles):
    order = np.arange(n) if k == 0 else np.random.RandomState(k).permutation(n)
    if k == 0:  # the committed split, as it is
      parts = {p: np.arange(sum(len(base.items[q]) for q in splits.PARTS[:i]),
                            sum(len(base.items[q]) for q in splits.PARTS[:i + 1]))
               for i, p in enumerate(splits.PARTS)}
    else:
      parts = {p: order[cut[i]:cut[i + 1]] for i, p in enumerate(splits.PARTS)}
    data = mapping_data.PairData(base.pair, {p: [items[i] for i in parts[p]] for p in parts},
                                 {p: ya[parts[p]] for p in parts}, {p: yb[parts[p]] for p in parts})
    arrays = {p: train_mapping.direction_arrays(packing, [data], p) for p in splits.PARTS}
    _, test_SxDxW, _ = baselines.train_baselines(cfg, packing, arrays["train"], arrays["dev"], arrays["test"],
                                                 seeds, epochs=50, batch_size=32, learning_rate=1e-3)
    mask = np.asarray(jax.vmap(lambda f: codec.score_mask(packing, f))(arrays["test"]["tgt"])) > 0
    out[k] = {d.name: float(np.mean([test_SxDxW[s, i][mask[i]].mean() for s in range(len(seeds))]))
              for i, d in enumerate(train_mapping.directions_of([data]))}
    print(k, out[k], flush=True)
  return out


def compare(run: pathlib.Path, reference: pathlib.Path, seeds=None, only=None) -> dict:
  """A stage-2 run's option row: Sng, Aug over its datasets, SnZ, AuZ over its directions, and
  Sng − Bsl against the Bsl of `reference` (same datasets and seeds), mean ± sd over seeds."""
  res = json.loads((run / "results.json").read_text())
  ref = json.loads((reference / "results.json").read_text())
  seeds = seeds or res["seeds"]
  def per_seed(results, cond, rows=None):
    table = results["conditions"][cond]["test"]["rows"]
    rows = rows or [r for r in table if not only or "→" in r or r in only]
    idx = [results["seeds"].index(s) for s in seeds]
    return np.mean([[table[r]["mean"]["values"][i] for i in idx] for r in rows], 0), rows
  out = {"run": str(run), "seeds": seeds}
  for cond in ("Sng", "Aug", "BsZ", "SnZ", "AuZ"):
    if cond in res["conditions"]:
      v, rows = per_seed(res, cond)
      out[cond] = [float(v.mean()), float(v.std(ddof=1))]
      if cond == "Sng":
        d = v - per_seed(ref, "Bsl", rows)[0]
        out["Sng-Bsl"] = [float(d.mean()), float(d.std(ddof=1))]
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("command", choices=("geometry", "analyze", "splits", "compare"))
  p.add_argument("paths", nargs="*")
  p.add_argument("--out", default="/tmp/snz")
  p.add_argument("--name", default=None, help="output file stem (default: from the command)")
  p.add_argument("--resamples", type=int, default=2000)
  p.add_argument("--shuffles", type=int, default=5)
  p.add_argument("--pair", default="pl_va_be5")
  p.add_argument("--seeds", default=None, help="compare: only these seeds (default: the run's)")
  p.add_argument("--only", default=None, help="compare: only these datasets' fit rows")
  args = p.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  if args.command == "geometry":
    rows = [geometry_of(path) for path in args.paths]
    result, md = rows, geometry_markdown(rows)
  elif args.command == "analyze":
    if len(args.paths) != 1:
      raise SystemExit("analyze takes one stage-2 workdir")
    result = analyze(pathlib.Path(args.paths[0]).resolve(), args.resamples)
    md = analyze_markdown(result)
  elif args.command == "compare":  # paths: reference run (its Bsl), then the runs
    ref = pathlib.Path(args.paths[0])
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
    only = args.only.split(",") if args.only else None
    result = [compare(pathlib.Path(r), ref, seeds, only) for r in args.paths[1:]]
    f = lambda r, k: f"{r[k][0]:.3f} ± {r[k][1]:.3f}" if k in r else "–"
    md = "\n".join(["| run | Sng | Sng − Bsl | Aug | BsZ | SnZ | AuZ |", "|---|---|---|---|---|---|---|"]
                    + [f"| {pathlib.Path(r['run']).name} | {f(r, 'Sng')} | {f(r, 'Sng-Bsl')} | {f(r, 'Aug')} | {f(r, 'BsZ')} | "
                       f"{f(r, 'SnZ')} | {f(r, 'AuZ')} |" for r in result])
  else:
    result = split_shuffles(args.pair, args.shuffles, (0, 1, 2))
    dirs = list(result[0])
    md = "\n".join(["| split | " + " | ".join(dirs) + " |", "|---" * (len(dirs) + 1) + "|"]
                   + [f"| {'committed' if k == 0 else f'shuffle {k}'} | " + " | ".join(f"{v[d]:.3f}" for d in dirs)
                      + " |" for k, v in result.items()]
                   + ["| mean ± sd over the shuffles | " + " | ".join(
                       f"{np.mean([v[d] for v in result.values()]):.3f} ± {np.std([v[d] for v in result.values()], ddof=1):.3f}"
                       for d in dirs) + " |"])
  stem = args.name or args.command
  (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
  (out / f"{stem}.md").write_text(md + "\n")
  print(md)


if __name__ == "__main__":
  main()
