"""Wall time of the whole stage-2 word experiment (every dataset, condition and seed), per vector set.

Runs `train_content.run` end to end in a fresh workdir per vector set, exactly what
`python launch/content.py --modality=words vectors=<v>` does, with JAX's persistent compilation
cache OFF (a first run's compile time is included) but the feature cache kept between runs unless
--fresh-features. Writes <root>/bench_words.json (default root: checkpoints/bench_words): machine,
versions, and per vector set the wall time and its phases, the load average around it (the
machine is shared), the condition means and the VADER check. Runs of other vector sets already in
the file are kept.

    .venv/bin/python -m benchmarks.bench_words                        # glove50 and spacy300, 3 seeds
    .venv/bin/python -m benchmarks.bench_words --vectors=glove50 epochs=10   # overrides as name=value
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import time

import jax

from emojax import config, train_content

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--vectors", default="glove50,spacy300", help="comma-separated vector sets")
  ap.add_argument("--root", default=str(ROOT / "checkpoints" / "bench_words"),
                  help="workdirs go to <root>/<vectors> (wiped first)")
  ap.add_argument("--stage1", default=str(ROOT / "checkpoints" / "mapping"))
  ap.add_argument("--out", default=None, help="default <root>/bench_words.json")
  ap.add_argument("--fresh-features", action="store_true", help="recompute cached word features")
  ap.add_argument("overrides", nargs="*", metavar="name=value")
  args = ap.parse_args()

  path = pathlib.Path(args.out or pathlib.Path(args.root) / "bench_words.json")
  kept = json.loads(path.read_text())["runs"] if path.exists() else {}
  out = {"what": "whole stage-2 word experiment: train_content.run, every dataset/condition/seed",
         "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                     "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
                     "python": platform.python_version(), "jax": jax.__version__},
         "persistent_compilation_cache": False, "runs": kept}
  for vectors in args.vectors.split(","):
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    workdir = pathlib.Path(args.root) / vectors
    cache = pathlib.Path(args.root) / "features"
    shutil.rmtree(workdir, ignore_errors=True)  # no resume: the whole experiment is timed
    if args.fresh_features:
      shutil.rmtree(cache, ignore_errors=True)
    cfg = train_content.ContentConfig(stage1=args.stage1, vectors=vectors, feature_cache=str(cache))
    cfg = config.override(cfg, args.overrides)
    t = time.perf_counter()
    results = train_content.run(cfg, workdir)
    wall = time.perf_counter() - t
    out["runs"][vectors] = {
        "date": date, "wall_s": wall, "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "phases_s": results["timing"]["phases"],
        "workdir": str(workdir),
        "encoders": results["timing"]["runs"], "compiled_groups": results["timing"]["group_sizes"],
        "seeds": list(cfg.seeds), "epochs": cfg.epochs, "feature_dim": results["feature_dim"],
        "test_mean_r": {c: s["mean"] if s else None for c, s in results["means"].items()},
        "findings": {f["claim"]: round(f["difference"], 4) for f in results["findings"]},
        "vader_r": {k: v["mean"] for k, v in results.get("vader", {}).items() if isinstance(v, dict)}}
    print(f"{vectors}: {wall:.0f} s, test mean r " +
          ", ".join(f"{c} {m:.3f}" for c, m in out["runs"][vectors]["test_mean_r"].items() if m))
    path.write_text(json.dumps(out, indent=2) + "\n")  # after every run: partial results survive
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
