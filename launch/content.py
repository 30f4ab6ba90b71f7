"""Stage 2: content encoders against the frozen stage-1 heads, all conditions, 3 seeds.

  python launch/content.py --modality=words             # configs/words.py: every word dataset -> checkpoints/words
  python launch/content.py --modality=texts             # configs/texts.py: EmoBank + Affective Text, frozen MiniLM
  python launch/content.py --modality=images            # BASS: configs/images.py (cached MobileNetV2 features) on
      # CPU, configs/images_finetune.py (MobileNetV2 fine-tuned) on GPU/TPU; image_mode=features|finetune
      # picks either anywhere
  python launch/content.py --config=configs/texts_finetune.py --accelerator=gpu   # MiniLM fine-tuned
  python launch/content.py --config=configs/images_finetune.py --accelerator=gpu  # MobileNetV2 fine-tuned
  python launch/content.py --modality=words vectors=spacy300 --workdir=/tmp/words_spacy
  python launch/content.py --modality=words stage1=/path/to/mapping datasets=schmidtke_vad,briesemeister_be5
  python launch/content.py --modality=words --accelerator=gpu batch_shards=2 grad_accum=4  # see docs/scaling.md

`--modality=m` is `--config=configs/m.py` (images: by platform, above); the workdir defaults to
checkpoints/<config name>. Reads the stage-1 model from `stage1=` (default checkpoints/mapping;
train it with launch/mapping.py). Writes config.json, features/ (cached), the runs' metrics and
resumable checkpoints, results.json/.md and the exported encoder (model/, model.json) that
`emojax.load(workdir)` serves with embed/predict. A rerun of the same command resumes; another
config into the same workdir needs --restart (which starts over).
"""

import common

MODALITIES = ("words", "texts", "images")


def arguments(argv=None):
  p = common.parser(__doc__.splitlines()[0], None)
  p.add_argument("--modality", choices=MODALITIES, default=None,
                 help="configs/<modality>.py (default words); images: by platform, or image_mode=")
  return p.parse_args(argv)


def choose_config(args) -> tuple[str, list[str]]:
  """The config file the command line names and the overrides left for it: --config, else
  --modality's file (images: image_mode=features|finetune, by default by platform)."""
  overrides = common.overrides(args)
  if args.config is not None:
    if args.modality is not None:
      raise SystemExit(f"--modality={args.modality} stands for configs/{args.modality}.py: give "
                       f"--config or --modality, not both")
    return args.config, overrides
  name = args.modality or "words"
  if name == "images":
    from emojax import finetune_image
    mode, overrides = finetune_image.pop_mode(overrides)
    name = "images_finetune" if mode == "finetune" else "images"
  return str(common.ROOT / "configs" / f"{name}.py"), overrides


def trainer(cfg) -> common.Trainer:
  """common.trainer's entry for this stage-2 config; any other kind of config is refused here."""
  from emojax import config
  try:
    found = common.trainer(cfg)
  except config.ConfigError:
    found = None
  if found is None or found.stage != "stage 2":
    raise SystemExit(f"a {type(cfg).__name__} is not a stage-2 config (stage 1: launch/mapping.py, "
                     f"new formats: launch/new_format.py)")
  return found


def main() -> None:
  args = arguments()
  common.check_workdir_flag(args)
  common.setup(args)
  path, overrides = choose_config(args)
  common.read_config(args, path)
  common.check_writable(args.workdir)
  found = trainer(args.base)
  cfg = common.configure(args, found.title, overrides, check=found.check)
  results = found.run(cfg, args.workdir, restart=args.restart)
  common.report(f"{found.summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  common.main(main)
