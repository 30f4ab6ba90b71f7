"""Nothing silently wrong (issue 27, files and inputs): each test is one finding that the code before
it got silently wrong, half-written or as a deep traceback, grouped by kind: checksummed models,
exports whose parts carry one id, outputs checked before work and written whole, bounded inputs,
and inputs read as meant (header, TSV, Unicode, multi-word items, DataFrame columns).
docs/errors.md lists each with its test."""

import csv
import json
import shutil

import numpy as np
import pandas as pd
import pytest

import emojax
from emojax import api, checkpoint, predict, retrieval
from conftest import run_cli


def run(capsys, *argv):
  return run_cli(capsys, *argv)


def flip(path, offset=None):
  """Flips every bit of one byte of a file (the middle one by default)."""
  data = bytearray(path.read_bytes())
  at = len(data) // 2 if offset is None else offset
  data[at] ^= 0xFF
  path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def words(tiny_words):
  return tiny_words[0]


@pytest.fixture(scope="module")
def model(tiny_words_model):
  return tiny_words_model


# ------------------------------------------------------------------------------ checksummed models

def test_every_model_records_checksums_of_its_parameter_files(untrained_stage1):
  meta = json.loads((untrained_stage1 / "model.json").read_text())
  files = sorted(str(p.relative_to(untrained_stage1 / "model"))
                 for p in (untrained_stage1 / "model").rglob("*") if p.is_file())
  assert sorted(meta["checksums"]) == files and files
  assert meta["checksums"] == checkpoint.model_checksums(untrained_stage1 / "model")


def test_a_flipped_byte_in_any_parameter_file_is_refused_by_name(untrained_stage1, tmp_path):
  """Fault injection: one flipped byte in each file under model/ (16 of 16 tries loaded before)."""
  files = [p.relative_to(untrained_stage1) for p in (untrained_stage1 / "model").rglob("*") if p.is_file()]
  assert len(files) >= 3
  for k, rel in enumerate(files):
    copy = tmp_path / f"m{k}"
    shutil.copytree(untrained_stage1, copy)
    flip(copy / rel)
    with pytest.raises(checkpoint.CheckpointError, match=f"corrupted: .*{rel.name}"):
      emojax.load(copy)
  copy = tmp_path / "missing"  # a file gone (a partly copied model)
  shutil.copytree(untrained_stage1, copy)
  (copy / files[0]).unlink()
  with pytest.raises(checkpoint.CheckpointError, match="corrupted: .* is missing"):
    emojax.load(copy)


def test_a_damaged_model_json_is_refused_clearly(untrained_stage1, tmp_path):
  """Fault injection in model.json: a flipped structural byte, a flipped checksum digit, and valid
  JSON of the wrong shape (an AttributeError traceback or `error: config` before)."""
  text = (untrained_stage1 / "model.json").read_text()
  meta = json.loads(text)
  digest = next(iter(meta["checksums"].values()))
  cases = {
      "brace": (text.replace("{", "\x84", 1), "model.json is corrupt"),
      "checksum": (text.replace(digest, ("1" if digest[0] == "0" else "0") + digest[1:], 1), "corrupted: "),
      "list": ("[1, 2]", "expected a JSON object, got list"),
      "formats": (json.dumps({**meta, "formats": "va"}), "'formats' must be a non-empty list"),
      "config": (json.dumps({**meta, "config": None}), "'config' must be an object"),
      "codec": (json.dumps({**meta, "config": {**meta["config"], "codec": 5}}), "'config' is not a MappingConfig"),
      "declaration": (json.dumps({**meta, "declarations": {"va": {"kind": 3}}}), "declaration of format 'va'"),
      "content": (json.dumps({**meta, "stage": "content"}), "'stage1' must be an object"),
  }
  for name, (body, message) in cases.items():
    copy = tmp_path / name
    shutil.copytree(untrained_stage1, copy)
    (copy / "model.json").write_text(body)
    with pytest.raises(checkpoint.CheckpointError, match=message):
      emojax.load(copy)


def test_a_model_without_checksums_loads_with_a_warning(untrained_stage1, tmp_path):
  copy = tmp_path / "old"
  shutil.copytree(untrained_stage1, copy)
  meta = json.loads((copy / "model.json").read_text())
  del meta["checksums"]
  (copy / "model.json").write_text(json.dumps(meta))
  with pytest.warns(UserWarning, match="records no checksums"):
    old = emojax.load(copy)
  y = [[0.5, -0.5]]
  np.testing.assert_array_equal(old.map_labels(y, "va", "be5"),
                                emojax.load(untrained_stage1).map_labels(y, "va", "be5"))


