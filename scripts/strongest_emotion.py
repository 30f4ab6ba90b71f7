"""Does the strongest emotion mean something? Balanced accuracy of the top basic emotion, raw vs calibrated.

Zero-shot: a texts model's BE5 and BE6 heads on the single-label items of ISEAR (classes joy,
anger, sadness, fear, disgust; shame and guilt items left out) and GoEmotions folded into Ekman's
six (`ekman_mapping.json`; items whose labels map to exactly one Ekman class, neutral-only and
mixed items left out). The predicted class is the argmax over the variables the head shares with
the dataset (5 classes, chance .20; BE6 on GoEmotions 6, chance .167); the score is balanced
accuracy (mean per-class recall), with a 95 % percentile bootstrap interval over the evaluated
items (1000 resamples, seed 0) and the paired interval of each reading minus the `--versus`
reading (raw by default) over the same resamples. `--part test` (the
default) reads the test items; `--part dev` the dev items, where choices (an encoder, a reading)
are made blind to the test items.

Calibration statistics (`emojax.calibration.fit`: per-variable mean, sd, quantiles), each from
training-side data only, never from the evaluated test labels:
  pool    the model's predictions on its calibration pool (`calibration.compute`): its stage-2
          training split (EmoBank and Affective Text train for `texts`) and 1,000 training texts
          of each bundled genre it was not trained on (GoEmotions' Reddit comments), each part
          weighing the same: what `calibration.write` stores beside a model and
          `predict(..., calibrated=True)` uses. ISEAR is a genre outside it; GoEmotions is read
          against statistics that include unlabelled comments of its own training split;
  heldout the same pool without the evaluated dataset's own texts (on GoEmotions: `train`);
  train   the model's predictions on its stage-2 training split alone (the reading before the pool);
  labels  the gold BE labels of the codec's mapping pairs (train part);
  codec   the head's outputs for the other side of those pairs (train part), through the codec;
  domain  the model's predictions on another part of the evaluated dataset (dev when test is read,
          train when dev is; labels unused; a reference: it needs unlabelled text of the target
          domain);
  probe   not the model at all, a reference for what the features know: a ridge probe from the
          frozen text features straight to Affective Text's BE5 labels (`probe.ridge_probe`,
          penalty chosen on Affective Text dev), read against its own predictions on Affective
          Text train (frozen-feature models only).
each read by `center` (minus mean), `zscore` ((x - mean) / sd) or `quantile` (percentile).

  python scripts/strongest_emotion.py [--model texts [DIR ...]] [--cache DIR] [--train-cache DIR]
         [--part test|dev] [--readings raw,pool/zscore,...] [--versus raw] [--out results.json]
         [--boot 1000] [--write-calibration DIR]

--out writes every number as JSON, with each reading's confusion counts (gold x predicted) and the
correlations between the raw head's variables over the evaluated items.
MiniLM features of the evaluated texts are cached in --cache (a model with another or a fine-tuned
encoder embeds them itself, uncached); a frozen-feature model's training and pool features are read from
--train-cache (stage 2's cache; computed there if missing). --write-calibration writes
the model's calibration.json into DIR (the model directory for shipping).
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DATASETS = {"ISEAR": "isear", "GoEmotions": "goemotions_ekman"}
EXAMPLES = ("I lost my job today and my dog died", "I am so angry I could scream", "This is disgusting")
SOURCES = ("pool", "heldout", "train", "labels", "codec", "domain", "probe")
DOMAIN_ITEMS = 2000  # items of the other part read for the `domain` reference (a RandomState(0) subset)
DOMAIN_PART = {"test": "dev", "dev": "train"}  # the unlabelled part `domain` reads, never the evaluated one
PROBE_DATASET = {"be5": "afftext_be5"}  # the bundled English texts of a BE format


def single_label(name: str, part: str) -> tuple[list[str], list[str]]:
  """(texts, class name) of a class-format text dataset's items with exactly one class."""
  from emojax import datasets, formats, new_format_data
  fmt = formats.get_format(datasets.get_dataset(name, "texts", classes=True).format)
  _, texts, y = new_format_data.parts(name)[0][part]
  one = np.flatnonzero(y.sum(1) == 1)
  return [texts[i] for i in one], [fmt.variables[int(np.argmax(y[i]))] for i in one]


