"""`emojax.load(workdir)`: a trained model as a small numpy-in, numpy-out object.

`EmotionModel.map_labels(values, source, target)` translates labels between any two formats the
codec knows through the shared space (canonical units in and out; class formats give
probabilities), `embed_labels(values, fmt)` returns their 100-d embeddings. Inputs are checked
before anything reaches JAX: unknown formats, wrong widths, NaN/Inf and values outside the
canonical range raise a ValueError that names the problem. Any batch size works; batches are
padded to a power of two so repeated calls reuse a few compiled shapes. A stage-2 workdir loads as
a `ContentModel` (words, texts or images; `FinetunedTextModel` / `FinetunedImageModel` for a
fine-tuned text / image encoder) that adds `embed(items, modality)` and `predict(items, modality,
fmt)` on top of the stage-1 API, after checking that its stage-1 checkpoint is the one it was
trained against; a new-format workdir loads as a `NewFormatModel` (a stage-2 text model plus the
formats `emojax.new_format` learned onto it). A model carries the declarations of its formats
from its `model.json` (`layout.format`): loading never changes the global format registry.
This module imports no trainer (no optimizer): the trainers read their frozen models through it.
"""

from __future__ import annotations

import functools
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from emojax import checkpoint, codec, content_data, content_model, format_head, formats, image_data
from emojax import text_data
from emojax.run_configs import ContentConfig, FinetuneImageConfig, MappingConfig, saved_config

# model.json feature kinds of fine-tuned encoders (`finetune_text.FEATURE_KIND`,
# `finetune_image.FEATURE_KIND`): these load as FinetunedTextModel / FinetunedImageModel.
TEXT_FINETUNED, IMAGE_FINETUNED = "minilm_finetuned", "mobilenet_finetuned"


def padded_size(n: int) -> int:
  """Rows a batch of n is padded to (a power of two, at least 8): a few compiled shapes serve
  every input size instead of one compile per size."""
  return max(8, 1 << (max(n, 1) - 1).bit_length())


class EmotionModel:

  def __init__(self, workdir: pathlib.Path, meta: dict, params, cfg: MappingConfig):
    self.workdir, self.meta, self.params, self.config = workdir, meta, params, cfg
    declared = checkpoint.declared_formats(meta)
    self.layout = formats.head_layout([declared[n] for n in meta["formats"]])
    self.packing = codec.Packing.of(self.layout, tuple(meta.get("conditions", ())))

  @property
  def formats(self) -> dict[str, formats.LabelFormat]:
    return {n: self.layout.format(n) for n in self.layout.formats}

  def __repr__(self) -> str:
    return f"EmotionModel({str(self.workdir)!r}, formats={list(self.layout.formats)})"

  def _format(self, name: str) -> formats.LabelFormat:
    if name not in self.layout.formats:
      raise ValueError(f"unknown label format {name!r}; this model knows {list(self.layout.formats)}")
    return self.layout.format(name)

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
    out = np.zeros((padded_size(len(y)), self.packing.width), np.float32)
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
    padded = np.zeros((padded_size(len(e)), e.shape[1]), np.float32)
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


