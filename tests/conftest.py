"""Test setup: offline by construction, 8 fake CPU devices for the sharding tests, fast configs;
`launch` runs a launcher in a subprocess, `tiny_stage1` is a tiny stage-1 workdir shared by tests."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

# The suite checks what Ctrl-C does, in this process and in the launchers it starts. Run as a
# background job (`bash test.sh &`), the shell has SIGINT ignored, every child inherits that, and
# the loop then leaves it ignored (as it should): give this process Python's own handling back,
# which its children start from.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
  signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# Most of the suite's time is XLA compiling tiny programs; at LLVM optimisation level 0 XLA's CPU
# backend compiles them 2-3x faster. Results differ from XLA's default level in the last bits, so
# tests compare runs made under the same flags; the published numbers come from the launchers,
# which run at the default level (docs/tests.md).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
# Fake devices must be requested before JAX initialises its backend.
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count=8 {TEST_XLA_FLAGS}")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Many programs are compiled alike by several test processes (both xdist workers, the launchers
# tests start): one XLA compilation cache per suite run, made by the first process (the xdist
# controller) and inherited by the rest, compiles each once. It is removed when that run ends.
OWN_XLA_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if OWN_XLA_CACHE:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="emojax-test-xla-cache-")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pytest_unconfigure(config):
  if OWN_XLA_CACHE:  # only the process that made it (a worker inherited it)
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def launch(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
  """Runs a launcher as a user would (`python launch/x.py --accelerator=cpu ...`), in a fresh
  process with one CPU device; `script` is relative to the repository root, e.g. "launch/mapping.py".
  Import it in a test module with `from conftest import launch`."""
  cmd = [sys.executable, str(ROOT / script), "--accelerator=cpu", *args]
  return subprocess.run(cmd, env=one_device_env(), capture_output=True, text=True, timeout=timeout)


def one_device_env(**extra: str) -> dict[str, str]:
  """This process's environment for a child JAX process on the CPU with one device (no fake
  devices) and the suite's compiler flags."""
  return {**os.environ, "XLA_FLAGS": TEST_XLA_FLAGS, "JAX_PLATFORMS": "cpu", **extra}


def launcher_module(script: str):
  """A launcher imported as a module (e.g. "launch/predict.py"), to call its functions in-process."""
  import importlib.util
  if str(ROOT / "launch") not in sys.path:
    sys.path.insert(0, str(ROOT / "launch"))  # launchers import their sibling `common`
  name = "launcher_" + pathlib.Path(script).stem
  if name not in sys.modules:
    spec = importlib.util.spec_from_file_location(name, ROOT / script)
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])
  return sys.modules[name]


@pytest.fixture(scope="session")
def tiny_stage1(tmp_path_factory) -> pathlib.Path:
  """A tiny stage-1 model of the German pair (formats vad, be5), trained by launch/mapping.py as a
  user would (4 steps). Shared by the whole session: tests must not modify it; a test that needs a
  changed stage-1 model (e.g. to check that a mismatched checkpoint is refused) copies it first."""
  workdir = tmp_path_factory.mktemp("tiny_stage1")
  proc = launch("launch/mapping.py", f"--workdir={workdir}", "pairs=de_vad_be5", "steps=4",
                "eval_every=2", "baseline_epochs=0")
  assert proc.returncode == 0, proc.stderr[-3000:]
  from emojax import checkpoint  # after the environment above is set
  fingerprint = checkpoint.fingerprint(workdir)
  yield workdir
  assert checkpoint.fingerprint(workdir) == fingerprint, "a test modified tiny_stage1"


@pytest.fixture(scope="session")
def untrained_stage1(tmp_path_factory) -> pathlib.Path:
  """An untrained stage-1 model with formats va and be5, exported as training exports it: for tests
  of stage-2 plumbing, which needs heads, not good ones. Tests must not modify it."""
  import jax
  from emojax import checkpoint, codec, formats, train_mapping
  workdir = tmp_path_factory.mktemp("untrained_stage1")
  cfg = train_mapping.MappingConfig(pairs=("es_va_be5",))
  packing = codec.Packing.of(formats.head_layout(["va", "be5"]))
  params = codec.init_params(jax.random.key(0), cfg.codec, packing)
  checkpoint.export_model(workdir, params, packing.layout, cfg, stage="mapping", seed=0,
                          extra={"conditions": []})
  return workdir