def features(name: str, texts: list[str], model, cache) -> np.ndarray | None:
  """The frozen sentence-encoder features of texts, cached; None for a model that has none (a
  fine-tuned encoder)."""
  from emojax import text_data
  feature = model.content_meta["feature"]
  if not text_data.is_text_feature(feature):
    return None
  return text_data.cached_text_features(name, texts, cache_dir=cache, **text_data.settings(feature))


def embeddings(x, texts: list[str], model) -> np.ndarray:
  """The model's embeddings of texts: from their `features` when it has them, else through the
  model's own `embed` (a fine-tuned encoder; not cached)."""
  return model.embed(texts) if x is None else model.embed_features(x)


def ridge_probe(model, head: str, cache):
  """(a function from frozen features to `head` values, their statistics on the probe's training
  items): `probe.ridge_probe` fitted on PROBE_DATASET[head]; None where there is none."""
  from emojax import calibration, probe, text_data
  name = PROBE_DATASET.get(head)
  if name is None or not text_data.is_text_feature(model.content_meta["feature"]):
    return None
  d = text_data.load_texts(name, cache, **text_data.settings(model.content_meta["feature"]))
  w_DxV, b_V = probe.ridge_probe(d.x, d.y)["weights"]
  predict = lambda x: probe.ridge_predict(w_DxV, b_V, x)  # noqa: E731
  return predict, calibration.fit(predict(d.x["train"]))


def label_stats(model, head: str) -> tuple[np.ndarray, np.ndarray]:
  """(gold labels, codec outputs) of `head`'s variables over the codec's mapping pairs (train):
  every pair side whose format has all of the head's variables; the codec output maps the
  pair's other side into the head."""
  from emojax import mapping_data
  want = model.formats[head].variables
  gold, mapped = [], []
  for pair in model.config.pairs:
    data = mapping_data.load_pair(pair)
    sides = ((data.format_a, data.a, data.format_b, data.b), (data.format_b, data.b, data.format_a, data.a))
    for fmt, y, other_fmt, other_y in sides:
      if set(want) <= set(fmt.variables) and other_fmt.name in model.formats:
        gold.append(y["train"][:, [fmt.variables.index(v) for v in want]])
        mapped.append(model.map_labels(other_y["train"], other_fmt.name, head))
  return np.concatenate(gold), np.concatenate(mapped)


def confusion(gold_N, pred_N, n_classes: int) -> list[list[int]]:
  """Counts [gold class][predicted class]; a row holding NaN (predicted -1) is counted nowhere."""
  out = np.zeros((n_classes, n_classes), np.int64)
  ok = pred_N >= 0
  np.add.at(out, (gold_N[ok], pred_N[ok]), 1)
  return out.tolist()


ALL_READINGS = ("raw",) + tuple(f"{s}/{m}" for s in SOURCES for m in ("center", "zscore", "quantile"))


