"""Formats registry, head layout / tie pairs, the dataset registry, rescaling and the committed splits."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from emojax import datasets, formats, mapping_data, readers, splits


def test_registry_has_the_required_formats():
  assert formats.get_format("va").variables == ("valence", "arousal")
  assert formats.get_format("vad").size == 3
  assert formats.get_format("be5").variables == ("joy", "anger", "sadness", "fear", "disgust")
  assert formats.get_format("be6").variables[-1] == "surprise"
  assert (formats.get_format("va").low, formats.get_format("be5").low) == (-1.0, 0.0)
  with pytest.raises(KeyError, match="unknown label format 'nope'"):
    formats.get_format("nope")


def test_head_layout_compiles_equivalence_classes_to_index_pairs():
  layout = formats.head_layout(["va", "be5", "vad", "be6"])
  # rows: va 0-1, be5 2-6, vad 7-9, be6 10-15
  assert layout.num_rows == 16
  got = {tuple(p) for p in layout.tie_pairs.tolist()}
  want = {(0, 7), (1, 8), (2, 10), (3, 11), (4, 12), (5, 13), (6, 14)}
  assert got == want
  assert layout.tie_pairs.dtype == np.int32
  # Valence is deliberately not tied to joy.
  assert (0, 2) not in got and (7, 10) not in got


def test_a_class_format_is_one_declaration():
  layout = formats.head_layout(["be5", "isear7"])
  names = layout.row_names()
  tied = {(names[i], names[j]) for i, j in layout.tie_pairs}
  assert ("be5:joy", "isear7:joy") in tied and len(tied) == 5  # shame, guilt have no partner


def test_rescale_uses_nominal_bounds():
  fmt = formats.get_format("va")
  y = datasets.rescale(np.array([[1.0, 9.0], [5.0, 3.0]]), ((1, 9), (1, 9)), fmt)
  np.testing.assert_allclose(y, [[-1, 1], [0, -0.5]])
  fmt = formats.get_format("be5")
  np.testing.assert_allclose(datasets.rescale(np.array([[1, 7, 4, 1, 1.0]]), ((1, 7),) * 5, fmt),
                             [[0, 1, 0.5, 0, 0]])


def _write_table(tmp_path, monkeypatch, rows):
  path = tmp_path / "t.tsv"
  pd.DataFrame(rows, columns=["WORD", "V", "A"]).to_csv(path, sep="\t", index=False)
  monkeypatch.setattr(datasets, "DATA_DIR", tmp_path)
  return datasets.Dataset(name="toy", path="t.tsv", key="WORD", format="va", modality="words",
                          columns=("V", "A"), scale=(1, 9))


def test_out_of_scale_value_names_file_row_and_variable(tmp_path, monkeypatch):
  table = _write_table(tmp_path, monkeypatch, [["a", 5, 5], ["b", 9.5, 5]])
  with pytest.raises(ValueError, match=r"t.tsv: row 3 \(line\), variable 'V': value 9.5"):
    datasets.read_labels(table)


def test_missing_value_is_an_error(tmp_path, monkeypatch):
  table = _write_table(tmp_path, monkeypatch, [["a", 5, None]])
  with pytest.raises(ValueError, match="variable 'A'.*missing"):
    datasets.read_labels(table)


def test_words_like_null_are_words(tmp_path, monkeypatch):
  table = _write_table(tmp_path, monkeypatch, [["null", 5, 5], ["nan", 1, 9]])
  keys, y = datasets.read_labels(table)
  assert keys == ["null", "nan"] and y.shape == (2, 2)


def test_ratio_split_rule():
  split = splits.ratio_split([f"w{i}" for i in range(10)])
  assert [len(split[p]) for p in splits.PARTS] == [6, 2, 2]
  ordered = sorted(f"w{i}" for i in range(10))
  perm = np.random.RandomState(0).permutation(10)
  assert split["train"] == [ordered[i] for i in perm[:6]]


def test_extend_split_keeps_known_items():
  base = {"train": ["a"], "dev": ["b"], "test": ["c"]}
  out = splits.extend_split(base, ["a", "c", "x", "y", "z", "u", "v"])
  assert "a" in out["train"] and "c" in out["test"]
  assert sorted(sum(out.values(), [])) == sorted(["a", "c", "x", "y", "z", "u", "v"])


@pytest.mark.parametrize("name,size", [("es_va_be5", 639), ("pl_va_be5", 489), ("pl_vad_be5", 383),
                                       ("de_vad_be5", 145), ("en_vad_be6", 1192)])
def test_committed_splits_follow_their_rule(name, size):
  pair = datasets.get_pair(name)
  assert splits.load_split(name) == splits.compute(pair) == splits.split_of(name)
  data = mapping_data.load_pair(name)
  assert sum(len(v) for v in data.items.values()) == size
  fa, fb = (formats.get_format(f) for f in pair.formats)
  for part in splits.PARTS:
    assert data.a[part].shape[1] == fa.size and data.b[part].shape[1] == fb.size
    assert (data.a[part] >= fa.low).all() and (data.a[part] <= fa.high).all()


def test_no_polish_word_changes_sides_between_pairs():
  a = splits.part_of(splits.load_split("pl_va_be5"))
  b = splits.part_of(splits.load_split("pl_vad_be5"))
  assert all(a[w] == part for w, part in b.items() if w in a)


def test_headline_split_is_the_papers_file():
  ids = json.loads((datasets.DATA_DIR / "emotion_embeddings_splits/AffTextEB_splits.json").read_text())
  assert splits.load_split("en_vad_be6")["test"] == [f"SemEval_{i}" for i in ids["test"]]


# ------------------------------------------------------------------------------ the dataset registry

@pytest.mark.parametrize("name", [n for n, d in datasets.REGISTRY.items() if isinstance(d, datasets.Dataset)])
def test_every_declaration_reads_within_its_declared_scale(name):
  ds = datasets.get_dataset(name)
  fmt = formats.get_format(ds.format)
  table = datasets.read_table(name)
  n = len(table.keys)
  assert n > 0 and len(set(table.keys)) == n and table.y.shape == (n, fmt.size)
  assert len(table.content) == n and all(isinstance(c, str) and c.strip() for c in table.content)
  if fmt.is_classes:
    assert set(np.unique(table.y)) <= {0.0, 1.0}
    if fmt.kind == formats.CLASSES:
      assert (table.y.sum(1) == 1).all()
  else:  # the nominal scale maps onto the format's canonical range, ends included
    assert (table.y >= fmt.low).all() and (table.y <= fmt.high).all()
  if ds.files:
    assert all((datasets.DATA_DIR / ds.files / k).is_file() for k in table.keys)
  split = splits.split_of(name)
  listed = [k for p in splits.PARTS for k in split[p]]
  assert len(set(listed)) == len(listed) and set(listed) <= set(table.keys)


def test_lookup_of_an_unknown_name_names_the_known_ones():
  with pytest.raises(KeyError, match=r"unknown dataset 'nope'; known: \[.*'es_va_be5'.*'warriner_vad'"):
    datasets.get("nope")
  with pytest.raises(KeyError, match=r"unknown word dataset 'emobank_vad'; known: \['warriner_vad'"):
    datasets.get_dataset("emobank_vad", "words")
  with pytest.raises(KeyError, match=r"unknown mapping pair 'warriner_vad'; known: \['es_va_be5'"):
    datasets.get_pair("warriner_vad")


def test_registry_views():
  assert datasets.names("words")[:2] == ("warriner_vad", "stadthagen_va") and len(datasets.names("words")) == 18
  assert datasets.names("texts") == ("emobank_vad", "afftext_be5")  # afftext_be6 feeds a pair only
  assert datasets.names("images") == ("bass_us_va", "bass_ch_va")
  assert datasets.names(classes=True) == ("isear", "goemotions_ekman")
  assert mapping_data.DEFAULT_PAIRS == datasets.pair_names(stage1=True) == (
      "es_va_be5", "pl_va_be5", "pl_vad_be5", "de_vad_be5", "en_vad_be6", "nl_va_be6", "nl_vad_be6",
      "es_va_be5_ferre", "es_vad_be5", "es_va_pos7", "es_be5_pos7")
  assert datasets.rater_groups() == [("bass_us_va", "bass_ch_va")]
  assert datasets.get_pair("pl_vad_be5").formats == ("vad", "be5")


def test_a_declaration_is_checked_when_written(tmp_path):
  ds = datasets.Dataset(name="mine", path=str(tmp_path / "mine.tsv"), format="be5", modality="words",
                        columns=["J", "A", "S", "F", "D"], scale=(1, 5))
  assert ds.scale == ((1, 5),) * 5 and ds.columns == ("J", "A", "S", "F", "D")
  with pytest.raises(ValueError, match="format 'va' has 2 variables, got 1 columns"):
    datasets.Dataset(name="bad", path="x.tsv", format="va", modality="words", columns=("V",), scale=(1, 9))
  with pytest.raises(ValueError, match="modality must be one of"):
    datasets.Dataset(name="bad", path="x.tsv", format="va", modality="sounds", columns=("V", "A"),
                     scale=(1, 9))
  with pytest.raises(ValueError, match="reads its class names from one column"):
    datasets.Dataset(name="bad", path="x.tsv", format="isear7", modality="texts", columns=("a", "b"))
  with pytest.raises(ValueError, match="declared twice"):
    datasets.register(datasets.get("warriner_vad"))


def test_own_data_is_one_declaration(tmp_path):
  """A user's table (absolute path, own split rule) reads and splits like the bundled ones."""
  path = tmp_path / "mine.csv"
  pd.DataFrame({"word": [f"w{i}" for i in range(10)], "v": np.linspace(1, 9, 10),
                "a": [5.0] * 10, "part": ["train"] * 6 + ["dev"] * 2 + ["test"] * 2}).to_csv(path, index=False)
  ds = datasets.Dataset(name="mine", path=str(path), reader=readers.read_csv, key="word", format="va",
                        modality="words", columns=("v", "a"), scale=(1, 9), split="column:part")
  table = datasets.read_table(ds)
  assert table.keys == tuple(f"w{i}" for i in range(10)) and table.y[0].tolist() == [-1, 0]
  assert splits.compute(ds)["dev"] == ["w6", "w7"]
  assert splits.compute(dataclasses.replace(ds, split="rule")) == splits.ratio_split(table.keys)


def test_split_rules_parse():
  assert splits.parse("rule") == ("rule", "", False)
  assert splits.parse("pair:es_va_be5+rule") == ("pair", "es_va_be5", True)
  assert splits.parse("file:a/b.json") == ("file", "a/b.json", False)
  for bad in ("rules", "column:x+rule", "pair:", "file:x+dev"):
    with pytest.raises(ValueError, match="is not one of"):
      splits.parse(bad)