def image_inputs() -> list:
  """One BASS image in every input kind a model takes: path, str path, RGB, RGBA, and a resized
  one-channel array (rows 0-3 must embed alike; row 4 only needs to work)."""
  import numpy as np
  from PIL import Image
  from emojax import image_data
  path = image_data.IMAGE_DIR / "abuse.png"
  rgb = np.asarray(Image.open(path).convert("RGB"))
  grey = np.asarray(Image.open(path).convert("L").resize((97, 131)))  # any size, one channel
  rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1)
  return [path, str(path), rgb, rgba, grey]


def check_image_model_inputs(model, tmp_path):
  """What every image model (cached features or fine-tuned) must do with `image_inputs()`: any input
  kind embeds alike, one array is one image, predictions are its head on the embedding, and bad
  files or another modality are clear errors naming them. Returns the embeddings of image_inputs()."""
  import numpy as np
  import pytest
  inputs = image_inputs()
  path, rgb = inputs[0], inputs[2]
  e = model.embed(inputs, modality="images")
  assert e.shape == (5, 100) and np.isfinite(e).all()
  np.testing.assert_allclose(e[1], e[0], atol=1e-5)  # str path == Path
  np.testing.assert_allclose(e[2:4], np.repeat(e[:1], 2, 0), atol=1e-4)  # array, RGBA == the file
  va = model.predict_array(rgb, "va", modality="images")  # one array is one image
  # By hand with numpy from the saved parameters: pooled features -> Dense 100 (the image encoders
  # have no hidden layer) -> the va rows of the stage-1 bank; not through decode_embeddings(embed()).
  dense = model.encoder_params.get("embed", model.encoder_params)  # frozen features: Flax's "embed"
  assert set(dense) == {"kernel", "bias"}
  x = np.asarray(model._pooled_image_features([rgb]), np.float64)
  e_hand = x @ np.asarray(dense["kernel"], np.float64) + np.asarray(dense["bias"], np.float64)
  start = model.layout.offsets["va"]
  va_hand = e_hand @ np.asarray(model.params["bank"], np.float64)[start:start + 2].T
  assert va.shape == (1, 2)
  np.testing.assert_allclose(va, va_hand, atol=1e-4)
  np.testing.assert_allclose(va, model.decode_embeddings(e[2:3], "va"), atol=1e-5)
  assert model.predict_array(np.stack([rgb, rgb]), "be5", modality="images").shape == (2, 5)
  bad = tmp_path / "broken.png"
  bad.write_bytes(b"not a png")
  with pytest.raises(ValueError, match="cannot read image file .*broken.png"):
    model.embed([path, bad], modality="images")
  with pytest.raises(ValueError, match="cannot read image file .*missing.png"):
    model.predict_array(tmp_path / "missing.png", "va", modality="images")
  for other in ("words", "texts"):
    with pytest.raises(ValueError, match="reads 'images'"):
      model.embed(["happy"], modality=other)
  return e


# MiniLM word features (configs/words_fast.py's): the launcher's mechanics are the same on every
# representation, and all-mpnet-base-v2 would read the words of each launch 12x slower (the
# default's features are checked in test_representations.py and through the shipped `words`).
TINY_WORDS = ["datasets=schmidtke_vad,briesemeister_be5", "epochs=2", "mapping_epochs=1",
              "batch_size=64", "max_groups=1", "vectors=glove50+minilm_l4", "export=schmidtke_vad:Aug"]


@pytest.fixture(scope="session")
def tiny_words(tiny_stage1, tmp_path_factory) -> tuple[pathlib.Path, subprocess.CompletedProcess]:
  """A tiny words stage-2 run against `tiny_stage1` (German pair, 2 epochs, seeds 0 and 1), trained
  by launch/content.py: (workdir, finished process). Shared by the session: tests must not modify it."""
  workdir = tmp_path_factory.mktemp("tiny_words")
  proc = launch("launch/content.py", "--modality=words", f"--workdir={workdir}", "--seeds=0,1",
                f"stage1={tiny_stage1}", *TINY_WORDS)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
  """The `emojax` command in this process (no platform set-up): (exit status, stdout, stderr)."""
  from emojax import cli
  status = cli.run(cli.parse(argv))
  out = capsys.readouterr()
  return status, out.out, out.err


@pytest.fixture(scope="module")
def tiny_words_model(tiny_words):
  """The tiny words model of `tiny_words`, loaded (modules must not modify it)."""
  import emojax
  return emojax.load(tiny_words[0])