def evaluate(model, label: str, record: dict, readings, args) -> tuple[dict, list]:
  """Every reading of every emotion head of one model on both datasets: results and table rows."""
  from emojax import calibration, new_format_data
  heads = list(record["formats"])
  own = calibration.compute(model, args.train_cache, pool=False)["formats"]
  stats = {h: {"pool": record["formats"][h], "train": own[h]} for h in heads}
  for h in heads:
    gold, mapped = label_stats(model, h)
    stats[h]["labels"], stats[h]["codec"] = calibration.fit(gold), calibration.fit(mapped)
  probes = {h: ridge_probe(model, h, args.train_cache) for h in heads
            if any(r.startswith("probe/") for r in readings)}
  out, rows = {"source": record["source"], "part": args.part, "datasets": {}}, []
  for name_, name in DATASETS.items():
    texts, gold_names = single_label(name, args.part)
    x = features(f"{name}_{args.part}_single", texts, model, args.cache)
    e = embeddings(x, texts, model)
    domain_part = DOMAIN_PART[args.part]
    _, other_texts, _ = new_format_data.parts(name)[0][domain_part]
    keep = np.sort(np.random.RandomState(0).permutation(len(other_texts))[:DOMAIN_ITEMS])
    other_texts = [other_texts[i] for i in keep]
    e_other = embeddings(features(f"{name}_{domain_part}_domain", other_texts, model, args.cache),
                         other_texts, model)
    heldout = (calibration.compute(model, args.train_cache, leave_out=(name,))["formats"]
               if any(r.startswith("heldout/") for r in readings) else {})
    for h in heads:
      variables = model.formats[h].variables
      classes = [v for v in variables if v in set(gold_names)]
      if len(classes) < 2:  # e.g. pos7: no class of the dataset is one of its variables
        continue
      cols = [variables.index(c) for c in classes]
      rows_in = np.asarray([g in classes for g in gold_names])
      gold = np.asarray([classes.index(g) for g, k in zip(gold_names, rows_in) if k])
      pred = model.decode_embeddings(e, h)[rows_in]
      stats[h]["domain"] = calibration.fit(model.decode_embeddings(e_other, h))
      stats[h]["heldout"] = heldout.get(h)  # None where not asked for
      if probes.get(h) is not None:
        probe_of, stats[h]["probe"] = probes[h]
        probe_pred = probe_of(x)[rows_in]
      idx = calibration.bootstrap_indices(len(gold), args.boot, seed=0)
      raw = calibration.strongest(pred[:, cols])
      entry = {"n": int(len(gold)), "classes": classes,
               "class_counts": np.bincount(gold, minlength=len(classes)).tolist(),
               "raw_correlation": np.round(np.corrcoef(pred[:, cols].T), 3).tolist(), "readings": {}}
      tops = {}
      for key in readings:
        if key == "raw":
          tops[key] = raw
        else:
          source, method = key.split("/")
          if stats[h].get(source) is None:  # `probe` for a head without a probe dataset or features
            continue
          values = probe_pred if source == "probe" else pred
          s = calibration.calibrate(values, stats[h][source], method)[:, cols]
          tb = (calibration.calibrate(values, stats[h][source], "zscore")[:, cols]
                if method == "quantile" else None)
          tops[key] = calibration.strongest(s, tb)
      for key, top in tops.items():
        ba = calibration.balanced_accuracy(gold, top, len(classes))
        r = {"balanced_accuracy": ba,
             "interval": list(calibration.bootstrap_interval(gold, top, len(classes), idx)),
             "predicted_share": dict(zip(classes, np.round(
                 np.bincount(top, minlength=len(classes)) / len(top), 3).tolist())),
             "confusion": confusion(gold, top, len(classes))}
        if key != args.versus and args.versus in tops:  # paired: the same resamples of the items
          base = tops[args.versus]
          r["minus"] = ba - calibration.balanced_accuracy(gold, base, len(classes))
          r["minus_interval"] = list(calibration.bootstrap_interval(gold, top, len(classes), idx, base))
        entry["readings"][key] = r
        rows.append((label, name_, h, len(gold), len(classes), key, r))
      out["datasets"][f"{name_}/{h}"] = entry
      print(f"{label} {name_} {h}: n={len(gold)} done", file=sys.stderr)
  frame = model.predict(list(EXAMPLES), formats=heads)
  calibrated = calibration.calibrated_frame(frame, record, heads)
  out["examples"] = {}
  for h in heads:
    variables = list(model.formats[h].variables)
    for text in EXAMPLES:
      values = frame.loc[text, [f"{h}.{v}" for v in variables]].to_numpy()
      out["examples"][f"{h}:{text}"] = {
          "raw": variables[int(np.argmax(values))], "calibrated": calibrated.loc[text, f"{h}.strongest"],
          "raw_values": dict(zip(variables, np.round(values, 3).tolist())),
          "z": dict(zip(variables, np.round(calibrated.loc[text, [f"{h}.{v}" for v in variables]]
                                            .to_numpy(np.float64), 2).tolist()))}
  return out, rows


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--model", nargs="+", default=["texts"], help="pretrained names or model directories")
  ap.add_argument("--cache", default=str(ROOT / "checkpoints" / ".feature_cache" / "texts"))
  ap.add_argument("--train-cache", default=str(ROOT / "checkpoints" / ".feature_cache" / "texts"))
  ap.add_argument("--part", choices=tuple(DOMAIN_PART), default="test",
                  help="the evaluated items: test, or dev for choices made blind to test")
  ap.add_argument("--readings", default=",".join(ALL_READINGS),
                  help=f"comma-separated, of {', '.join(ALL_READINGS)}")
  ap.add_argument("--versus", default="raw",
                  help="the reading every other one is compared with, paired over the same resamples")
  ap.add_argument("--out", default="")
  ap.add_argument("--boot", type=int, default=1000)
  ap.add_argument("--write-calibration", default="",
                  help="write the (first) model's calibration.json into this directory")
  args = ap.parse_args()
  readings = [r.strip() for r in args.readings.split(",") if r.strip()]
  unknown = [r for r in readings if r not in ALL_READINGS]
  if unknown:
    ap.error(f"unknown reading(s) {unknown}; known: {', '.join(ALL_READINGS)}")
  if args.versus not in readings:
    ap.error(f"--versus {args.versus} is not among --readings {','.join(readings)}")

  import emojax
  from emojax import calibration

  results, rows, examples = {"boot": args.boot, "versus": args.versus, "models": {}}, [], []
  for i, where in enumerate(args.model):
    t0 = time.time()
    model = emojax.load(where)
    label = where if emojax.pretrained.is_name(where) else pathlib.Path(where).name
    record = calibration.compute(model, args.train_cache)
    if i == 0 and args.write_calibration:
      path = pathlib.Path(args.write_calibration) / calibration.CALIBRATION_JSON
      path.write_text(json.dumps(record, indent=1) + "\n")
      print(f"wrote {path}", file=sys.stderr)
    out, model_rows = evaluate(model, label, record, readings, args)
    results["models"][label] = out
    rows += model_rows
    examples += [(label, k, v) for k, v in out["examples"].items()]
    print(f"{label}: {time.time() - t0:.0f} s", file=sys.stderr)

  print(f"items: the {args.part} part\n")
  print("| model | dataset | head | n | classes (chance) | reading | balanced accuracy [95 % CI] | "
        f"minus {args.versus} [95 % CI] | share predicted as each class |")
  print("|---|---|---|---|---|---|---|---|---|")
  for label, name, h, n, k, key, r in rows:
    shares = ", ".join(f"{c} {v:.2f}" for c, v in r["predicted_share"].items())
    diff = (f"{r['minus']:+.3f} [{r['minus_interval'][0]:+.3f}, {r['minus_interval'][1]:+.3f}]"
            if "minus" in r else "")
    print(f"| {label} | {name} | {h} | {n} | {k} ({1 / k:.3f}) | {key} | {r['balanced_accuracy']:.3f} "
          f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}] | {diff} | {shares} |")
  print("\n| model | head | sentence | raw top | calibrated top (pool/zscore) | z-scores |")
  print("|---|---|---|---|---|---|")
  for label, key, v in examples:
    h, _, text = key.partition(":")
    z = ", ".join(f"{k} {x:+.2f}" for k, x in v["z"].items())
    print(f"| {label} | {h} | {text} | {v['raw']} | {v['calibrated']} | {z} |")
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
  main()
