"""Images/s of MobileNetV2 feature extraction at 224 px, batch 32, after a warm-up (compile) call.

Prints two rates: the jitted forward alone on preprocessed batches, and end to end through
`MobileNetFeatures.features` from image files (decode + resize + crop on the host included).

    .venv/bin/python -m benchmarks.bench_image_features [--batches 3]   # from the repo root
"""

import argparse
import glob
import os
import time

import jax
import numpy as np

from emojax.encoders.mobilenet import MobileNetFeatures, mobilenet_forward

B = 32
HERE = os.path.dirname(os.path.abspath(__file__))
BASS = "/work/shared/data/bass/images"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=3, help="timed batches of 32 per measurement")
    args = ap.parse_args()

    mf = MobileNetFeatures()
    fwd = jax.jit(mobilenet_forward)
    x_BxHxWx3 = np.random.default_rng(0).normal(size=(B, 224, 224, 3)).astype(np.float32)
    fwd(mf.params, x_BxHxWx3).block_until_ready()  # warm-up: compile
    t = time.perf_counter()
    for _ in range(args.batches):
        fwd(mf.params, x_BxHxWx3).block_until_ready()
    dt = time.perf_counter() - t
    print(f"forward only:   {args.batches * B / dt:.1f} images/s ({dt / args.batches:.2f} s per batch of {B}, {jax.devices()[0].platform})")

    files = sorted(glob.glob(os.path.join(BASS, "*.png")))
    if not files:  # no BASS copy here: the packaged test image, repeated
        files = [os.path.join(HERE, "..", "tests", "fixtures", "chelsea.jpg")]
    files = (files * (args.batches * B))[: args.batches * B]
    mf.features(files[:B], batch_size=B)  # warm-up
    t = time.perf_counter()
    f_NxD = mf.features(files, batch_size=B)
    dt = time.perf_counter() - t
    print(f"files -> features: {len(f_NxD) / dt:.1f} images/s ({len(f_NxD)} images, {f_NxD.shape[1]}-d)")


if __name__ == "__main__":
    main()
