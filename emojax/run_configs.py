"""The run configs that a trained model records and `emojax.load` reads back.

Stage 1 (`MappingConfig`), stage 2 on frozen features (`ContentConfig`) and full fine-tuning of the
text and image encoders (`FinetuneConfig`, `FinetuneImageConfig`): frozen dataclasses whose
defaults are the paper's settings (docs/method.md). An export's `model.json` holds its run's config
(`checkpoint.config_from_meta`, `saved_config`); they live here, below the trainers that take them,
so that loading a model rebuilds its config without importing a trainer. Each is followed by the
declaration of its fields' allowed values (`config.declare`), which `config.validate` checks
before a run writes anything.
"""

from __future__ import annotations

import dataclasses

from emojax import config as config_lib, datasets as datasets_lib, mapping_data
from emojax.config import COUNT, NAME_LIST, NAMES, NON_NEGATIVE, POSITIVE, POSITIVE_INT, PROBABILITY, RATE, SEEDS
from emojax.codec import CodecConfig, LossWeights
from emojax.content_model import EncoderConfig
from emojax.conditions import CONDITIONS, SINGLE_DATASET, TRAINED


@dataclasses.dataclass(frozen=True)
class MappingConfig:
  """Stage-1 run. Defaults are the paper's method (docs/method.md) plus dataset conditioning,
  which closes the gap to per-direction baselines; `condition_on_dataset=false` is the paper."""

  pairs: tuple[str, ...] = mapping_data.DEFAULT_PAIRS
  codec: CodecConfig = CodecConfig()
  weights: LossWeights = LossWeights()
  learning_rate: float = 1e-3
  batch_size: int = 32
  steps: int = 10_000
  eval_every: int = 100  # steps per "epoch"; dev evaluation and best-state selection after each
  seeds: tuple[int, ...] = (0,)
  grad_accum: int = 1  # micro-batches per step: a global batch larger than memory, same result
  # Beyond the paper (see docs/results.md, "Ablation"): how each step picks its mapping dataset
  # ("uniform" as the paper, or "proportional" to training-set size), and whether encoders are
  # told which dataset (rater population) a label comes from, dropped with this probability so
  # the unconditioned encoder that inference uses is trained too.
  sampling: str = "uniform"
  condition_on_dataset: bool = True
  condition_dropout: float = 0.5
  checkpoint_every: int = 25  # epochs between Orbax saves of the latest state
  baseline_epochs: int = 50  # per-direction baseline nets; 0 skips them
  num_devices: int = 0  # 0 = every device of the platform

  @property
  def epochs(self) -> int:
    return self.steps // self.eval_every


config_lib.declare(
    MappingConfig,
    {"pairs": NAMES, "learning_rate": POSITIVE, "batch_size": POSITIVE_INT, "steps": POSITIVE_INT,
     "eval_every": POSITIVE_INT, "seeds": SEEDS, "grad_accum": POSITIVE_INT,
     "sampling": config_lib.one_of("uniform", "proportional"), "condition_dropout": PROBABILITY,
     "checkpoint_every": POSITIVE_INT, "baseline_epochs": COUNT, "num_devices": COUNT},
    checks=[lambda c: c.steps % c.eval_every and (
                f"steps ({c.steps}) must be a multiple of eval_every ({c.eval_every})"),
            lambda c: c.batch_size % c.grad_accum and (
                f"batch_size {c.batch_size} must split into grad_accum={c.grad_accum} equal micro-batches")])
config_lib.declare(EncoderConfig, {"hidden": config_lib.each(POSITIVE_INT), "dropout": config_lib.each(RATE),
                                   "leaky_slope": NON_NEGATIVE})


