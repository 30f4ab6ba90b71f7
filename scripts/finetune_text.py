"""Stage 2 for texts, mode (b): full MiniLM fine-tuning against the frozen stage-1 heads.

  python scripts/finetune_text.py --workdir=checkpoints/texts_finetune          # GPU default run
  python scripts/finetune_text.py --accelerator=cpu max_steps=150 eval_every=50 max_length=64 \
      --workdir=/tmp/texts_ft_cpu                                                 # CPU demonstration
Overrides are `emojax.finetune_text.FinetuneConfig` fields (condition=Aug, dataset=afftext_be5, ...).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "launch"))
import common  # noqa: E402


def main() -> None:
  args = common.start(__doc__, "checkpoints/texts_finetune")
  from emojax import finetune_text
  base = finetune_text.FinetuneConfig(stage1=str(common.ROOT / "checkpoints" / "mapping"))
  cfg = common.configure(args, base, "emojax stage 2: texts, full fine-tuning")
  out = finetune_text.finetune(cfg, args.workdir)
  common.report(f"loss: first {out['first_loss']:.4f}, last {out['last_loss']:.4f} over {out['steps']} steps "
        f"({out['s_per_step']:.2f} s/step); best dev r {out['best_dev_r']:.3f}; dev {out['dev']}\n"
        f"results: {args.workdir}/results.json")


if __name__ == "__main__":
  main()