class ContentModel(EmotionModel):
  """A stage-2 workdir: its exported content encoder G plus the stage-1 codec it was trained
  against (everything of EmotionModel works unchanged). `embed(items)` gives G's 100-d embeddings,
  `predict(items, fmt=...)` applies the frozen head of any format the codec knows. The word
  encoder reads English words (non-English lexicons were embedded through English glosses); the
  text encoder reads any non-empty strings (MiniLM, truncated at the trained max_length); the image
  encoder reads image files or arrays of any size and channel count (MobileNetV2 pooled features)."""

  def __init__(self, workdir: pathlib.Path, meta: dict, stage1: EmotionModel, encoder_params, cfg):
    super().__init__(stage1.workdir, stage1.meta, stage1.params, stage1.config)
    self.workdir, self.stage1, self.content_meta, self.content_config = workdir, stage1, meta, cfg
    self.modality = meta["modality"]
    self.encoder_params = encoder_params
    self._module = content_model.encoder_module(cfg.encoder, stage1.config.codec.embedding_dim)

  def __repr__(self) -> str:
    return (f"ContentModel({str(self.workdir)!r}, modality={self.modality!r}, encoder="
            f"{self.content_meta['encoder']['run']!r}, stage1={str(self.stage1.workdir)!r}, "
            f"formats={list(self.layout.formats)})")

  @functools.partial(jax.jit, static_argnums=(0,))
  def _encode(self, params, x_NxD):
    return self._module.apply({"params": params}, x_NxD, deterministic=True)

  def _features(self, items, modality: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if modality != self.modality:
      raise ValueError(f"modality {modality!r}: this model's content encoder reads "
                       f"{self.modality!r}")
    if self.modality == "images":
      return self._image_features(items)
    items = [items] if isinstance(items, str) else list(items)
    if not items:
      raise ValueError("no items given")
    for i, item in enumerate(items):
      if isinstance(item, (bytes, bytearray)):  # only str: the caller knows the encoding
        raise TypeError(f"item {i} is {type(item).__name__}, not a str: {item[:40]!r}; decode it "
                        f"first (e.g. item.decode('utf-8'))")
      if not isinstance(item, str):
        raise TypeError(f"item {i} is {type(item).__name__}, not a str: {item!r}")
      if not item.strip():
        raise ValueError(f"item {i} is an empty string")
      try:
        item.encode("utf-8")
      except UnicodeEncodeError as err:  # lone surrogates, e.g. from errors='surrogateescape'
        raise ValueError(f"item {i} is not valid Unicode text: {item[err.start:err.end]!r} at "
                         f"character {err.start} is a lone surrogate (undecodable bytes?); decode "
                         f"the input with its real encoding") from None
    if self.modality == "texts":  # MiniLM pooled features with the settings the encoder was trained on
      max_length, notice = self.content_meta["feature"]["max_length"], []
      x = self._text_features(items, max_length, notice)
      if notice and not getattr(self, "_truncation_noted", False):
        self._truncation_noted = True  # said once per model
        warnings.warn(f"{notice[0]} text(s) longer than {max_length} MiniLM tokens were truncated "
                      f"to their first {max_length} tokens (said once per model)", stacklevel=3)
      return x, np.ones(len(items), bool), items
    x, found = content_data.word_features(self.content_meta["feature"]["vectors"], items)
    return x, found, items

  def _text_features(self, items: list[str], max_length: int, notice: list) -> np.ndarray:
    return text_data.text_features(items, max_length, notice=notice)

  def _image_features(self, items) -> tuple[np.ndarray, np.ndarray, list]:
    """Images: a path, an HxW / HxWxC array (C = 1, 3 or 4; uint8 or float in [0, 1]), an NxHxWxC
    array, or a list of these, any size. MobileNetV2 pooled features as in training; an unreadable
    file raises a ValueError naming it."""
    if isinstance(items, (str, pathlib.Path)) or (isinstance(items, np.ndarray) and items.ndim in (2, 3)):
      items = [items]
    items = list(items)
    if not items:
      raise ValueError("no images given")
    for i, item in enumerate(items):
      if not isinstance(item, (str, pathlib.Path, np.ndarray)):
        raise TypeError(f"image {i} is {type(item).__name__}, not a path or a numpy array")
    x = self._pooled_image_features(items)
    return x, np.ones(len(items), bool), items

  def _pooled_image_features(self, items: list) -> np.ndarray:
    return image_data.image_features(items)

  def embed_features(self, x_NxD) -> np.ndarray:
    """Emotion embeddings of precomputed features (e.g. a stage-2 feature cache), N x 100."""
    x = np.asarray(x_NxD, np.float32)
    padded = np.zeros((padded_size(len(x)), x.shape[1]), np.float32)
    padded[:len(x)] = x
    return np.array(self._encode(self.encoder_params, jnp.asarray(padded)))[:len(x)]

  def embed(self, items, modality: str = "words", *, oov: str = "raise") -> np.ndarray:
    """Emotion embeddings (N x 100) of English words (a str or a list of them). Words without a
    vector raise a ValueError naming them, or give NaN rows with oov="nan"."""
    if oov not in ("raise", "nan"):
      raise ValueError(f"oov must be 'raise' or 'nan', got {oov!r}")
    x, found, items = self._features(items, modality)
    if not found.all() and oov == "raise":
      missing = [w for w, f in zip(items, found) if not f]
      raise ValueError(f"{len(missing)} item(s) have no {self.content_meta['feature']['vectors']} "
                       f"vector (out of vocabulary): {missing[:5]}; oov='nan' gives NaN rows")
    padded = np.zeros((padded_size(len(x)), x.shape[1]), np.float32)
    padded[:len(x)] = x
    e = np.array(self._encode(self.encoder_params, jnp.asarray(padded)))[:len(x)]
    e[~found] = np.nan
    return e

  def predict(self, items, modality: str = "words", fmt: str | None = None, *,
              oov: str = "raise") -> np.ndarray:
    """The head of `fmt` on the items' embeddings: canonical units (class formats: probabilities)."""
    if fmt is None:
      raise ValueError(f"predict needs fmt=..., one of {list(self.layout.formats)}")
    target = self._format(fmt)
    e = self.embed(items, modality, oov=oov)
    ok = np.isfinite(e).all(1)
    out = np.full((len(e), target.size), np.nan, np.float32)
    if ok.any():
      out[ok] = self.decode_embeddings(e[ok], fmt)
    return out


class FinetunedModel(ContentModel):
  """A fine-tuned workdir (`emojax.finetune`): the fine-tuned backbone and Dense 100 replace the
  frozen features + encoder; input checks and heads are ContentModel's."""

  def __init__(self, workdir: pathlib.Path, meta: dict, stage1: EmotionModel, params, cfg):
    EmotionModel.__init__(self, stage1.workdir, stage1.meta, stage1.params, stage1.config)
    self.workdir, self.stage1, self.content_meta, self.content_config = workdir, stage1, meta, cfg
    self.modality = meta["modality"]
    self.encoder_params = params["embed"]

  @functools.partial(jax.jit, static_argnums=(0,))
  def _encode(self, params, x_NxD):
    return x_NxD @ params["kernel"] + params["bias"]


class FinetunedImageModel(FinetunedModel):
  """A fine-tuned images workdir (`emojax.finetune_image`): the fine-tuned MobileNetV2 backbone at
  its trained image size, then Dense 100."""

  def __init__(self, workdir: pathlib.Path, meta: dict, stage1: EmotionModel, params, cfg):
    from emojax.encoders import mobilenet  # PIL and the port: only image models need them
    super().__init__(workdir, meta, stage1, params, cfg)
    self._backbone = mobilenet.MobileNetFeatures(params=params["backbone"],
                                                 crop=meta["feature"]["image_size"])

  def _pooled_image_features(self, items: list) -> np.ndarray:
    return self._backbone.features(items, batch_size=8 if len(items) <= 24 else 32)


class FinetunedTextModel(FinetunedModel):
  """A fine-tuned texts workdir (`emojax.finetune_text`): the fine-tuned MiniLM, mean pooling and
  Dense 100."""

  def __init__(self, workdir: pathlib.Path, meta: dict, stage1: EmotionModel, params, cfg):
    from emojax.encoders import bert  # tokenizers and safetensors: only text models need them
    super().__init__(workdir, meta, stage1, params, cfg)
    self.bert_params = params["bert"]
    self.bert_config = bert.BertConfig(**meta["feature"]["bert"])

  @functools.partial(jax.jit, static_argnums=(0,))
  def _pooled(self, bert_params, ids_BxL, mask_BxL):
    from emojax.encoders import bert
    h = bert.bert_forward(bert_params, ids_BxL, mask_BxL, config=self.bert_config)
    return bert.mean_pool(h, mask_BxL)

  def _text_features(self, items: list[str], max_length: int, notice: list) -> np.ndarray:
    """Pooled output of the fine-tuned BERT, batches of <= 64 padded to a power of two."""
    from emojax.encoders import bert
    t = bert.tokenize(items, max_length)  # empty strings and tokenless texts raise here
    if t.truncated_B.any():
      notice.append(int(t.truncated_B.sum()))
    out = []
    for s in range(0, len(items), text_data.EXTRACT_BATCH):
      ids, mask = t.ids_BxL[s:s + text_data.EXTRACT_BATCH], t.mask_BxL[s:s + text_data.EXTRACT_BATCH]
      n = len(ids)
      ids_p, mask_p = np.zeros((padded_size(n), ids.shape[1]), np.int32), np.zeros((padded_size(n), ids.shape[1]), np.int32)
      ids_p[:n], mask_p[:n] = ids, mask
      mask_p[n:, 0] = 1  # padding rows see one token
      out.append(np.asarray(self._pooled(self.bert_params, ids_p, mask_p))[:n])
    return np.concatenate(out)


class NewFormatModel(ContentModel):
  """A base text model plus formats learned onto its frozen space (`emojax.new_format`): every
  method of ContentModel / EmotionModel (`predict`, `map_labels`, `embed_labels`,
  `decode_embeddings`) takes the new formats too, in either role; the base's own formats run
  exactly as in the base model."""

  def __init__(self, workdir: pathlib.Path, meta: dict, base: ContentModel, params: dict):
    super().__init__(base.workdir, base.content_meta, base.stage1, base.encoder_params,
                     base.content_config)
    self.workdir, self.base, self.new_meta, self.new_params = workdir, base, meta, params
    declared = checkpoint.declared_formats(meta)
    self.new_formats = {n: declared[n] for n in meta["formats"]}

  @property
  def formats(self) -> dict[str, formats.LabelFormat]:
    return {**super().formats, **self.new_formats}

  def __repr__(self) -> str:
    return (f"NewFormatModel({str(self.workdir)!r}, new={list(self.new_formats)}, "
            f"base={str(self.base.workdir)!r}, formats={list(self.formats)})")

  def _format(self, name: str) -> formats.LabelFormat:
    if name in self.new_formats:
      return self.new_formats[name]
    if name not in self.layout.formats:
      raise ValueError(f"unknown label format {name!r}; this model knows {list(self.formats)}")
    return self.layout.format(name)

  @functools.partial(jax.jit, static_argnums=(0, 1))
  def _new_embed(self, name: str, params, y_NxV):
    return format_head.label_encoder(self.config.codec).apply({"params": params}, y_NxV,
                                                              deterministic=True)

  def embed_labels(self, values, fmt: str, dataset: str | None = None) -> np.ndarray:
    if fmt not in self.new_formats:
      return super().embed_labels(values, fmt, dataset)
    if dataset is not None:
      raise ValueError(f"format {fmt!r} was learned without dataset conditioning; use dataset=None")
    y = self._check_labels(values, self.new_formats[fmt])
    padded = np.zeros((padded_size(len(y)), y.shape[1]), np.float32)
    padded[:len(y)] = y
    return np.asarray(self._new_embed(fmt, self.new_params[fmt]["encoder"], jnp.asarray(padded)))[:len(y)]

  def decode_embeddings(self, embeddings_NxE, fmt: str) -> np.ndarray:
    if fmt not in self.new_formats:
      return super().decode_embeddings(embeddings_NxE, fmt)
    target = self.new_formats[fmt]
    e = np.asarray(embeddings_NxE, np.float32)
    if e.ndim != 2 or e.shape[1] != self.config.codec.embedding_dim or not np.isfinite(e).all():
      raise ValueError(f"embeddings must be finite, of shape (N, {self.config.codec.embedding_dim}); "
                       f"got {e.shape}")
    logits = e @ np.asarray(self.new_params[fmt]["head"]).T
    if target.kind == formats.CLASSES:
      z = np.exp(logits - logits.max(-1, keepdims=True))
      return z / z.sum(-1, keepdims=True)
    if target.kind == formats.MULTILABEL:
      return 1.0 / (1.0 + np.exp(-logits))
    return logits


def _load_content(workdir: pathlib.Path, meta: dict, stage1: str | pathlib.Path | None) -> ContentModel:
  path = checkpoint.find_recorded(workdir, meta["stage1"], stage1, role="stage-1 checkpoint",
                                  remedy="retrain stage 2")
  s1 = load(path)
  if meta["feature"]["kind"] == TEXT_FINETUNED:
    return _load_finetuned(workdir, meta, s1)
  if meta["feature"]["kind"] == IMAGE_FINETUNED:
    return _load_finetuned_image(workdir, meta, s1)
  cfg = checkpoint.config_from_meta(ContentConfig, meta)
  module = content_model.encoder_module(cfg.encoder, s1.config.codec.embedding_dim)
  dim = meta["feature"]["dim"]
  abstract = jax.eval_shape(
      lambda k: module.init(k, jnp.zeros((1, dim)), deterministic=True)["params"], jax.random.key(0))
  return ContentModel(workdir, meta, s1, checkpoint.restore_params(workdir, abstract), cfg)


def _load_finetuned(workdir: pathlib.Path, meta: dict, s1: EmotionModel) -> FinetunedTextModel:
  from emojax.encoders import bert
  cfg = saved_config(meta)
  bcfg = bert.BertConfig(**meta["feature"]["bert"])
  E = s1.config.codec.embedding_dim
  abstract = jax.eval_shape(lambda k: {"bert": bert.init_params(k, bcfg),
                                       "embed": {"kernel": jnp.zeros((bcfg.hidden_size, E)),
                                                 "bias": jnp.zeros(E)}}, jax.random.key(0))
  return FinetunedTextModel(workdir, meta, s1, checkpoint.restore_params(workdir, abstract), cfg)


def _load_finetuned_image(workdir: pathlib.Path, meta: dict, s1: EmotionModel) -> FinetunedImageModel:
  from emojax.encoders import mobilenet
  cfg = checkpoint.config_from_meta(FinetuneImageConfig, meta)
  E, D = s1.config.codec.embedding_dim, meta["feature"]["dim"]
  abstract = jax.eval_shape(lambda k: {"backbone": content_model.backbone_of(mobilenet.init_params(k)),
                                       "embed": {"kernel": jnp.zeros((D, E)), "bias": jnp.zeros(E)}},
                            jax.random.key(0))
  return FinetunedImageModel(workdir, meta, s1, checkpoint.restore_params(workdir, abstract), cfg)


def _load_new_format(workdir: pathlib.Path, meta: dict, base: str | pathlib.Path | None) -> NewFormatModel:
  """A new-format workdir, after checking that its base model is the one it learned against
  (`base` names that model's new place if it moved)."""
  path = checkpoint.find_recorded(workdir, meta["base"], base, role="model",
                                  remedy="learn the formats again")
  base_model = load(path)
  ccfg = base_model.config.codec
  declared = checkpoint.declared_formats(meta)
  abstract = jax.eval_shape(lambda k: {n: format_head.init_params(k, ccfg, declared[n])
                                       for n in meta["formats"]}, jax.random.key(0))
  return NewFormatModel(workdir, meta, base_model, checkpoint.restore_params(workdir, abstract))


def load(workdir: str | pathlib.Path = "checkpoints/mapping",
         stage1: str | pathlib.Path | None = None) -> EmotionModel:
  """Opens a stage-1 workdir (EmotionModel) or a stage-2 one (ContentModel, checked against the
  stage-1 checkpoint it recorded; `stage1` names that checkpoint's new place if it moved), or a
  new-format one (NewFormatModel: a stage-2 model plus formats learned onto it; `stage1` then
  names the stage-2 model it was learned against)."""
  workdir = pathlib.Path(workdir)
  meta = checkpoint.read_meta(workdir)
  if meta.get("stage") == "content":
    return _load_content(workdir, meta, stage1)
  if meta.get("stage") == "new_format":
    return _load_new_format(workdir, meta, stage1)
  cfg = checkpoint.config_from_meta(MappingConfig, meta)
  declared = checkpoint.declared_formats(meta)
  packing = codec.Packing.of(formats.head_layout([declared[n] for n in meta["formats"]]),
                             tuple(meta.get("conditions", ())))
  abstract = jax.eval_shape(lambda k: codec.init_params(k, cfg.codec, packing), jax.random.key(0))
  params = checkpoint.restore_params(workdir, abstract)
  return EmotionModel(workdir, meta, params, cfg)
