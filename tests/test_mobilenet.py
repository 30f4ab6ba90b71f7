"""The numpy/JAX MobileNetV2 port agrees with PyTorch (tests/fixtures/make_mobilenet_reference.py)."""

import io
import os
import pickle
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from emojax.encoders import mobilenet as mn

FIX = Path(__file__).parent / "fixtures"
CAT, BASS = FIX / "chelsea.jpg", FIX / "bass_aircraft2.png"
B = 4  # every feature call uses this batch size: one compile for the whole file


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    return dict(np.load(FIX / "mobilenet_reference.npz"))


@pytest.fixture(scope="module")
def mf() -> mn.MobileNetFeatures:
    return mn.MobileNetFeatures()


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_reads_legacy_torch_file_without_torch():
    sd = mn.load_torch_legacy(mn.default_weights_path())
    assert len(sd) == 314
    assert sd["features.0.0.weight"].shape == (32, 3, 3, 3) and sd["features.0.0.weight"].dtype == np.float32
    assert sd["features.0.1.num_batches_tracked"].dtype == np.int64
    assert sd["classifier.1.weight"].shape == (1000, 1280)
    assert "torch" not in sys.modules


def test_refuses_other_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    f = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": Evil()}):
        pickle.dump(obj, f, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(f.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        mn.load_torch_legacy(path)


def test_cat_matches_pytorch(mf, ref):
    f_NxD = mf.features([CAT, str(CAT)], batch_size=B)
    assert f_NxD.shape == (2, 1280) and f_NxD.dtype == np.float32
    assert rel_err(f_NxD[0], ref["chelsea_features"]) < 1e-4
    np.testing.assert_array_equal(f_NxD[0], f_NxD[1])
    logits = f_NxD[0] @ np.asarray(mf.params["fc"]["w"]) + np.asarray(mf.params["fc"]["b"])
    assert rel_err(logits, ref["chelsea_logits"]) < 1e-4
    assert np.argmax(logits) == ref["chelsea_top5"][0]
    np.testing.assert_array_equal(np.argsort(-logits)[:5], ref["chelsea_top5"])


def test_channel_handling_matches_pytorch(mf, ref):
    cat = np.asarray(Image.open(CAT))
    grey = np.asarray(Image.open(CAT).convert("L"))
    rgba = np.dstack([cat, np.full(cat.shape[:2], 17, np.uint8)])
    # BASS silhouettes are palette ("P") PNGs: converted to RGB like torchvision's loader does.
    f_NxD = mf.features([BASS, grey, grey[..., None], rgba], batch_size=B)
    assert rel_err(f_NxD[0], ref["bass_features"]) < 1e-4
    assert rel_err(f_NxD[1], ref["chelsea_grey_features"]) < 1e-4
    assert rel_err(f_NxD[2], ref["chelsea_grey_features"]) < 1e-4
    assert rel_err(f_NxD[3], ref["chelsea_features"]) < 1e-4


def test_float_and_any_size_inputs(mf):
    bass = np.asarray(Image.open(BASS).convert("RGB"))  # 300 x 300: a real resize
    tall = np.asarray(Image.open(CAT).transpose(Image.Transpose.ROTATE_90))  # portrait
    assert mn.preprocess(bass / 255.0).shape == (224, 224, 3)
    # Float images resize without rounding to 8 bits: close to, not equal to, the uint8 path.
    np.testing.assert_allclose(mn.preprocess(bass / 255.0), mn.preprocess(bass), atol=0.03)
    f_NxD = mf.features([bass, bass.astype(np.float32) / 255, tall, np.zeros((10, 7), np.uint8)], batch_size=B)
    assert rel_err(f_NxD[1], f_NxD[0]) < 1e-2
    assert np.all(np.isfinite(f_NxD))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mn.preprocess(bass.astype(np.float32))


def test_bad_files_raise_valueerror_naming_the_file(tmp_path):
    data = CAT.read_bytes()
    png = io.BytesIO()
    Image.open(CAT).save(png, "PNG")
    bad = {
        "empty.jpg": b"",
        "half.jpg": data[: len(data) // 2],
        "half.png": png.getvalue()[: len(png.getvalue()) // 2],
        "notes.png": b"not an image at all",
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            mn.preprocess(tmp_path / name)
    with pytest.raises(ValueError, match="missing.png"):
        mn.preprocess(tmp_path / "missing.png")


def test_features_are_quiet_and_batch_any_count(mf, capsys):
    f_NxD = mf.features([CAT] * 5, batch_size=B)  # one full batch and one padded
    assert f_NxD.shape == (5, 1280)
    np.testing.assert_allclose(f_NxD[4], f_NxD[0], rtol=1e-5, atol=1e-6)
    assert mf.features([], batch_size=B).shape == (0, 1280)
    assert capsys.readouterr().out == ""


def test_depthwise_taps_match_definition():
    # Odd sizes and stride 2: cases the 224-px parity test does not reach.
    rng = np.random.default_rng(0)
    x_BxHxWxC, w_KxKx1xC = rng.normal(size=(2, 9, 8, 5)), rng.normal(size=(3, 3, 1, 5))
    xp = np.pad(x_BxHxWxC, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for s in (1, 2):
        got = np.asarray(mn._depthwise(jnp.asarray(x_BxHxWxC), jnp.asarray(w_KxKx1xC), s))
        want = np.zeros_like(got)
        for h in range(got.shape[1]):
            for w in range(got.shape[2]):
                patch = xp[:, h * s : h * s + 3, w * s : w * s + 3, :]  # B x 3 x 3 x C
                want[:, h, w] = np.einsum("bijc,ijc->bc", patch, w_KxKx1xC[:, :, 0])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_training_mode_dropout_and_gradients(mf):
    x = jnp.asarray(np.stack([mn.preprocess(CAT, size=40, crop=32)] * 2))  # small: cheap to compile

    @jax.jit
    def step(params, rng):
        def loss(params):
            lg_BxK = mn.mobilenet_logits(params, x, rng)
            return -jnp.mean(jax.nn.log_softmax(lg_BxK)[:, 285]), lg_BxK

        (_, train_BxK), g = jax.value_and_grad(loss, has_aux=True)(params)
        return mn.mobilenet_logits(params, x), train_BxK, g

    eval_BxK, train_BxK, g = step(mf.params, jax.random.key(1))
    assert eval_BxK.shape == train_BxK.shape == (2, 1000)
    assert not np.allclose(eval_BxK, train_BxK)  # dropout is on only with an rng
    assert jax.tree.structure(g) == jax.tree.structure(mf.params)
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(g))
    assert np.abs(np.asarray(g["stem"]["w"])).sum() > 0  # gradients reach the first conv
