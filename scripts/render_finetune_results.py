"""Re-renders a fine-tuning workdir's results table from its results.json: the table and
results.md are recomputed from the per-run records with the current `emojax.report` (how the GPU
runs' committed results were rendered after the image table's sd became the sample sd of every
other table).

  python scripts/render_finetune_results.py checkpoints/images_finetune/results.json
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
  p.add_argument("results", type=pathlib.Path,
                 help="results.json of launch/content.py --config=configs/{texts,images}_finetune.py")
  p.add_argument("--write", action="store_true")
  args = p.parse_args()
  from emojax import report
  results = json.loads(args.results.read_text())
  cfg = results["config"]
  if "image_size" in cfg:  # an image fine-tuning config
    results["table"] = report.image_finetune_table(results["runs"], cfg["conditions"], cfg["datasets"])
  else:
    results["table"] = report.text_finetune_table(results["runs"], cfg["datasets"])
  md = report.finetune_markdown(results)
  print(md, end="")
  if args.write:
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    args.results.with_name(args.results.name.replace(".json", ".md")).write_text(md)


if __name__ == "__main__":
  main()
