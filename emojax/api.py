"""`emojax.load(name or workdir)`: a trained model as a small object, labelled out, numpy-first in.

`EmotionModel.map_labels(values, source, target)` translates labels between any two formats the
codec knows through the shared space (canonical units in and out; class formats give
probabilities), `embed_labels(values, fmt)` returns their 100-d embeddings: arrays in, arrays out,
and a pandas DataFrame in (read by column name: `valence` or `va.valence`, any order) gives a
DataFrame out. Inputs are checked before anything reaches JAX: unknown formats, wrong widths, NaN/Inf
and values outside the canonical range raise a ValueError that names the problem. Any batch size
works: inputs are processed in chunks of `CHUNK_ROWS` rows (bounded memory), each padded to a power
of two so repeated calls reuse a few compiled shapes. A stage-2 workdir (or pretrained "words",
"texts", "images") loads as a `ContentModel` (`FinetunedTextModel` / `FinetunedImageModel` for a
fine-tuned text / image encoder), after checking that its stage-1 checkpoint is the one it was
trained against. It reads its own modality: `predict(items, formats=None | "all" | "vad" | ["va",
"be5"])` returns a DataFrame with one row per item and `format.variable` columns (by default the
format it was trained on), `predict_array(items, fmt)` and `embed(items)` the bare arrays; all take
`batch_size=` (a progress line on stderr past one batch) and one `oov` vocabulary for items
without a vector (`OOV`: "error", "skip", "nan", as on the command line; the old "raise" warns).
The old `predict(items, modality, fmt)` still returns an array, with a DeprecationWarning. User
text is normalised before lookup and tokenisation (`word_vectors.normalize_text`: NFKC, invisible
characters removed); a words model reads one word per item and refuses a multi-word string, naming
the texts model, unless `aggregate="mean"` asks for the mean of its words' vectors, every word of
which must be known. A new-format workdir loads as a `NewFormatModel` (a stage-2 text model plus
the formats `emojax.new_format` learned onto it). A model carries the declarations of its formats
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

from emojax import checkpoint, codec, content_model, datasets, format_head, formats, image_data
from emojax import calibration, pretrained, text_data
from emojax import progress as progress_lib
from emojax.encoders import word_encoder, word_vectors
from emojax.run_configs import ContentConfig, FinetuneImageConfig, MappingConfig, saved_config

# model.json feature kinds of fine-tuned encoders (`finetune_text.FEATURE_KIND`,
# `finetune_image.FEATURE_KIND`): these load as FinetunedTextModel / FinetunedImageModel.
TEXT_FINETUNED, IMAGE_FINETUNED = "minilm_finetuned", "mobilenet_finetuned"


CHUNK_ROWS = 4096  # rows per call of a jitted function: memory stays bounded for any input size
AGGREGATES = (None, "mean", "lexicon")
MODALITIES = ("words", "texts", "images")
# What to do with an item that has no vector: one vocabulary for the API, emojax.predict and the
# command line (--oov). The API's old "raise" still works, with a DeprecationWarning.
OOV = ("error", "skip", "nan")
OOV_RENAMED = {"raise": "error"}


def check_oov(oov: str, stacklevel: int = 3) -> str:
  """`oov` checked against OOV; an old spelling (OOV_RENAMED) warns and gives the new one."""
  if oov in OOV_RENAMED:
    warnings.warn(f"oov={oov!r} is deprecated: use oov={OOV_RENAMED[oov]!r} (one vocabulary for "
                  f"the API and the command line: {', '.join(map(repr, OOV))})",
                  DeprecationWarning, stacklevel=stacklevel)
    return OOV_RENAMED[oov]
  if oov not in OOV:
    raise ValueError(f"oov must be one of {', '.join(map(repr, OOV))}, got {oov!r}")
  return oov


def padded_size(n: int) -> int:
  """Rows a batch of n is padded to (a power of two, at least 8): a few compiled shapes serve
  every input size instead of one compile per size."""
  return max(8, 1 << (max(n, 1) - 1).bit_length())


def chunked(fn, x: np.ndarray, width: int | None = None) -> np.ndarray:
  """fn applied to x (N x D) in chunks of at most CHUNK_ROWS rows, each zero-padded to
  `padded_size` rows (and to `width` columns if given); the rows of the results, concatenated."""
  x = np.asarray(x, np.float32)
  width = x.shape[1] if width is None else width
  out = []
  for start in range(0, max(len(x), 1), CHUNK_ROWS):
    part = x[start:start + CHUNK_ROWS]
    padded = np.zeros((padded_size(len(part)), width), np.float32)
    padded[:len(part), :x.shape[1]] = part
    out.append(np.asarray(fn(jnp.asarray(padded)))[:len(part)])
  return np.concatenate(out)


def _plain_strings(items: list) -> bool:
  """Whether every item is a non-blank str of valid Unicode: checked in bulk (one join, one
  encode), so that only a list with a bad item pays for the per-item checks that name it."""
  if not all(type(x) is str and x and not x.isspace() for x in items):
    return False
  try:
    "".join(items).encode("utf-8")
  except UnicodeEncodeError:
    return False
  return True


def _is_frame(values) -> bool:
  return hasattr(values, "columns") and hasattr(values, "to_numpy")


def _by_column_name(values, fmt: formats.LabelFormat):
  """A DataFrame (anything with .columns and .to_numpy) -> its columns in the order of the format's
  variables, named bare (`valence`) or as `predict` labels them (`va.valence`); a column the
  format lacks, or a variable without a column, is refused by name."""
  if not _is_frame(values):
    return values
  columns = [str(c) for c in values.columns]
  prefix = f"{fmt.name}."
  if columns and all(c.startswith(prefix) for c in columns):  # predict's labels: format.variable
    columns = [c[len(prefix):] for c in columns]
  unknown = [c for c in columns if c not in fmt.variables]
  missing = [v for v in fmt.variables if v not in columns]
  if unknown or missing:
    raise ValueError(f"a DataFrame for format {fmt.name!r} is read by column name: its columns must "
                     f"be {list(fmt.variables)} (any order); " +
                     "; ".join(x for x in (unknown and f"unknown column(s) {unknown}",
                                           missing and f"missing {missing}") if x))
  return values.to_numpy(dtype=np.float32)[:, [columns.index(v) for v in fmt.variables]]


def _origin(workdir: pathlib.Path) -> str:
  """Where a model came from, for its repr: a pretrained name of the package, or its directory."""
  for name in pretrained.NAMES:
    if pathlib.Path(workdir) == pretrained.ROOT / name:
      return f"pretrained {name!r}"
  return str(workdir)


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
    return (f"<emojax EmotionModel: a stage-1 codec (labels only: map_labels, embed_labels, "
            f"decode_embeddings), from {_origin(self.workdir)}; formats {list(self.formats)}>")

  def _format(self, name: str) -> formats.LabelFormat:
    if name not in self.layout.formats:
      raise ValueError(f"unknown label format {name!r}; this model knows {list(self.layout.formats)}")
    return self.layout.format(name)

  def _check_labels(self, values, fmt: formats.LabelFormat) -> np.ndarray:
    values = _by_column_name(values, fmt)
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
    src, condition = self.packing.index(fmt), self._condition(dataset)
    return chunked(lambda p: self._embed(self.params, src, p, jnp.full((len(p),), condition)), y,
                   self.packing.width)

  def decode_embeddings(self, embeddings_NxE, fmt: str) -> np.ndarray:
    """Head of `fmt` applied to embeddings: canonical units, or class probabilities."""
    target = self._format(fmt)
    e = np.asarray(embeddings_NxE, np.float32)
    if e.ndim != 2 or e.shape[1] != self.config.codec.embedding_dim or not np.isfinite(e).all():
      raise ValueError(f"embeddings must be finite, of shape (N, {self.config.codec.embedding_dim}); "
                       f"got {e.shape}")
    tgt = self.packing.index(fmt)
    out = chunked(lambda p: self._decode(self.params, tgt, p), e)[:, :target.size]
    if target.kind == formats.CLASSES:
      return np.asarray(jax.nn.softmax(out, -1))
    if target.kind == formats.MULTILABEL:
      return np.asarray(jax.nn.sigmoid(out))
    return out

  def map_labels(self, values, source: str, target: str, dataset: str | None = None):
    """Translates labels from `source` to `target` format through the shared space: an array in,
    an array out (N x the target's size). A DataFrame in is read by column name and gives a
    DataFrame out, with its index and the target's variables as columns (named like the input's:
    `joy`, or `be5.joy` when the input's were `va.valence`)."""
    out_format = self._format(target)
    out = self.decode_embeddings(self.embed_labels(values, source, dataset), target)
    if not _is_frame(values):
      return out
    prefixed = len(values.columns) and all(str(c).startswith(f"{source}.") for c in values.columns)
    columns = [f"{target}.{v}" if prefixed else v for v in out_format.variables]
    return type(values)(out, index=values.index, columns=columns)


class ContentModel(EmotionModel):
  """A stage-2 workdir: its exported content encoder G plus the stage-1 codec it was trained
  against (everything of EmotionModel works unchanged). `embed(items)` gives G's 100-d embeddings,
  `predict(items, formats=...)` the frozen heads of any formats the codec knows, labelled. The word
  encoder reads English words (non-English lexicons were embedded through English glosses); the
  text encoder reads any non-empty strings (its sentence encoder's tokens, truncated at the trained
  max_length); the image
  encoder reads image files or arrays of any size and channel count (MobileNetV2 pooled features)."""

  def __init__(self, workdir: pathlib.Path, meta: dict, stage1: EmotionModel, encoder_params, cfg):
    super().__init__(stage1.workdir, stage1.meta, stage1.params, stage1.config)
    self.workdir, self.stage1, self.content_meta, self.content_config = workdir, stage1, meta, cfg
    self.modality = meta["modality"]
    self.encoder_params = encoder_params
    self._module = content_model.encoder_module(cfg.encoder, stage1.config.codec.embedding_dim)

  def __repr__(self) -> str:
    kind = type(self).__name__
    return (f"<emojax {kind}: reads {self.modality} ({self.content_meta['encoder']['run']}), "
            f"from {_origin(self.workdir)}; predicts {self.default_format!r} by default, formats "
            f"{list(self.formats)}; codec from {_origin(self.stage1.workdir)}>")

  @functools.partial(jax.jit, static_argnums=(0,))
  def _encode(self, params, x_NxD):
    return self._module.apply({"params": params}, x_NxD, deterministic=True)

  def _features(self, items, modality: str, aggregate: str | None = None,
                offset: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if modality != self.modality:
      raise ValueError(f"modality {modality!r}: this model's content encoder reads "
                       f"{self.modality!r}")
    if self.modality == "images":
      return self._image_features(items)
    items = [items] if isinstance(items, str) else list(items)
    if not items:
      raise ValueError("no items given")
    quote = word_vectors.quote
    for i, item in enumerate(() if _plain_strings(items) else items, offset):  # finds the bad one
      if isinstance(item, (bytes, bytearray)):  # only str: the caller knows the encoding
        raise TypeError(f"item {i} is {type(item).__name__}, not a str: {item[:40]!r}; decode it "
                        f"first (e.g. item.decode('utf-8'))")
      if not isinstance(item, str):
        raise TypeError(f"item {i} is {type(item).__name__}, not a str: {quote(item)}")
      if not item.strip():
        raise ValueError(f"item {i} is an empty string")
      try:
        item.encode("utf-8")
      except UnicodeEncodeError as err:  # lone surrogates, e.g. from errors='surrogateescape'
        raise ValueError(f"item {i} is not valid Unicode text: {item[err.start:err.end]!r} at "
                         f"character {err.start} is a lone surrogate (undecodable bytes?); decode "
                         f"the input with its real encoding") from None
    given = items
    if aggregate != "lexicon":  # the bundled lexicons are read as in training
      items = [word_vectors.normalize_text(t) for t in items]
      for i, (item, raw) in enumerate(zip(items, given), offset):
        if item is not raw and not item.strip():  # ASCII comes back as it is
          raise ValueError(f"item {i} ({quote(raw)}) holds only invisible characters")
    if self.modality == "texts":  # pooled features with the settings the encoder was trained on
      max_length, notice = self.content_meta["feature"]["max_length"], []
      x = self._text_features(items, max_length, notice)
      if notice and not getattr(self, "_truncation_noted", False):
        self._truncation_noted = True  # said once per model
        warnings.warn(f"{notice[0]} text(s) longer than {max_length} tokens were truncated "
                      f"to their first {max_length} tokens (said once per model)", stacklevel=3)
      return x, np.ones(len(items), bool), given
    name = self.content_meta["feature"]["vectors"]  # "glove50", "glove50+minilm_l4", "minilm_l4"
    table = word_encoder.vector_part(name)
    if table is None:  # a sentence encoder alone: every string has a vector, only the multi-word rule
      key_N = np.full(len(items), -1, np.int64)
    else:
      vectors = word_vectors.load_word_vectors(table)
      key_N = vectors.key_rows(items)  # one dictionary look-up per item; tokens only for the rest
    if aggregate is None:
      multi = [(int(i), given[i - offset]) for i in np.flatnonzero(key_N < 0) + offset
               if len(word_vectors.tokens(items[i - offset])) > 1]
      if multi:
        i, raw = multi[0]
        raise ValueError(
            f"item {i} ({quote(raw)}) is {len(word_vectors.tokens(items[i - offset]))} words, and "
            f"this is a words model (one word per item): for phrases and sentences use the texts "
            f"model (emojax.load(\"texts\"), or --model checkpoints/texts), or ask for "
            f"the mean of the words' vectors with aggregate='mean' (--aggregate=mean)"
            + (f"; {len(multi)} such items" if len(multi) > 1 else ""))
    if table is None:
      x, found = None, np.ones(len(items), bool)
    else:
      x, found = vectors.lookup(items, strict=aggregate != "lexicon", key_N=key_N)
    # the sentence-encoder parts (word_encoder) for the items the word-vector part found
    return word_encoder.complete(name, items, x, found), found, given

  def _text_features(self, items: list[str], max_length: int, notice: list) -> np.ndarray:
    return text_data.text_features(items, notice=notice, **text_data.settings(self.content_meta["feature"]))

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
    return chunked(lambda p: self._encode(self.encoder_params, p), x_NxD)

  @property
  def default_format(self) -> str:
    """The format the exported encoder was trained on (e.g. vad for Aug/warriner_vad): what
    `predict` labels when no `formats` are named."""
    run = self.content_meta.get("encoder", {}).get("run", "")
    table = datasets.REGISTRY.get(run.partition("/")[2].split("+")[0])
    if isinstance(table, datasets.Dataset) and table.format in self.formats:
      return table.format
    return list(self.formats)[0]

  def format_names(self, formats_=None) -> list[str]:
    """`predict`'s `formats`: None -> [the model's own format], "all" -> every format it knows,
    "vad" or "vad,be5" or ["va", "be5"] -> those, in that order. Unknown names raise, listing
    the known ones."""
    known = list(self.formats)
    if formats_ is None:
      return [self.default_format]
    if isinstance(formats_, str):
      names = known if formats_.strip() == "all" else [s.strip() for s in formats_.split(",") if s.strip()]
    else:
      names = [str(n) for n in formats_]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
      raise ValueError(f"unknown label format {', '.join(map(repr, unknown)) or repr(formats_)}; "
                       f"this model knows {known} (or 'all')")
    return list(dict.fromkeys(names))

  def _item_list(self, items, modality: str) -> list:
    """Items as a list, one entry per item: a lone string (or path, or a single image array) is
    one item; an NxHxWxC array is N images."""
    if isinstance(items, (str, pathlib.Path)):
      return [items]
    if modality == "images" and isinstance(items, np.ndarray) and items.ndim in (2, 3):
      return [items]
    if hasattr(items, "to_list") and hasattr(items, "index"):  # a pandas Series: its values
      return items.to_list()
    return list(items)

  def embed(self, items, modality: str | None = None, *, oov: str = "error",
            aggregate: str | None = None, batch_size: int | None = None,
            progress: bool | None = None) -> np.ndarray:
    """Emotion embeddings (N x 100) of the items the model reads (its own modality; `modality`
    may name it): English words, texts, or images. Items without a vector (words models):
    oov="error" raises a ValueError naming them, "nan" gives NaN rows, "skip" leaves their rows
    out. A words model takes one word per item; aggregate="mean" takes a phrase as the mean of its
    words' vectors (every word must have one), aggregate="lexicon" reads items as training reads
    the bundled lexicons (unknown words of a gloss dropped, no normalisation). Items are read in
    batches of `batch_size` (default `default_batch_size`: bounded memory, the same numbers for
    any size), with a progress line on stderr when there is more than one batch (`progress`
    forces it on or off)."""
    e = self._embed_rows(items, modality, oov=check_oov(oov), aggregate=aggregate,
                         batch_size=batch_size, progress=progress)
    return e[np.isfinite(e).all(1)] if oov == "skip" else e

  def default_batch_size(self) -> int:
    """Items per encoder call: CHUNK_ROWS words or texts, 64 images."""
    return 64 if self.modality == "images" else CHUNK_ROWS

  def _embed_rows(self, items, modality: str | None, *, oov: str, aggregate, batch_size,
                  progress) -> np.ndarray:
    """embed's rows, one per item (NaN rows for items without a vector unless oov="error")."""
    if aggregate not in AGGREGATES:
      raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    modality = self.modality if modality is None else modality
    if modality != self.modality:
      raise ValueError(f"modality {modality!r}: this model's content encoder reads "
                       f"{self.modality!r}")
    items = self._item_list(items, modality)
    size = self.default_batch_size() if batch_size is None else int(batch_size)
    if size < 1:
      raise ValueError(f"batch_size must be a positive number of items, got {batch_size!r}")
    if len(items) <= size:
      return self._embed_chunk(items, modality, oov, aggregate, 0)
    bar = progress_lib.Progress(len(items), f"embedding {modality}", unit="item",
                                enabled=progress is not False)
    parts = []
    for s in range(0, len(items), size):
      parts.append(self._embed_chunk(items[s:s + size], modality, oov, aggregate, s))
      bar.update(min(s + size, len(items)))
    return np.concatenate(parts)

  def _embed_chunk(self, items, modality: str, oov: str, aggregate, offset: int) -> np.ndarray:
    x, found, items = self._features(items, modality, aggregate, offset)
    if not found.all() and oov == "error":
      missing = [word_vectors.quote(w) for w, f in zip(items, found) if not f]
      raise ValueError(f"{len(missing)} item(s) have no {self.content_meta['feature']['vectors']} "
                       f"vector (out of vocabulary): [{', '.join(missing[:5])}]; oov='nan' gives "
                       f"NaN rows, oov='skip' leaves them out")
    e = self.embed_features(x)
    e[~found] = np.nan
    return e

  def predict_array(self, items, fmt: str | None = None, *, modality: str | None = None,
                    oov: str = "error", aggregate: str | None = None,
                    batch_size: int | None = None, progress: bool | None = None) -> np.ndarray:
    """The head of one format `fmt` on the items' embeddings, as a bare array (N x the format's
    size; canonical units, class formats: probabilities; `model.formats[fmt].variables` name
    the columns). Unlabelled, so the format must be named. Rows of items without a vector are NaN
    (oov="nan") or left out (oov="skip"). Other arguments as `embed`."""
    if fmt is None:
      raise ValueError(f"predict_array needs fmt=..., one of {list(self.formats)}; "
                       f"predict(items) labels the model's own format")
    target = self._format(fmt)
    oov = check_oov(oov)
    e = self._embed_rows(items, modality, oov=oov, aggregate=aggregate, batch_size=batch_size,
                         progress=progress)
    if oov == "skip":
      e = e[np.isfinite(e).all(1)]
    return self._heads(e, [fmt])[fmt] if len(e) else np.zeros((0, target.size), np.float32)

  def _heads(self, e_NxE: np.ndarray, names) -> dict[str, np.ndarray]:
    """Each format's head on the embeddings; NaN rows stay NaN."""
    ok = np.isfinite(e_NxE).all(1)
    out = {}
    for name in names:
      values = np.full((len(e_NxE), self._format(name).size), np.nan, np.float32)
      if ok.any():
        values[ok] = self.decode_embeddings(e_NxE[ok], name)
      out[name] = values
    return out

  def predict(self, items, formats=None, *legacy, modality: str | None = None,
              fmt: str | None = None, oov: str = "error", aggregate: str | None = None,
              batch_size: int | None = None, progress: bool | None = None, ids=None,
              calibrated: bool = False):
    """Labelled predictions: a pandas DataFrame with one row per item and one column per
    `format.variable` (e.g. `vad.valence`, `be5.joy`), formats in the order asked for.

    `formats`: None (the model's own format, `default_format`), "all", one name ("vad"), or a
    list (["va", "be5"]). The items are what the model reads (its modality: words, texts or
    images). The index is the items themselves (strings; image paths as strings), `ids` if
    given, a pandas Series' own index, or 0..N-1 for image arrays. Canonical units; class formats
    give probabilities. oov="error" | "skip" | "nan" as in `embed` (skip drops the row, nan keeps
    an empty one). `batch_size` and `progress` as in `embed`; results do not depend on them.

    The old call `predict(items, modality, fmt)` (or `fmt=...`), which returned a bare array, still
    does so with a DeprecationWarning: use `predict(items, formats=...)` or `predict_array`. A
    modality given where `formats` goes (`predict(items, "texts")`) is read as `modality=`.

    `calibrated=True`: each emotion-category format (be5, be6, pos7, ...) as z-scores against the
    model's own predictions on its training items and, for a text model, unlabelled texts of the
    bundled genres it was not trained on (0 = a typical item of that pool), followed by a
    `<format>.strongest` column naming the strongest emotion. Read raw, each emotion variable has
    its own baseline level and one or two of them come first for nearly every item
    (`emojax.calibration`); other formats' columns are unchanged. Formats default to those the
    encoder was trained through (`calibration.trained_formats`: e.g. vad and be5); another
    emotion format is read zero-shot, with a warning."""
    if isinstance(formats, str) and formats in MODALITIES:  # the old second argument: a modality
      modality, formats = formats, None
    if len(legacy) > 1:
      raise TypeError(f"predict takes items, formats and keyword arguments; got {2 + len(legacy)} "
                      f"positional arguments")
    if fmt is not None or legacy:
      fmt = fmt if fmt is not None else legacy[0]
      warnings.warn("predict(items, modality, fmt) returning a bare array is deprecated: "
                    f"predict(items, formats={fmt!r}) returns a labelled DataFrame, "
                    f"predict_array(items, {fmt!r}) the array", DeprecationWarning, stacklevel=2)
      return self.predict_array(items, fmt, modality=modality, oov=oov, aggregate=aggregate,
                                batch_size=batch_size, progress=progress)
    import pandas as pd  # only labelled predictions need it (start-up time of `import emojax`)
    names = (calibration.trained_formats(self) if calibrated and formats is None
             else self.format_names(formats))
    oov = check_oov(oov)
    record = None
    if calibrated:  # before any work: a format with nothing to calibrate is refused here
      record = calibration.for_model(self)
      calibration.calibrated_formats(record, names)
      calibration.check_trained(self, names)
    listed = self._item_list(items, self.modality)  # once: a generator is read once
    index = self._index(items, listed, ids)
    if len(index) != len(listed):
      raise ValueError(f"ids: {len(index)} ids for {len(listed)} items")
    e = self._embed_rows(listed, modality, oov=oov, aggregate=aggregate, batch_size=batch_size,
                         progress=progress)
    if oov == "skip":
      keep = np.isfinite(e).all(1)
      e, index = e[keep], index[keep]
    values = self._heads(e, names)
    columns = [f"{n}.{v}" for n in names for v in self._format(n).variables]
    data = np.concatenate([values[n] for n in names], 1) if len(e) else np.zeros((0, len(columns)))
    frame = pd.DataFrame(data, index=index, columns=columns)
    return frame if record is None else calibration.calibrated_frame(frame, record, names)

  def strongest_emotion(self, items, fmt: str = "be5", **kwargs):
    """The calibrated strongest emotion of each item (a pandas Series of variable names, e.g.
    "anger"): `predict(items, formats=fmt, calibrated=True)`'s `<fmt>.strongest` column."""
    return self.predict(items, formats=fmt, calibrated=True, **kwargs)[f"{fmt}.strongest"]

  @staticmethod
  def _index(items, listed: list, ids):
    """The rows' labels of `predict`: ids, a Series' index, the items (strings), or positions."""
    import pandas as pd
    if ids is not None:
      return pd.Index(list(ids), name="id")
    if hasattr(items, "to_list") and hasattr(items, "index"):
      return items.index
    if all(isinstance(x, (str, pathlib.Path)) for x in listed):
      return pd.Index([str(x) for x in listed], name="item", dtype=object)
    return pd.RangeIndex(len(listed), name="item")


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
    return (f"<emojax NewFormatModel: reads {self.modality}, from {_origin(self.workdir)}; new "
            f"formats {list(self.new_formats)} learned onto {_origin(self.base.workdir)}; "
            f"predicts {self.default_format!r} by default, formats {list(self.formats)}>")

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
    return chunked(lambda p: self._new_embed(fmt, self.new_params[fmt]["encoder"], p), y)

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
  if stage1 is None:  # a shipped pretrained codec is found by its fingerprint, wherever installed
    stage1 = pretrained.locate(meta["stage1"])
  path = checkpoint.find_recorded(workdir, meta["stage1"], stage1, role="stage-1 checkpoint",
                                  remedy="retrain stage 2")
  s1 = load(path)
  if meta["feature"]["kind"] == TEXT_FINETUNED:
    return _load_finetuned(workdir, meta, s1)
  if meta["feature"]["kind"] == IMAGE_FINETUNED:
    return _load_finetuned_image(workdir, meta, s1)
  cfg = checkpoint.config_from_meta(ContentConfig, meta, workdir)
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
  cfg = checkpoint.config_from_meta(FinetuneImageConfig, meta, workdir)
  E, D = s1.config.codec.embedding_dim, meta["feature"]["dim"]
  abstract = jax.eval_shape(lambda k: {"backbone": content_model.backbone_of(mobilenet.init_params(k)),
                                       "embed": {"kernel": jnp.zeros((D, E)), "bias": jnp.zeros(E)}},
                            jax.random.key(0))
  return FinetunedImageModel(workdir, meta, s1, checkpoint.restore_params(workdir, abstract), cfg)


def _load_new_format(workdir: pathlib.Path, meta: dict, base: str | pathlib.Path | None) -> NewFormatModel:
  """A new-format workdir, after checking that its base model is the one it learned against
  (`base` names that model's new place if it moved)."""
  if base is None:
    base = pretrained.locate(meta["base"])
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
  names the stage-2 model it was learned against). A name of `emojax.pretrained.NAMES` given as a
  string ("codec", "words", "words_fast", "texts", "texts_fast", "images") opens that pretrained
  model of the package."""
  workdir = pretrained.resolve(workdir)
  meta = checkpoint.read_meta(workdir)
  if meta.get("stage") == "content":
    return _load_content(workdir, meta, stage1)
  if meta.get("stage") == "new_format":
    return _load_new_format(workdir, meta, stage1)
  cfg = checkpoint.config_from_meta(MappingConfig, meta, workdir)
  declared = checkpoint.declared_formats(meta)
  packing = codec.Packing.of(formats.head_layout([declared[n] for n in meta["formats"]]),
                             tuple(meta.get("conditions", ())))
  abstract = jax.eval_shape(lambda k: codec.init_params(k, cfg.codec, packing), jax.random.key(0))
  params = checkpoint.restore_params(workdir, abstract)
  return EmotionModel(workdir, meta, params, cfg)
