"""Re-renders a fine-tuning workdir's results table from its results.json: the table and
results.md are recomputed from the per-run records with the current report code (how the GPU runs'
committed results under benchmarks/gpu_h100/ were rendered after the image table's sd became the
sample sd of every other table).

  python scripts/render_finetune_results.py benchmarks/gpu_h100/images_finetune_results.json
  python scripts/render_finetune_results.py checkpoints/texts_finetune/results.json --write
Prints the markdown; --write also rewrites results.json's table and the results.md beside it.
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("results", type=pathlib.Path, help="results.json of scripts/finetune_{text,image}.py")
  p.add_argument("--write", action="store_true")
  args = p.parse_args()
  from emojax import config, finetune_image, finetune_text
  results = json.loads(args.results.read_text())
  module = finetune_image if "image_size" in results["config"] else finetune_text
  cfg_class = finetune_image.FinetuneImageConfig if module is finetune_image else finetune_text.FinetuneConfig
  results["table"] = module.table(results["runs"], config.from_dict(cfg_class, results["config"]))
  md = module.markdown(results)
  print(md, end="")
  if args.write:
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    args.results.with_name(args.results.name.replace(".json", ".md")).write_text(md)


if __name__ == "__main__":
  main()
