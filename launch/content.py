"""Stage 2: content encoders against the frozen stage-1 heads, all conditions, 3 seeds.

  python launch/content.py --modality=words             # every word dataset, checkpoints/words
  python launch/content.py --modality=images            # BASS, cached MobileNetV2 features, checkpoints/images
  python launch/content.py --modality=words vectors=spacy300 --workdir=/tmp/words_spacy
  python launch/content.py --modality=words stage1=/path/to/mapping datasets=schmidtke_vad,briesemeister_be5
  python launch/content.py --modality=texts             # EmoBank + Affective Text, frozen MiniLM, checkpoints/texts

Reads the stage-1 model from `stage1=` (default checkpoints/mapping; train it with
launch/mapping.py). Writes config.json, features/ (cached), groups/*/ (metrics.jsonl, resumable Orbax
checkpoints), results.json/.md and the exported encoder (model/, model.json) that
`emojax.load(workdir)` serves with embed/predict.
"""

import common


def main() -> None:
  p = common.parser(__doc__.splitlines()[0], "checkpoints/<modality>")
  p.add_argument("--modality", choices=("words", "texts", "images"), default="words")
  args = p.parse_args()
  if args.workdir == str(common.ROOT / "checkpoints/<modality>"):
    args.workdir = str(common.ROOT / "checkpoints" / args.modality)
  common.setup(args)
  from emojax import config, train_content
  base = train_content.default_config(args.modality,
                                      stage1=str(common.ROOT / "checkpoints" / "mapping"))
  cfg = config.override(base, common.overrides(args))
  common.header(f"emojax stage 2: {args.modality}", cfg, args.workdir)
  results = train_content.run(cfg, args.workdir)
  means = " ".join(f"{c} {s['mean']:.3f}" for c, s in results["means"].items() if s)
  print(f"test mean r: {means}\nwall time: {results['timing']['wall_s']:.0f} s\n"
        f"results: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