@dataclasses.dataclass(frozen=True)
class ContentConfig:
  """Stage-2 run. Defaults are the paper's word experiment (docs/method.md), 3 seeds."""

  modality: str = "words"
  stage1: str = "checkpoints/mapping"  # stage-1 workdir (relative: to the current directory)
  datasets: tuple[str, ...] = datasets_lib.names("words")
  conditions: tuple[str, ...] = CONDITIONS
  vectors: str = "glove50"  # words: glove50 | spacy300 | minilm_l0..6 | "+"-joined (content_data.word_features)
  encoder: EncoderConfig = EncoderConfig()
  learning_rate: float = 1e-3
  weight_decay: float = 0.0  # > 0: AdamW with this decoupled decay (0 = Adam, the paper's)
  # "region": every Sng/Aug encoder's output is moved to the label region's conditional mean given
  # what its own heads read (invisible to them, folded into its last layer; emojax.region), so a
  # foreign head reads the codec's mapping of it: zero-shot through the heads works (docs/snz.md).
  # "raw": the paper's (a foreign head reads the untrained rest of the output). configs/*.py: region
  readout: str = "raw"  # "region": Sng/Aug encoders read in the label region (docs/snz.md)
  # Mlt: "datasets" = each dataset's mean loss weighs the same (the paper's), "examples" = each
  # example does (a large dataset is not outweighed by a small one it shares the encoder with)
  mlt_weighting: str = "datasets"
  # Datasets that only add training items to every Mlt encoder: no encoder of their own, no row in
  # the tables, not in dev selection. A texts run may name word datasets here, read as one-word
  # texts (the word, or a non-English word's English gloss) by the run's sentence encoder.
  mlt_with: tuple[str, ...] = ()
  mlt_with_weight: float = 1.0  # the loss weight of an mlt_with example (the run's own weigh 1)
  batch_size: int = 128
  epochs: int = 70  # best dev epoch is kept
  seeds: tuple[int, ...] = (0, 1, 2)
  augment: tuple[str, ...] = ("va:be5", "vad:be5", "be5:vad", "be6:vad", "pos7:va")  # dataset format:synthetic format
  aug_weight: float = 1.0
  mapping_epochs: int = 50  # BsZ per-direction mapping nets (the stage-1 baselines' schedule)
  mapping_batch_size: int = 32
  max_groups: int = 3  # compiled calls at most; more groups waste fewer padded steps
  checkpoint_every: int = 10  # epochs between Orbax saves of a group's state
  export: str = "warriner_vad:Aug"  # "<dataset>:<condition>" of the encoder `emojax.load` serves
  vader: bool = True  # words: zero-shot VADER valence check with the exported dataset's encoders
  feature_cache: str = ""  # "" = <workdir>/features
  max_length: int = 128  # texts: tokens per text (longer texts are truncated)
  # texts: the frozen sentence encoder, "minilm" (all-MiniLM-L6-v2, fast) or "mpnet"
  # (all-mpnet-base-v2: 6x slower, more accurate; docs/representations.md)
  text_encoder: str = "minilm"
  text_pooling: str = "last"  # texts: "last" layer's mean pool, or "layers": its average over all layers
  max_items: int = 0  # texts: > 0 keeps the first that many items of each split part (tests);
  # images: > 0 keeps about that many images in all, 3:1:1 over the parts (tests)
  num_devices: int = 0  # 0 = every device of the platform
  # Scale (docs/scaling.md): the devices form a grid of run shards x batch shards. Runs are
  # independent encoders, so the run axis is the cheap one to shard; `batch_shards` > 1 also
  # splits every run's batch over that many devices (data parallel within one encoder, gradients
  # all-reduced), for fewer runs than devices. `grad_accum` splits each batch into that many
  # sequential micro-batches (same rows, same dropout masks): the full-batch update, less memory.
  batch_shards: int = 1
  grad_accum: int = 1


config_lib.declare(
    ContentConfig,
    {"modality": config_lib.one_of(*datasets_lib.MODALITIES), "datasets": NAMES, "conditions": NAMES,
     "readout": config_lib.one_of("raw", "region"), "mlt_weighting": config_lib.one_of("datasets", "examples"),
     "mlt_with": NAME_LIST, "mlt_with_weight": NON_NEGATIVE,
     "text_encoder": config_lib.one_of("minilm", "mpnet"),
     "text_pooling": config_lib.one_of("last", "layers"), "learning_rate": POSITIVE, "weight_decay": NON_NEGATIVE, "batch_size": POSITIVE_INT,
     "epochs": POSITIVE_INT, "seeds": SEEDS, "aug_weight": NON_NEGATIVE, "mapping_epochs": POSITIVE_INT, "mapping_batch_size": POSITIVE_INT,
     "max_groups": POSITIVE_INT, "checkpoint_every": POSITIVE_INT, "max_length": POSITIVE_INT,
     "max_items": COUNT, "num_devices": COUNT, "batch_shards": POSITIVE_INT, "grad_accum": POSITIVE_INT})
# (how batch_size splits over grad_accum and batch_shards: train_content.check_config, with the names)


def augment_map(rules) -> dict[str, str]:
  """`ContentConfig.augment` as {dataset format: synthetic format} (a later rule for a format wins)."""
  out = {}
  for rule in rules:
    src, sep, tgt = rule.partition(":")
    if not sep:
      raise ValueError(f"augment rule {rule!r} must look like <format>:<format>, e.g. va:be5")
    out[src] = tgt
  return out


