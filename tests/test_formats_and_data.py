"""Formats registry, head layout / tie pairs, label tables, rescaling and the committed splits."""

import json

import numpy as np
import pandas as pd
import pytest

from emojax import datasets, formats, mapping_data, splits


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
  return datasets.LabelTable("toy", "t.tsv", "WORD", "va", ("V", "A"), ((1, 9), (1, 9)))


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
  pair = mapping_data.get_pair(name)
  assert splits.load_split(name) == mapping_data.compute_split(pair)
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
