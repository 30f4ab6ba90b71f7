"""Issue 23's data: the new NoRaRe declarations read with their scales checked, their splits follow
the rule and leak no word across pairs, and the positive-emotions format maps through a codec."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import emojax
from emojax import codec, datasets, formats, mapping_data, splits, train_mapping
from emojax.run_configs import MappingConfig

NEW_DATASETS = {  # name: (rows, format, nominal scale of every column)
    "speed_va": (792, "va", (1, 5)), "speed_be6": (792, "be6", (1, 5)),
    "ferre_be5": (642, "be5", (1, 5)), "hinojosa_pos7": (1280, "pos7", (1, 5)),
    "coso_be5": (1104, "be5", (1, 5)), "scott_vad": (1614, "vad", (1, 9)),
    "montefinese_vad": (564, "vad", (1, 9)), "soares_vad": (223, "vad", (1, 9)),
    "song_emo10": (747, "emo10", (1, 5)),
}
NEW_PAIRS = {"nl_va_be6": 792, "nl_vad_be6": 551, "es_va_be5_ferre": 604, "es_vad_be5": 335,
             "es_va_pos7": 1243, "es_be5_pos7": 501}


@pytest.mark.parametrize("name", NEW_DATASETS)
def test_new_declaration_reads_in_its_canonical_range(name):
  rows, fmt_name, scale = NEW_DATASETS[name]
  ds, fmt = datasets.get_dataset(name), formats.get_format(NEW_DATASETS[name][1])
  assert ds.format == fmt_name and ds.scale == (scale,) * fmt.size and ds.modality == "words"
  assert (name in datasets.names("words")) == (name != "song_emo10")  # no codec has an emo10 head
  table = datasets.read_table(ds)
  assert len(table.keys) == len(set(table.keys)) == rows
  assert table.y.shape == (rows, fmt.size) and np.isfinite(table.y).all()
  assert table.y.min() >= fmt.low and table.y.max() <= fmt.high
  # Not squeezed into the range by the observed min/max: the nominal scale is what is used.
  assert table.y.min() > fmt.low - 1e-6 and (table.y.max(0) < fmt.high).any()


@pytest.mark.parametrize("name", ["speed_va", "hinojosa_pos7", "song_emo10"])
def test_a_value_outside_the_declared_scale_is_an_error_naming_row_and_column(name):
  ds = datasets.get_dataset(name)
  narrower = dataclasses.replace(ds, scale=(1, 4))  # every file has values above 4
  with pytest.raises(ValueError, match=r"row \d+ \(line\), variable '.*_MEAN.*'.*outside the declared scale \[1, 4\]"):
    datasets.read_table(narrower)


def test_song_male_means_are_incomplete_so_only_female_is_declared():
  male = dataclasses.replace(datasets.get_dataset("song_emo10"),
                             columns=tuple(c.replace("_FEMALE", "_MALE") for c in datasets.get_dataset("song_emo10").columns))
  with pytest.raises(ValueError, match="missing or outside the declared scale"):
    datasets.read_table(male)


@pytest.mark.parametrize("name", NEW_PAIRS)
def test_new_pairs_join_their_items(name):
  pair = datasets.get_pair(name)
  assert len(datasets.item_keys(pair)) == NEW_PAIRS[name] and pair.stage1


def test_positive_emotions_and_ten_emotions_formats_tie_only_what_is_one_concept():
  pos7, emo10 = formats.get_format("pos7"), formats.get_format("emo10")
  assert pos7.variables == ("awe", "relief", "excitement", "amusement", "pleasure", "contentment", "serenity")
  assert not set(pos7.concepts) & set(formats.get_format("be6").concepts)  # no tie to a basic emotion
  layout = formats.head_layout(["be6", "pos7", "emo10"])
  assert sorted(layout.tie_concepts) == sorted(
      ["joy", "anger", "sadness", "fear", "disgust", "surprise", "contentment", "amusement", "serenity"])
  names = layout.row_names()
  assert ("emo10:anxiety" not in {names[i] for pair in layout.tie_pairs for i in pair})
  assert emo10.variables[:5] == formats.BE5


def test_committed_splits_of_the_new_declarations_follow_their_rules():
  for name in [*NEW_PAIRS, *NEW_DATASETS, "stadthagen_va", "stadthagen_be5", "moors_vad", "redondo_vad"]:
    decl = datasets.get(name)
    assert splits.split_of(decl) == splits.compute(decl), name
  for name in ("nl_va_be6", "coso_be5", "scott_vad", "song_emo10"):  # plain 3:1:1
    n = len(datasets.item_keys(name))
    sizes = {p: len(v) for p, v in splits.split_of(name).items()}
    assert sizes == {"train": round(3 * n / 5), "dev": round(n / 5), "test": n - round(3 * n / 5) - round(n / 5)}


def test_no_word_is_on_two_sides_across_the_pairs_and_tables_of_a_language():
  for language in ("es", "nl", "pl", "de"):
    part = {}
    tables = [d for d in datasets.REGISTRY.values()
              if isinstance(d, datasets.Dataset) and d.language == language and d.modality == "words"]
    pairs = [p for p in map(datasets.get_pair, datasets.pair_names())
             if datasets.get_dataset(p.a).language == language]
    assert pairs
    for decl in [*pairs, *tables]:
      for item, p in splits.part_of(splits.split_of(decl)).items():
        assert part.setdefault(item, p) == p, (language, decl.name, item)


@pytest.fixture
def scratch_registry():
  """Declarations a test makes are removed again: the registry is global to the process, and a
  later test reads `datasets.names()` (the words config's datasets, say)."""
  before = set(datasets.REGISTRY)
  yield
  for name in set(datasets.REGISTRY) - before:
    del datasets.REGISTRY[name]
    datasets._DECLARED.discard(name)


def test_pairs_that_disagree_on_a_word_are_refused(tmp_path, scratch_registry):
  keys = [f"w{i}" for i in range(10)]
  pd.DataFrame({"w": keys, "v": 5.0, "a": 5.0}).to_csv(tmp_path / "va.csv", index=False)
  pd.DataFrame({"w": keys, **{c: 3.0 for c in "JASFD"}}).to_csv(tmp_path / "be5.csv", index=False)
  (tmp_path / "one.json").write_text('{"train": ["w0"], "dev": [], "test": []}')
  (tmp_path / "two.json").write_text('{"train": [], "dev": [], "test": ["w0"]}')
  common = dict(modality="words", key="w")
  datasets.declare([
      datasets.Dataset(name="t_va", path="va.csv", format="va", columns=("v", "a"), scale=(1, 9), **common),
      datasets.Dataset(name="t_be5", path="be5.csv", format="be5", columns=tuple("JASFD"), scale=(1, 5), **common),
      datasets.Pair(name="t_one", a="t_va", b="t_be5", split="file:one.json"),
      datasets.Pair(name="t_two", a="t_va", b="t_be5", split="file:two.json"),
      datasets.Pair(name="t_three", a="t_va", b="t_be5", split="pair:t_one,t_two+rule")],
      base=tmp_path, split_dir=tmp_path / "splits")
  with pytest.raises(ValueError, match="t_one and t_two put 'w0' in train and test"):
    splits.split_of("t_three")
  assert splits.merged_pair_splits(["t_one"])["train"] == ["w0"]


@pytest.fixture(scope="module")
def pos7_codec(tmp_path_factory):
  cfg = MappingConfig(pairs=("es_va_pos7", "es_be5_pos7"), steps=300, eval_every=100, seeds=(0,),
                      baseline_epochs=0, checkpoint_every=100)
  workdir = tmp_path_factory.mktemp("pos7_codec")
  train_mapping.run(cfg, workdir, show_progress=False)
  return emojax.load(workdir)


def test_positive_emotions_round_trip_through_map_labels(pos7_codec):
  assert {"pos7", "va", "be5"} <= set(pos7_codec.formats)
  data = datasets.read_table("hinojosa_pos7")
  test = set(splits.split_of("es_va_pos7")["test"])
  y = data.y[[i for i, k in enumerate(data.keys) if k in test]]
  back = pos7_codec.map_labels(y, "pos7", "pos7")
  assert back.shape == y.shape
  r = [np.corrcoef(back[:, v], y[:, v])[0, 1] for v in range(y.shape[1])]
  assert min(r) > 0.5, r  # labels come back through the shared space
  frame = pd.DataFrame(y[:4], columns=formats.POS7)
  va = pos7_codec.map_labels(frame, "pos7", "va")
  assert list(va.columns) == ["valence", "arousal"] and va.shape == (4, 2)
  again = pos7_codec.map_labels(pos7_codec.map_labels(frame, "pos7", "be5"), "be5", "pos7")
  assert list(again.columns) == list(formats.POS7) and np.isfinite(again.to_numpy()).all()


# ------------------------------------------------------------------ leave-one-population-out

def test_strict_lopo_leaves_out_every_pair_sharing_a_population():
  from emojax import transfer
  pool = mapping_data.DEFAULT_PAIRS
  assert transfer.training_pairs(pool, "pl_va_be5", strict=False) == [p for p in pool if p != "pl_va_be5"]
  strict = transfer.training_pairs(pool, "pl_va_be5", strict=True)
  assert "pl_vad_be5" not in strict and "es_va_be5" in strict  # shares wierzba_be5
  assert not {"es_va_pos7", "es_be5_pos7"} & set(transfer.training_pairs(pool, "es_va_pos7", strict=True))


def test_lopo_maps_a_held_out_pair_unconditioned_and_skips_an_unmappable_one(tmp_path):
  from emojax import transfer
  cfg = transfer.TransferConfig(
      variants=("configs/stage1.py eval_every=2",), pairs=("de_vad_be5", "pl_vad_be5", "nl_va_be6"),
      held_out=("de_vad_be5", "nl_va_be6"), seeds=(0,), steps=4, in_population=False, baseline_epochs=1)
  results = transfer.run(cfg, tmp_path, show_progress=False)
  rows = results["variants"]["configs/stage1.py eval_every=2"]["lopo"]["pairs"]
  assert set(rows["de_vad_be5"]) == {"de_vad_be5:vad->be5", "de_vad_be5:be5->vad", "pair"}
  assert "skipped" in rows["nl_va_be6"]  # be6 and va are in no other pair of this pool
  assert results["baselines"]["pairs"]["de_vad_be5"]["pair"]["mean"] > -1  # pl_vad_be5 is vad<->be5
  assert "| de_vad_be5 | vad->be5 |" in (tmp_path / "results.md").read_text()
  held = mapping_data.load_pair("de_vad_be5")
  packing = codec.Packing.of(formats.head_layout(["vad", "be5"]), ("pl_vad_be5",))
  assert (transfer.held_out_directions(held, packing)["cond"] == -1).all()