def trained_formats(rules, condition: str, own) -> list[str]:
  """The formats whose heads a stage-2 encoder of `condition` on datasets of formats `own` is
  trained through: those formats and, for Aug, the synthetic format the `augment` rules give each."""
  out = list(dict.fromkeys(own))
  targets = augment_map(rules) if condition == "Aug" else {}
  for fmt in list(out):
    if fmt in targets and targets[fmt] not in out:
      out.append(targets[fmt])
  return out


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  stage1: str = "checkpoints/mapping"
  datasets: tuple[str, ...] = datasets_lib.names("texts")
  conditions: tuple[str, ...] = SINGLE_DATASET  # Bsl | Sng | Aug; each also gives its zero-shot cell
  seeds: tuple[int, ...] = (0, 1, 2)
  export: str = "emobank_vad:Aug"  # <dataset>:<Sng|Aug> whose best-dev seed is exported; "" = none
  learning_rate: float = 1e-5
  weight_decay: float = 0.01
  batch_size: int = 24  # must divide over the devices of the mesh
  epochs: int = 10
  max_steps: int = 0  # > 0: stop after this many steps (CPU demonstrations)
  eval_every: int = 0  # steps between dev evaluations; 0 = once per epoch
  max_length: int = 128
  head_dropout: float = 0.1  # on the pooled output, before Dense 100
  max_items: int = 0  # > 0: first that many items per split part (tests)
  eval_batch_size: int = 64
  num_devices: int = 0
  compute_dtype: str = "float32"  # bfloat16: BERT matmuls/activations in bf16, parameters fp32


DTYPES = config_lib.one_of("float32", "bfloat16")
config_lib.declare(
    FinetuneConfig,
    {"datasets": NAMES, "conditions": NAMES, "seeds": SEEDS, "learning_rate": POSITIVE,
     "weight_decay": NON_NEGATIVE, "batch_size": POSITIVE_INT, "epochs": POSITIVE_INT, "max_steps": COUNT,
     "eval_every": COUNT, "max_length": POSITIVE_INT, "head_dropout": RATE, "max_items": COUNT,
     "eval_batch_size": POSITIVE_INT, "num_devices": COUNT, "compute_dtype": DTYPES})


# Exports written before `run` made the table: one run's config had these fields, one value each.
ONE_RUN_FIELDS = {"dataset": "datasets", "condition": "conditions", "seed": "seeds"}


def saved_config(meta: dict) -> FinetuneConfig:
  """The config recorded in an export's model.json, also one of the earlier one-run config."""
  saved = dict(meta["config"])
  for old, new in ONE_RUN_FIELDS.items():
    if old in saved:
      saved[new] = (saved.pop(old),)
  return config_lib.from_dict(FinetuneConfig, saved)


@dataclasses.dataclass(frozen=True)
class FinetuneImageConfig:
  stage1: str = "checkpoints/mapping"
  datasets: tuple[str, ...] = datasets_lib.names("images")
  conditions: tuple[str, ...] = TRAINED
  seeds: tuple[int, ...] = (0, 1, 2)
  export: str = "bass_us_va:Aug"  # "<dataset>:<condition>" whose best-dev seed `emojax.load` serves
  learning_rate: float = 1e-3
  momentum: float = 0.9
  lr_decay: float = 0.1  # step decay: the learning rate is multiplied by this ...
  lr_decay_epochs: int = 7  # ... every this many epochs
  batch_size: int = 32  # must divide over the devices of the mesh
  epochs: int = 25
  max_steps: int = 0  # > 0: stop after this many steps (CPU demonstrations, tests)
  eval_every: int = 0  # steps between dev evaluations; 0 = once per epoch
  image_size: int = 224  # center crop; the shorter side is first resized to image_size * 256/224
  dropout: float = 0.5  # on the pooled features, before Dense 100
  flip: bool = True  # random horizontal flips of training images
  max_items: int = 0  # > 0: about that many images in all, 3:1:1 over the parts (tests)
  eval_batch_size: int = 64
  num_devices: int = 0
  compute_dtype: str = "float32"  # bfloat16: backbone in bf16, parameters fp32
  image_cache: str = ""  # "" = <workdir>/features
  # Parametrisation of the step (module docstring). True: SGD on the BN-folded weights themselves;
  # with zero_init_head=false this collapses the features.
  train_folded_weights: bool = False
  zero_init_head: bool = True  # the new Dense 100 (and Bsl's own layer) start at zero


config_lib.declare(
    FinetuneImageConfig,
    {"datasets": NAMES, "conditions": NAMES, "seeds": SEEDS, "learning_rate": POSITIVE, "momentum": RATE,
     "lr_decay": POSITIVE, "lr_decay_epochs": POSITIVE_INT, "batch_size": POSITIVE_INT, "epochs": POSITIVE_INT,
     "max_steps": COUNT, "eval_every": COUNT, "image_size": POSITIVE_INT, "dropout": RATE, "max_items": COUNT,
     "eval_batch_size": POSITIVE_INT, "num_devices": COUNT, "compute_dtype": DTYPES})
