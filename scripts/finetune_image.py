"""Stage 2 for images, mode (b): MobileNetV2 fine-tuned against the frozen stage-1 heads.

  python scripts/finetune_image.py --accelerator=gpu --workdir=checkpoints/images_finetune   # full run
  python scripts/finetune_image.py --accelerator=cpu conditions=Sng seeds=0 datasets=bass_us_va \
      export=bass_us_va:Sng max_steps=60 eval_every=20 --workdir=/tmp/images_ft_cpu          # CPU demo
Overrides are `emojax.finetune_image.FinetuneImageConfig` fields. `python launch/content.py
--modality=images` does the same on GPU/TPU (image_mode=finetune is its default there).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "launch"))
import common  # noqa: E402


def main() -> None:
  args = common.start(__doc__, "checkpoints/images_finetune")
  from emojax import finetune_image
  base = finetune_image.FinetuneImageConfig(stage1=str(common.ROOT / "checkpoints" / "mapping"))
  cfg = common.configure(args, base, "emojax stage 2: images, full fine-tuning")
  results = finetune_image.run(cfg, args.workdir)
  common.report(f"{finetune_image.summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