def test_the_fingerprint_covers_the_weights(words, tiny_stage1, tmp_path):
  """One changed weight byte with model.json untouched is another stage-1 model: a stage-2 model
  refuses it as "another model" (were model/ not hashed, it would pass this check and fail later
  only by the checksum, with "corrupted")."""
  other = tmp_path / "stage1_one_byte"
  shutil.copytree(tiny_stage1, other)
  biggest = max((p for p in (other / "model").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  flip(biggest)
  assert (other / "model.json").read_bytes() == (tiny_stage1 / "model.json").read_bytes()
  assert checkpoint.fingerprint(other) != checkpoint.fingerprint(tiny_stage1)
  with pytest.raises(checkpoint.CheckpointError, match="holds another model"):
    emojax.load(words, stage1=other)


def test_exporting_the_same_model_again_keeps_its_fingerprint(untrained_stage1, tmp_path):
  """A rerun that trains nothing (every seed resumed) exports the same parameters again: the
  export is left as it was, so the stage-2 runs trained against it still find it. Other
  parameters, or another model.json, are a new export."""
  import jax
  from emojax import codec, formats, train_mapping
  copy = tmp_path / "stage1"
  shutil.copytree(untrained_stage1, copy)
  cfg = train_mapping.MappingConfig(pairs=("es_va_be5",))
  packing = codec.Packing.of(formats.head_layout(["va", "be5"]))
  params = codec.init_params(jax.random.key(0), cfg.codec, packing)
  before = checkpoint.fingerprint(copy)
  again = dict(layout=packing.layout, cfg=cfg, stage="mapping", extra={"conditions": []})
  checkpoint.export_model(copy, params, seed=0, **again)
  assert checkpoint.fingerprint(copy) == before and not (copy / "model.tmp").exists()
  checkpoint.export_model(copy, params, seed=1, **again)  # another model.json
  assert checkpoint.fingerprint(copy) != before
  checkpoint.export_model(copy, params, seed=0, **again)
  renamed = checkpoint.fingerprint(copy)
  changed = jax.tree.map(lambda a: a + 1e-3, params)  # other weights
  checkpoint.export_model(copy, changed, seed=0, **again)
  assert checkpoint.fingerprint(copy) != renamed
  y = [[0.5, -0.5]]  # and the new weights are the ones served
  assert not np.allclose(emojax.load(copy).map_labels(y, "va", "be5"),
                         emojax.load(untrained_stage1).map_labels(y, "va", "be5"))


# ---------------------------------------------------------------------- exports carry one id

def _export(capsys, words, path, *items):
  status, out, err = run(capsys, "export", "--model", str(words), *items, "--output", str(path))
  assert status == 0, err
  return out


def test_parts_of_different_exports_are_refused(words, tmp_path, capsys):
  """A .npy of one export beside the index of another of the same length returned wrong items with
  plausible scores; now refused naming the files."""
  a, b = tmp_path / "a.npy", tmp_path / "b.npy"
  _export(capsys, words, a, "happy", "funeral", "war")
  _export(capsys, words, b, "snake", "joy", "table")
  assert retrieval.load_index(a).embeddings.shape == (3, 100)
  meta = json.loads((tmp_path / "a.index.json").read_text())
  assert len(meta["export_id"]) == 32 and set(meta["parts"]) == {"npy", "csv"}
  shutil.copy(b, a)
  with pytest.raises(ValueError, match=r"a\.npy does not belong to .*a\.index\.json"):
    retrieval.load_index(a)
  _export(capsys, words, a, "happy", "funeral", "war")
  shutil.copy(tmp_path / "b.index.csv", tmp_path / "a.index.csv")
  with pytest.raises(ValueError, match=r"a\.index\.csv does not belong to"):
    retrieval.load_index(a)
  status, _, err = run(capsys, "retrieve", "--index", str(a), "--label", "be5:joy=1")
  assert status == 2 and "does not belong to" in err


def test_a_flipped_byte_in_any_part_of_an_export_is_refused(words, tmp_path, capsys):
  """Fault injection: .npy (in the data and in the header), .index.json, .index.csv."""
  src = tmp_path / "src"
  src.mkdir()
  _export(capsys, words, src / "e.npy", "happy", "funeral", "war")
  for name, offset, message in [("e.npy", None, "does not belong"), ("e.npy", 10, "does not belong"),
                                ("e.index.csv", None, "does not belong"),
                                ("e.index.json", None, "is corrupted|not valid JSON|not UTF-8")]:
    copy = tmp_path / f"{name}_{offset}"
    shutil.copytree(src, copy)
    flip(copy / name, offset)
    with pytest.raises(ValueError, match=message):
      retrieval.load_index(copy / "e.npy")
  copy = tmp_path / "json_value"  # a flip that keeps the JSON valid: a digit of the count
  shutil.copytree(src, copy)
  text = (copy / "e.index.json").read_text()
  (copy / "e.index.json").write_text(text.replace('"count": 3', '"count": 2', 1))
  with pytest.raises(ValueError, match="e.index.json is corrupted"):
    retrieval.load_index(copy / "e.npy")


def test_an_index_from_before_checksums_loads_with_a_warning(words, tmp_path, capsys):
  _export(capsys, words, tmp_path / "v1.npy", "happy", "war")
  meta = json.loads((tmp_path / "v1.index.json").read_text())
  for key in ("export_id", "parts", "meta_sha256"):
    del meta[key]
  (tmp_path / "v1.index.json").write_text(json.dumps({**meta, "emojax_index": 1}))
  with pytest.warns(UserWarning, match="version 1 \\(no checksums\\)"):
    assert retrieval.load_index(tmp_path / "v1.npy").embeddings.shape == (2, 100)


def test_an_all_oov_export_writes_nothing(words, tmp_path, capsys):
  status, _, err = run(capsys, "export", "--model", str(words), "qqxzzv", "xqzzyv", "--oov=skip",
                       "--output", str(tmp_path / "x.npy"))
  assert status == 2 and "nothing to write" in err and "Traceback" not in err
  assert list(tmp_path.iterdir()) == []
  with pytest.raises(ValueError, match="nothing to write"):
    predict.write_embeddings(tmp_path / "y.npy", predict.Items([], [], "none", "text"), emojax.load(words),
                             np.zeros((0, 100), np.float32))
  assert list(tmp_path.iterdir()) == []


def test_output_suffix_in_capitals_writes_the_name_given(words, tmp_path, capsys):
  """`--output e.NPY` wrote e.NPY.npy and reported e.NPY; now the suffix is matched in any case and
  the files are e.NPY, e.index.json, e.index.csv, as reported."""
  out = _export(capsys, words, tmp_path / "e.NPY", "happy", "war")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["e.NPY", "e.index.csv", "e.index.json"]
  assert str(tmp_path / "e.NPY") in out
  assert retrieval.load_index(tmp_path / "e.NPY").embeddings.shape == (2, 100)


def test_an_interrupted_export_leaves_the_old_one_whole(words, tmp_path, capsys, monkeypatch):
  path = tmp_path / "e.npy"
  _export(capsys, words, path, "happy", "funeral", "war")
  before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

  def disk_full(*args, **kwargs):  # the write stops half-way, as a full disk or a kill would stop it
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(csv.DictWriter, "writerows", disk_full)
  with pytest.raises(OSError, match="No space left"):
    run(capsys, "export", "--model", str(words), "snake", "joy", "table", "--output", str(path))
  assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary file left
  assert len(retrieval.load_index(path).items) == 3


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
  """A bad --output was found after loading the model and embedding everything (a traceback for
  /proc/x.csv or a folder named x.csv); now it is the first error, even before a missing model."""
  folder = tmp_path / "x.csv"
  folder.mkdir()
  missing = str(tmp_path / "no_model")
  for output, message in [(str(folder), "is a folder"), ("/proc/x.csv", "cannot write in /proc"),
                          (str(tmp_path / "f.txt" / "x.csv"), "is a file, not a folder"),
                          (str(tmp_path / "x.xlsx"), "unknown file type")]:
    if output.endswith("f.txt/x.csv"):
      (tmp_path / "f.txt").write_text("a file")
    status, _, err = run(capsys, "--model", missing, "happy", "--output", output)
    assert status == 2 and message in err and "does not exist" not in err, (output, err)
  (tmp_path / "e.index.json").mkdir()  # a part of an export in the way
  status, _, err = run(capsys, "export", "--model", missing, "happy", "--output", str(tmp_path / "e.npy"))
  assert status == 2 and "e.index.json is a folder" in err


# -------------------------------------------------------------------------------------- guards

def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
  big = tmp_path / "big.txt"
  big.write_bytes(b"happy\n" * 1000)
  monkeypatch.setenv("EMOJAX_MAX_FILE_BYTES", "5000")
  with pytest.raises(ValueError, match="is 6,000 bytes, over the limit of 5,000"):
    predict.read_items("words", file=str(big))


def test_a_long_line_or_a_file_of_nul_bytes_is_refused_with_a_short_message(tmp_path):
  nul = tmp_path / "nul.txt"
  nul.write_bytes(b"\0" * 2_000_000)  # one 2 MB "line"
  with pytest.raises(ValueError, match="line 1 is longer than 100,000 characters") as err:
    predict.read_items("words", file=str(nul))
  assert len(str(err.value)) < 250
  nuls = tmp_path / "nuls.txt"
  nuls.write_bytes(b"happy\n" + b"\0" * 300 + b"\n")
  with pytest.raises(ValueError, match="line 2 holds NUL characters") as err:
    predict.read_items("words", file=str(nuls))
  assert len(str(err.value)) < 250


def test_error_messages_quote_at_most_80_characters_of_an_item(model, capsys, words):
  long = "x" * 50_000
  with pytest.raises(ValueError, match="out of vocabulary") as err:
    model.embed(["happy", long])
  assert len(str(err.value)) < 300 and "50,000 characters" in str(err.value)
  status, _, stderr = run(capsys, "--model", str(words), "happy", long)
  assert status == 2 and len(stderr) < 400


def test_labels_are_mapped_in_chunks_with_the_same_results(untrained_stage1, monkeypatch):
  """map_labels on 2.2 M rows padded them to 4 M rows at once (6.5 GB); now chunks of CHUNK_ROWS,
  each padded to a power of two up to CHUNK_ROWS, give the same numbers."""
  m = emojax.load(untrained_stage1)
  y = np.random.default_rng(0).uniform(-1, 1, (1000, 2)).astype(np.float32)
  whole = m.map_labels(y, "va", "be5")
  sizes = []
  padded_size = api.padded_size
  monkeypatch.setattr(api, "padded_size", lambda n: sizes.append(n) or padded_size(n))
  monkeypatch.setattr(api, "CHUNK_ROWS", 64)
  chunked = m.map_labels(y, "va", "be5")
  np.testing.assert_allclose(chunked, whole, atol=1e-6)
  assert max(sizes) == 64 and len(sizes) == 2 * 16  # 16 chunks, encoder and head
  np.testing.assert_allclose(m.embed_labels(y, "va"),
                             np.concatenate([m.embed_labels(y[s:s + 100], "va") for s in range(0, 1000, 100)]),
                             atol=1e-6)
  monkeypatch.undo()  # the real chunk size on 10,000 rows (3 chunks) against slices of 1,000
  big = np.random.default_rng(1).uniform(-1, 1, (10_000, 2)).astype(np.float32)
  np.testing.assert_allclose(m.map_labels(big, "va", "be5"),
                             np.concatenate([m.map_labels(big[s:s + 1000], "va", "be5")
                                             for s in range(0, 10_000, 1000)]), atol=1e-6)


def test_words_are_embedded_in_chunks_with_the_same_results(model, monkeypatch):
  words = predict.dataset_items("schmidtke_vad").inputs[:300]
  whole = model.embed(words, aggregate="lexicon", oov="nan")
  monkeypatch.setattr(api, "CHUNK_ROWS", 64)
  np.testing.assert_allclose(model.embed(words, aggregate="lexicon", oov="nan"), whole, atol=1e-6)
  with pytest.raises(ValueError, match="item 130 is an empty string"):  # indices count across chunks
    model.embed(["happy"] * 130 + [" "])


# ---------------------------------------------------------------------------- inputs as meant

def test_a_headerless_words_file_keeps_its_first_word(tmp_path):
  plain = tmp_path / "words.csv"
  plain.write_text("happy\nfuneral\nwar\n", encoding="utf-8")
  assert predict.read_items("words", file=str(plain)).inputs == ["happy", "funeral", "war"]
  assert predict.read_items("words", file=str(plain), header=True).inputs == ["funeral", "war"]
  headed = tmp_path / "headed.csv"
  headed.write_text("word\nhappy\nwar\n", encoding="utf-8")
  assert predict.read_items("words", file=str(headed)).inputs == ["happy", "war"]
  assert predict.read_items("words", file=str(headed), header=False).inputs == ["word", "happy", "war"]
  two = tmp_path / "two.csv"
  two.write_text("happy,1\nwar,2\n", encoding="utf-8")
  assert predict.read_items("words", file=str(two)).inputs == ["happy", "war"]
  assert predict.read_items("words", file=str(two), column="2").inputs == ["1", "2"]
  lines = tmp_path / "lines.txt"
  lines.write_text("word\nhappy\n", encoding="utf-8")
  assert predict.read_items("words", file=str(lines), header=True).inputs == ["happy"]


def test_header_options_on_the_command_line(words, tmp_path, capsys):
  plain = tmp_path / "words.csv"
  plain.write_text("happy\nwar\n", encoding="utf-8")
  status, out, _ = run(capsys, "--model", str(words), "--file", str(plain))
  assert status == 0 and [line.split()[0] for line in out.splitlines()[3:]] == ["happy", "war"]
  status, out, _ = run(capsys, "--model", str(words), "--file", str(plain), "--header")
  assert status == 0 and [line.split()[0] for line in out.splitlines()[3:]] == ["war"]


def test_tab_separated_lines_are_a_table_not_one_text(tmp_path):
  """`happy<TAB>1` in a .txt file was the text "happy 1"; now a tab in the first line makes a TSV."""
  tsv = tmp_path / "words.txt"
  tsv.write_text("happy\t1\nwar\t2\n", encoding="utf-8")
  assert predict.file_kind(tsv) == "tsv"
  assert predict.read_items("words", file=str(tsv)).inputs == ["happy", "war"]
  headed = tmp_path / "words.tsv"
  headed.write_text("score\tword\n1\thappy\n", encoding="utf-8")
  assert predict.read_items("words", file=str(headed), column="word").inputs == ["happy"]
  plain = tmp_path / "texts.txt"
  plain.write_text("I am happy, really\nwar\n", encoding="utf-8")  # commas: still lines
  assert predict.read_items("texts", file=str(plain)).inputs == ["I am happy, really", "war"]


def test_invisible_characters_and_compatibility_forms_are_normalised(model):
  """A soft hyphen inside a word split it into fragments that were averaged (valence .0008 for
  "hap\\u00adpy" instead of .49)."""
  happy = model.predict_array(["happy"], "vad")
  for variant in ["hap\u00adpy", "ha\u200dppy", "\ufeffhappy", "hap\u200bpy", "ｈａｐｐｙ"]:
    np.testing.assert_array_equal(model.predict_array([variant], "vad"), happy, err_msg=repr(variant))
  with pytest.raises(ValueError, match="holds only invisible characters"):
    model.embed(["\u200b\u00ad"])


def test_a_multi_word_item_to_a_words_model_is_refused_or_aggregated_on_request(model, words, capsys):
  """"xqzzyv happy" was read as "happy"."""
  with pytest.raises(ValueError, match=r'2 words.*words model.*emojax.load\("texts"\)'):
    model.embed(["happy", "xqzzyv happy"])
  assert np.isnan(model.embed(["xqzzyv happy"], aggregate="mean", oov="nan")).all()
  with pytest.raises(ValueError, match="out of vocabulary"):
    model.embed(["xqzzyv happy"], aggregate="mean")
  both = model.embed(["happy war"], aggregate="mean")  # every word known: the mean of their vectors
  from emojax.encoders import word_encoder, word_vectors
  name = model.content_meta["feature"]["vectors"]  # e.g. glove50+minilm_l4: MiniLM reads the phrase
  x, _ = word_vectors.load_word_vectors(word_encoder.vector_part(name)).lookup(["happy", "war"])
  features = word_encoder.complete(name, ["happy war"], x.mean(0, keepdims=True), np.ones(1, bool))
  np.testing.assert_allclose(both, model.embed_features(features), atol=1e-5)
  status, _, err = run(capsys, "--model", str(words), "xqzzyv happy")
  assert status == 2 and "--model checkpoints/texts" in err and "--aggregate=mean" in err
  status, _, _ = run(capsys, "--model", str(words), "happy war", "--aggregate", "mean")
  assert status == 0


def test_a_dataframe_is_read_by_column_name(untrained_stage1):
  m = emojax.load(untrained_stage1)
  y = np.array([[0.8, -0.3], [-0.5, 0.6]], np.float32)  # valence, arousal
  swapped = pd.DataFrame({"arousal": y[:, 1], "valence": y[:, 0]})
  np.testing.assert_array_equal(m.map_labels(swapped, "va", "be5"), m.map_labels(y, "va", "be5"))
  with pytest.raises(ValueError, match=r"unknown column\(s\) \['pleasure'\]"):
    m.map_labels(pd.DataFrame({"pleasure": y[:, 0], "arousal": y[:, 1]}), "va", "be5")
  with pytest.raises(ValueError, match=r"missing \['arousal'\]"):
    m.embed_labels(pd.DataFrame({"valence": y[:, 0]}), "va")
