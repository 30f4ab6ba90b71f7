"""`emojax.load(workdir)`: a trained model as a small numpy-in, numpy-out object.

`EmotionModel.map_labels(values, source, target)` translates labels between any two formats the
codec knows through the shared space (canonical units in and out; class formats give
probabilities), `embed_labels(values, fmt)` returns their 100-d embeddings. Inputs are checked
before anything reaches JAX: unknown formats, wrong widths, NaN/Inf and values outside the
canonical range raise a ValueError that names the problem. Any batch size works; batches are
padded to a power of two so repeated calls reuse a few compiled shapes.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from emojax import checkpoint, codec, formats, train_mapping


def _bucket(n: int) -> int:
  return max(8, 1 << (max(n, 1) - 1).bit_length())


class EmotionModel:

  def __init__(self, workdir: pathlib.Path, meta: dict, params, cfg: train_mapping.MappingConfig):
    self.workdir, self.meta, self.params, self.config = workdir, meta, params, cfg
    self.layout = formats.head_layout(meta["formats"])
    self.packing = codec.Packing.of(self.layout, tuple(meta.get("conditions", ())))

  @property
  def formats(self) -> dict[str, formats.LabelFormat]:
    return {n: formats.get_format(n) for n in self.layout.formats}

  def __repr__(self) -> str:
    return f"EmotionModel({str(self.workdir)!r}, formats={list(self.layout.formats)})"

  def _format(self, name: str) -> formats.LabelFormat:
    if name not in self.layout.formats:
      raise ValueError(f"unknown label format {name!r}; this model knows {list(self.layout.formats)}")
    return formats.get_format(name)

  def _check_labels(self, values, fmt: formats.LabelFormat) -> np.ndarray:
    y = np.asarray(values, dtype=np.float32)
    if y.ndim == 1 and y.shape[0] == fmt.size:
      y = y[None]
    if y.ndim != 2 or y.shape[1] != fmt.size:
      raise ValueError(f"format {fmt.name!r} has {fmt.size} variables {fmt.variables}; got labels "
                       f"of shape {np.shape(values)} (expected (N, {fmt.size}))")
    bad = ~np.isfinite(y)
    if bad.any():
      n, v = np.argwhere(bad)[0]
      raise ValueError(f"label row {n}, variable {fmt.variables[v]!r} is {y[n, v]} (NaN/Inf)")
    outside = (y < fmt.low - 1e-6) | (y > fmt.high + 1e-6)
    if outside.any():
      n, v = np.argwhere(outside)[0]
      raise ValueError(f"label row {n}, variable {fmt.variables[v]!r} = {y[n, v]:g} is outside the "
                       f"canonical range [{fmt.low:g}, {fmt.high:g}] of format {fmt.name!r}")
    return y

  @functools.partial(jax.jit, static_argnums=(0, 2))
  def _embed(self, params, src: int, y_NxW, condition_N):
    return codec.encode(params, self.config.codec, src, self.packing.encoder_input(y_NxW, condition_N))

  @functools.partial(jax.jit, static_argnums=(0,))
  def _decode(self, params, tgt, e_NxE):
    return codec.decode(params, self.packing, tgt, e_NxE)

  def _padded_rows(self, y: np.ndarray) -> np.ndarray:
    out = np.zeros((_bucket(len(y)), self.packing.width), np.float32)
    out[:len(y), :y.shape[1]] = y
    return out

  def _condition(self, dataset: str | None) -> int:
    if dataset is None:
      return -1
    if dataset not in self.packing.conditions:
      raise ValueError(f"dataset {dataset!r} is not a condition of this model; it knows "
                       f"{list(self.packing.conditions) or 'none (trained unconditioned)'}")
    return self.packing.conditions.index(dataset)

  def embed_labels(self, values, fmt: str, dataset: str | None = None) -> np.ndarray:
    """Embeddings (N x 100) of labels given in canonical units of `fmt`. A model trained with
    `condition_on_dataset` can be told which mapping dataset's raters the labels follow."""
    source = self._format(fmt)
    y = self._check_labels(values, source)
    padded = self._padded_rows(y)
    condition = jnp.full((len(padded),), self._condition(dataset))
    e = self._embed(self.params, self.packing.index(fmt), jnp.asarray(padded), condition)
    return np.asarray(e)[:len(y)]

  def decode_embeddings(self, embeddings_NxE, fmt: str) -> np.ndarray:
    """Head of `fmt` applied to embeddings: canonical units, or class probabilities."""
    target = self._format(fmt)
    e = np.asarray(embeddings_NxE, np.float32)
    if e.ndim != 2 or e.shape[1] != self.config.codec.embedding_dim or not np.isfinite(e).all():
      raise ValueError(f"embeddings must be finite, of shape (N, {self.config.codec.embedding_dim}); "
                       f"got {e.shape}")
    padded = np.zeros((_bucket(len(e)), e.shape[1]), np.float32)
    padded[:len(e)] = e
    out = np.asarray(self._decode(self.params, self.packing.index(fmt), jnp.asarray(padded)))
    out = out[:len(e), :target.size]
    if target.kind == formats.CLASSES:
      return np.asarray(jax.nn.softmax(out, -1))
    if target.kind == formats.MULTILABEL:
      return np.asarray(jax.nn.sigmoid(out))
    return out

  def map_labels(self, values, source: str, target: str, dataset: str | None = None) -> np.ndarray:
    """Translates labels from `source` to `target` format through the shared space."""
    self._format(target)
    return self.decode_embeddings(self.embed_labels(values, source, dataset), target)


def load(workdir: str | pathlib.Path = "checkpoints/mapping") -> EmotionModel:
  workdir = pathlib.Path(workdir)
  meta = checkpoint.read_meta(workdir)
  cfg = checkpoint.config_from_meta(train_mapping.MappingConfig, meta)
  packing = codec.Packing.of(formats.head_layout(meta["formats"]), tuple(meta.get("conditions", ())))
  abstract = jax.eval_shape(lambda k: codec.init_params(k, cfg.codec, packing), jax.random.key(0))
  params = checkpoint.restore_params(workdir, abstract)
  return EmotionModel(workdir, meta, params, cfg)
