"""Zero-shot BE5 for BASS images: the exported image encoder (trained on valence/arousal only)
read through the frozen BE5 head. No BE5 gold exists for BASS, so this shows (1) a grid of the 5
test images each basic emotion ranks highest and (2) the Pearson r of predicted joy with the rated
valence of the test images, for the US and the Chinese raters (expected positive).

  python scripts/bass_zero_shot.py [--workdir checkpoints/images] [--out docs/bass_zero_shot_be5.png]

Features come from the workdir's feature cache (computed by `launch/content.py --modality=images`).
Writes the PNG and a JSON of the numbers beside it.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--workdir", default=str(ROOT / "checkpoints" / "images"))
  ap.add_argument("--out", default=str(ROOT / "docs" / "bass_zero_shot_be5.png"))
  ap.add_argument("--part", default="test", choices=("train", "dev", "test"))
  ap.add_argument("--top", type=int, default=5)
  args = ap.parse_args()

  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from PIL import Image

  import emojax
  from emojax import datasets, formats, image_data

  model = emojax.load(args.workdir)
  cache = pathlib.Path(args.workdir) / "features"
  data = {n: image_data.load_images(n, cache) for n in datasets.names("images")}
  first = data[datasets.names("images")[0]]
  names, x_NxD = first.items[args.part], first.x[args.part]
  e_NxE = model.embed_features(x_NxD)
  be5_NxV, va_NxV = model.decode_embeddings(e_NxE, "be5"), model.decode_embeddings(e_NxE, "va")
  emotions = formats.get_format("be5").variables
  joy, valence = emotions.index("joy"), formats.get_format("va").variables.index("valence")
  pearson = lambda a, b: float(np.corrcoef(a, b)[0, 1])
  r = {n: pearson(be5_NxV[:, joy], d.y[args.part][:, valence]) for n, d in data.items()}
  r_va = {n: pearson(va_NxV[:, valence], d.y[args.part][:, valence]) for n, d in data.items()}

  top = {e: [int(i) for i in np.argsort(-be5_NxV[:, v])[:args.top]] for v, e in enumerate(emotions)}
  fig, axes = plt.subplots(len(emotions), args.top, figsize=(2.0 * args.top, 2.25 * len(emotions)))
  for v, e in enumerate(emotions):
    for k, i in enumerate(top[e]):
      ax = axes[v, k]
      ax.imshow(Image.open(image_data.IMAGE_DIR / names[i]).convert("RGB"))
      ax.set_xticks([]), ax.set_yticks([])
      ax.set_title(f"{names[i][:-4][:16]}\n{e} {be5_NxV[i, v]:.2f}", fontsize=8)
      if k == 0:
        ax.set_ylabel(e, fontsize=12)
  fig.suptitle(f"BASS {args.part} images ({len(names)}): top {args.top} per basic emotion, zero-shot "
               f"through the BE5 head\n(encoder {model.content_meta['encoder']['run']}, trained on "
               f"valence/arousal only)", fontsize=10)
  fig.tight_layout()
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(out, dpi=80)
  summary = {"encoder": model.content_meta["encoder"], "part": args.part, "n": len(names),
             "pearson_joy_vs_rated_valence": r,
             "pearson_predicted_valence_vs_rated_valence": r_va,  # the trained task, for scale
             "top": {e: [{"image": names[i], "score": float(be5_NxV[i, v])} for i in top[e]]
                     for v, e in enumerate(emotions)},
             "mean_prediction": dict(zip(emotions, be5_NxV.mean(0).round(4).tolist()))}
  out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
  print(f"r(predicted joy, rated valence), {len(names)} {args.part} images: " +
        ", ".join(f"{n} {v:.3f}" for n, v in r.items()) + "\n(VA head's valence for comparison: " +
        ", ".join(f"{n} {v:.3f}" for n, v in r_va.items()) + f")\nwrote {out}")


if __name__ == "__main__":
  main()
