"""Stage 2: content encoders against the frozen stage-1 heads, all conditions, 3 seeds.

  python launch/content.py --modality=words             # every word dataset, checkpoints/words
  python launch/content.py --modality=images            # BASS, cached MobileNetV2 features, checkpoints/images
  python launch/content.py --modality=images --accelerator=gpu   # BASS, MobileNetV2 fine-tuned,
      # checkpoints/images_finetune (image_mode=finetune is the default on GPU/TPU, features on CPU;
      # either can be asked for: image_mode=features|finetune; fields: emojax.finetune_image)
  python launch/content.py --modality=words vectors=spacy300 --workdir=/tmp/words_spacy
  python launch/content.py --modality=words stage1=/path/to/mapping datasets=schmidtke_vad,briesemeister_be5
  python launch/content.py --modality=texts             # EmoBank + Affective Text, frozen MiniLM, checkpoints/texts
  python launch/content.py --modality=words --accelerator=gpu batch_shards=2 grad_accum=4  # see README, "Scaling out"

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
  default_workdir = args.workdir == str(common.ROOT / "checkpoints/<modality>")
  if default_workdir:
    args.workdir = str(common.ROOT / "checkpoints" / args.modality)
  common.setup(args)
  from emojax import finetune_image, train_content
  overrides, image_mode = common.overrides(args), None
  if args.modality == "images":  # image_mode=features|finetune, default by platform
    image_mode, overrides = finetune_image.pop_mode(overrides)
    if image_mode == "finetune" and default_workdir:
      args.workdir = str(common.ROOT / "checkpoints" / "images_finetune")
  common.check_writable(args.workdir)
  if image_mode == "finetune":
    base = finetune_image.FinetuneImageConfig(stage1=str(common.ROOT / "checkpoints" / "mapping"))
    cfg = common.configure(args, base, "emojax stage 2: images, full fine-tuning", overrides)
    results = finetune_image.run(cfg, args.workdir)
    common.report(f"{finetune_image.summary(results)}\nresults: {args.workdir}/results.md")
    return
  base = train_content.default_config(args.modality,
                                      stage1=str(common.ROOT / "checkpoints" / "mapping"))
  cfg = common.configure(args, base, f"emojax stage 2: {args.modality}", overrides)
  results = train_content.run(cfg, args.workdir)
  means = " ".join(f"{c} {s['mean']:.3f}" for c, s in results["means"].items() if s)
  common.report(f"test mean r: {means}\nwall time: {results['timing']['wall_s']:.0f} s\n"
                f"results: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
