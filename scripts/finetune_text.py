"""Stage 2 for texts, mode (b): full MiniLM fine-tuning against the frozen stage-1 heads.

  python scripts/finetune_text.py --accelerator=gpu     # the table: Bsl/Sng/Aug x 2 datasets x 3 seeds
  python scripts/finetune_text.py --accelerator=cpu datasets=emobank_vad conditions=Sng seeds=0 \
      export=emobank_vad:Sng max_steps=150 eval_every=50 max_length=64 --workdir=/tmp/texts_ft_cpu  # CPU demo
Overrides are `emojax.finetune_text.FinetuneConfig` fields (conditions=Sng,Aug, seeds=0, ...).
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
  results = finetune_text.run(cfg, args.workdir)
  common.report(f"{finetune_text.summary(results)}\nresults: {args.workdir}/results.md")


if __name__ == "__main__":
  main()
