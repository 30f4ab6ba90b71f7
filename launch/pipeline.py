"""The whole pipeline on the bundled data: stage 1, the words stage against it, a summary, examples.

  python launch/pipeline.py                          # checkpoints/mapping, then checkpoints/words
  python launch/pipeline.py --root=/tmp/run          # /tmp/run/mapping, /tmp/run/words
  python launch/pipeline.py --seeds=0,1,2 steps=2000 # other flags and name=value go to stage 1
  python launch/pipeline.py --config=configs/paper_codec.py   # stage 1 as the paper has it
  python launch/pipeline.py --restart steps=2000     # both stages start over (another config)

What `bash run.sh` runs. Each stage is its launcher in its own process (launch/mapping.py,
launch/content.py --modality=words stage1=<root>/mapping, launch/predict.py), so every stage can
also be rerun alone; a stage that fails stops the pipeline with its exit status (Ctrl-C: the
running stage saves its step in flight and exits 130, and so does the pipeline).
"""

import argparse
import pathlib
import signal
import subprocess
import sys
import time

import common

EXAMPLE_WORDS = ("happy", "holiday", "funeral", "war", "snake", "table")


def stage(*args: str) -> None:
  proc = subprocess.Popen([sys.executable, *args])
  # Ctrl-C reaches the stage itself (same process group), which stops after saving its step in
  # flight; the pipeline only waits for it (killing it would lose that step).
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    returncode = proc.wait()
  finally:
    signal.signal(signal.SIGINT, previous)
  if returncode:
    raise SystemExit(returncode if returncode > 0 else 128 - returncode)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--root", default=str(common.ROOT / "checkpoints"), help="where the workdirs go")
  p.add_argument("--accelerator", choices=("cpu", "gpu", "tpu"), default=None)
  p.add_argument("--restart", action="store_true", help="both stages start over (launch/mapping.py --restart)")
  args, stage1_args = p.parse_known_args()
  if not args.root.strip():
    p.error("--root= is empty (an unset variable?): name a directory, or leave --root out")
  root, launch = pathlib.Path(args.root), common.ROOT / "launch"
  platform = [f"--accelerator={args.accelerator}"] if args.accelerator else []
  restart = ["--restart"] if args.restart else []
  t0 = time.perf_counter()
  stage(str(launch / "mapping.py"), f"--workdir={root / 'mapping'}", *platform, *restart, *stage1_args)
  stage(str(launch / "content.py"), "--modality=words", f"--workdir={root / 'words'}", *platform,
        *restart, f"stage1={root / 'mapping'}")
  from emojax import report
  print("\n" + report.pipeline_summary(root / "mapping", root / "words"))
  print("\nexample predictions of the exported word encoder (VAD in [-1, 1], BE5 in [0, 1]):", flush=True)
  stage(str(launch / "predict.py"), "--model", str(root / "words"), "--format=vad,be5", *platform,
        *EXAMPLE_WORDS)
  print(f"\npipeline wall time: {time.perf_counter() - t0:.0f} s (setup not included)")


if __name__ == "__main__":
  main()
