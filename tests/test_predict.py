"""Using a model: launch/predict.py end to end on the tiny words model (table, CSV, JSON, all
formats, embed/export, retrieval with label and word queries, a model of another stage-1 checkpoint
refused), the bad-input errors, label queries, and the pieces of the one-command pipeline."""

import csv
import json
import re
import shutil

import numpy as np
import pytest

import emojax
from emojax import checkpoint, formats, predict, report, retrieval
from conftest import ROOT, launch, launcher_module, run_cli

WORDS = ["happy", "funeral", "war"]


def run(capsys, *argv):
  return run_cli(capsys, *argv)


@pytest.fixture(scope="module")
def words(tiny_words):
  return tiny_words[0]


@pytest.fixture(scope="module")
def model(tiny_words_model):
  return tiny_words_model


# ------------------------------------------------------------------------------------- predict

def test_terminal_table_from_the_real_launcher(words, model):
  proc = launch("launch/predict.py", "--model", str(words), *WORDS, "--format", "all", timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert [g.strip() for g in lines[0].split("|")[1:]] == ["vad", "be5"]
  assert lines[1].split() == ["item", "|", "valence", "arousal", "dominance", "|", "joy", "anger",
                              "sadness", "fear", "disgust"]
  vad, be5 = model.predict_array(WORDS, "vad"), model.predict_array(WORDS, "be5")
  assert len(lines) == 3 + len(WORDS)  # the zip below must see every row
  for word, line, v, b in zip(WORDS, lines[3:], vad, be5, strict=True):
    cells = line.replace("|", " ").split()
    assert cells[0] == word
    np.testing.assert_allclose([float(c) for c in cells[1:]], np.concatenate([v, b]), atol=6e-4)


def test_predict_to_csv_and_json_from_files(model, words, tmp_path, capsys):
  lines = tmp_path / "words.txt"
  lines.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
  status, out, _ = run(capsys, "--model", str(words), "--file", str(lines), "--output",
                       str(tmp_path / "p.csv"), "--format", "vad,be5")
  assert status == 0 and "3 item(s)" in out
  rows = list(csv.DictReader((tmp_path / "p.csv").open(encoding="utf-8")))
  assert [r["id"] for r in rows] == WORDS and list(rows[0])[1:4] == ["vad:valence", "vad:arousal", "vad:dominance"]
  np.testing.assert_allclose([[float(r[f"be5:{v}"]) for v in emojax.get_format("be5").variables] for r in rows],
                             model.predict_array(WORDS, "be5"), atol=1e-5)
  table = tmp_path / "table.csv"  # CSV input: one column named, ids from the items
  table.write_text('note,word\n"a, b",happy\nc,war\n', encoding="utf-8")
  status, _, _ = run(capsys, "--model", str(words), "--file", str(table), "--column", "word",
                     "--output", str(tmp_path / "p.json"))  # default format: the encoder's (vad)
  assert status == 0
  record = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
  assert [r["id"] for r in record["items"]] == ["happy", "war"]
  assert list(record["items"][1]["predictions"]) == ["vad"]
  np.testing.assert_allclose(list(record["items"][1]["predictions"]["vad"].values()),
                             model.predict_array(["war"], "vad")[0], atol=1e-5)


def test_out_of_vocabulary_words(words, capsys):
  status, _, err = run(capsys, "--model", str(words), "happy", "qqxzzv")
  assert status == 2 and "qqxzzv" in err and "out of vocabulary" in err and "--oov=skip" in err
  status, out, _ = run(capsys, "--model", str(words), "happy", "qqxzzv", "--oov=nan")
  assert status == 0 and out.splitlines()[-1].replace("|", "").strip() == "qqxzzv"  # an empty row
  status, out, _ = run(capsys, "--model", str(words), "happy", "qqxzzv", "--oov=skip")
  assert status == 0 and "qqxzzv" not in out and len(out.splitlines()) == 4


def by_hand(model, words, fmt):
  """A words prediction recomputed with numpy from the saved parameters: the word vectors, the
  encoder MLP (Dense -> LeakyReLU per hidden layer, then Dense "embed"; no dropout when serving)
  and the format's head rows of the stage-1 bank (a bias-free linear map)."""
  from emojax.encoders import word_encoder, word_vectors
  name = model.content_meta["feature"]["vectors"]  # "glove50+minilm_l4": GloVe, then MiniLM layer 4
  x, found = word_vectors.load_word_vectors(word_encoder.vector_part(name)).lookup(words)
  assert found.all()
  x = word_encoder.complete(name, words, x, found)  # the sentence-encoder part (MiniLM) appended
  p = {k: {n: np.asarray(a, np.float64) for n, a in v.items()} for k, v in model.encoder_params.items()}
  cfg = model.content_config.encoder
  h = x.astype(np.float64)
  for i in range(len(cfg.hidden)):
    z = h @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"]
    h = np.where(z > 0, z, cfg.leaky_slope * z)
  e = h @ p["embed"]["kernel"] + p["embed"]["bias"]
  declared = model.meta["declarations"]  # head rows: the formats' variables, in model.json's order
  start = sum(len(declared[f]["variables"]) for f in model.meta["formats"][:model.meta["formats"].index(fmt)])
  rows = np.asarray(model.params["bank"], np.float64)[start:start + len(declared[fmt]["variables"])]
  return e, e @ rows.T


def test_a_words_prediction_recomputed_by_hand(model):
  """Not `decode_embeddings(embed(x))` (the identity predict is built from): the network applied
  with numpy from the restored parameters gives the same numbers, for each format."""
  assert model.content_config.encoder.hidden == (256, 128)  # the words encoder of docs/method.md
  for fmt in ("vad", "be5"):
    e, want = by_hand(model, WORDS, fmt)
    np.testing.assert_allclose(model.embed(WORDS), e, atol=2e-5)
    np.testing.assert_allclose(model.predict_array(WORDS, fmt), want, atol=2e-5)
  assert model.packing.index("be5") == 1 and model.meta["formats"] == ["vad", "be5"]


# -------------------------------------------------------------------------------- embed, export

def test_export_writes_npy_and_index(model, words, tmp_path, capsys):
  status, out, _ = run(capsys, "export", "--model", str(words), "--dataset", "schmidtke_vad",
                       "--output", str(tmp_path / "de.npy"))
  assert status == 0 and "de.index.json" in out
  e = np.load(tmp_path / "de.npy")
  index = json.loads((tmp_path / "de.index.json").read_text(encoding="utf-8"))
  assert e.shape == (index["count"], 100) and index["count"] == len(index["items"]) == 325
  assert index["stage1"]["fingerprint"] == checkpoint.fingerprint(model.stage1.workdir)
  assert index["modality"] == "words" and index["source"] == "schmidtke_vad"
  items = index["items"]
  assert [i["row"] for i in items] == list(range(len(items)))
  np.testing.assert_allclose(e[[5, 300]], model.embed([items[5]["text"], items[300]["text"]], aggregate="lexicon"),
                             atol=1e-5)
  rows = list(csv.DictReader((tmp_path / "de.index.csv").open(encoding="utf-8")))
  assert [r["id"] for r in rows] == [i["id"] for i in items] and list(rows[0]) == ["row", "id", "text"]
  # embed: the same into one CSV or JSON file
  status, _, _ = run(capsys, "embed", "--model", str(words), *WORDS, "--output", str(tmp_path / "e.csv"))
  rows = list(csv.reader((tmp_path / "e.csv").open(encoding="utf-8")))
  assert rows[0][:2] == ["id", "e0"] and len(rows[0]) == 101 and [r[0] for r in rows[1:]] == WORDS
  np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], float), model.embed(WORDS), atol=1e-6)
  status, _, _ = run(capsys, "embed", "--model", str(words), *WORDS, "--output", str(tmp_path / "e.json"))
  got = json.loads((tmp_path / "e.json").read_text())["items"]
  np.testing.assert_allclose([g["embedding"] for g in got], model.embed(WORDS), atol=1e-5)


# ------------------------------------------------------------------------------------ retrieval

def test_label_queries_parse_with_neutral_defaults(model):
  name, v = retrieval.parse_label("vad:valence=1,arousal=0.5", model)
  assert name == "vad" and v.tolist() == [[1.0, 0.5, 0.0]]
  assert retrieval.parse_label(" be5 : fear = 1 ", model)[1].tolist() == [[0, 0, 0, 1, 0]]
  assert retrieval.neutral_value(emojax.get_format("vad")) == 0.0  # middle of [-1, 1]
  assert retrieval.neutral_value(emojax.get_format("be5")) == 0.0  # "absent" in [0, 1]
  for query, message in [("be5:fear", "FORMAT:VARIABLE=VALUE"), ("va:valence=1", "unknown label format 'va'"),
                         ("be5:surprise=1", "no variable 'surprise'"), ("be5:fear=lots", "not a number"),
                         ("vad:valence=2", r"outside the canonical range \[-1, 1\]"),
                         ("be5:fear=1,fear=0", "given twice"), ("be5:fear=1,,", "is not VARIABLE=VALUE")]:
    with pytest.raises(ValueError, match=message):
      retrieval.parse_label(query, model)


@pytest.fixture(scope="module")
def collection(words, tmp_path_factory):
  """The Briesemeister words embedded by the tiny model: an index to search."""
  path = tmp_path_factory.mktemp("collection") / "be5_words.npy"
  items = predict.dataset_items("briesemeister_be5")
  m = emojax.load(words)
  e, items = predict.embed_items(m, items, show_progress=False)
  predict.write_embeddings(path, items, m, e)
  return path


def test_retrieve_label_and_word_queries(model, words, collection, tmp_path, capsys):
  index = retrieval.load_index(collection)
  status, out, _ = run(capsys, "retrieve", "--index", str(collection), "--label", "be5:fear=1", "-k", "3",
                       "--space", "full")
  assert status == 0 and "query: be5:fear=1" in out
  q = model.embed_labels([[0, 0, 0, 1, 0]], "be5")[0]  # by brute force
  cos = index.embeddings @ q / np.linalg.norm(index.embeddings, axis=1) / np.linalg.norm(q)
  want = np.argsort(-cos)[:3]
  shown = out.splitlines()[-3:]
  assert out.splitlines()[-4].split() == ["rank", "cosine", "item"]  # exactly 3 result rows
  for line, row in zip(shown, want, strict=True):
    rank, c, item = line.split(None, 2)
    assert item.startswith(index.items[row]["id"]) and abs(float(c) - cos[row]) < 6e-4
  status, _, _ = run(capsys, "retrieve", "--index", str(collection), "--model", str(words), "snake",
                     "--label", "vad:valence=1", "-k", "4", "--space", "full", "--output",
                     str(tmp_path / "r.json"))
  results = json.loads((tmp_path / "r.json").read_text())["results"]
  assert [(r["query"], r["rank"]) for r in results] == [(q, k) for q in ("vad:valence=1", "snake")
                                                        for k in (1, 2, 3, 4)]
  cos_snake = retrieval.nearest(index.embeddings, model.embed(["snake"]), 4)[1][0]
  np.testing.assert_allclose([r["cosine"] for r in results[4:]], cos_snake, atol=1e-6)
  status, _, _ = run(capsys, "retrieve", "--index", str(collection), "--label", "be5:joy=1",
                     "--output", str(tmp_path / "r.csv"))  # default: cosine within the head span
  rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
  assert len(rows) == 5 and list(rows[0])[:4] == ["query", "rank", "cosine", "row"]
  basis = retrieval.head_basis(model)
  assert basis.shape == (8, 100)  # rows of vad + be5, linearly independent
  p = index.embeddings @ basis.T
  qp = model.embed_labels([[1, 0, 0, 0, 0]], "be5")[0] @ basis.T
  best = np.argmax(p @ qp / np.linalg.norm(p, axis=1))
  assert int(rows[0]["row"]) == best


def test_retrieve_refuses_a_model_of_another_stage1(words, tiny_stage1, collection, tmp_path, capsys):
  """A query model trained against a different stage-1 checkpoint embeds into another space."""
  other_stage1 = tmp_path / "other_stage1"  # another model: other bytes, other fingerprint
  shutil.copytree(tiny_stage1, other_stage1)
  stage1_meta = json.loads((other_stage1 / "model.json").read_text())
  (other_stage1 / "model.json").write_text(json.dumps({**stage1_meta, "seed": 99}))
  other = tmp_path / "other_words"
  shutil.copytree(words, other, ignore=shutil.ignore_patterns("groups", "features"))
  meta = json.loads((other / "model.json").read_text())
  meta["stage1"] = {"path": str(other_stage1), "fingerprint": checkpoint.fingerprint(other_stage1)}
  (other / "model.json").write_text(json.dumps(meta))
  assert emojax.load(other).predict_array(["war"], "vad").shape == (1, 3)  # a model that works
  status, _, err = run(capsys, "retrieve", "--index", str(collection), "--model", str(other), "war")
  assert status == 2 and "different spaces" in err and str(other_stage1) in err
  status, _, err = run(capsys, "retrieve", "--index", str(collection), "--model", str(other),
                       "--label", "be5:joy=1")  # its label encoder is of the other space too
  assert status == 2 and "different spaces" in err


# ---------------------------------------------------------------------------------- bad input

def test_bad_input_is_a_clear_error(words, tiny_stage1, collection, tmp_path, capsys):
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes("happy\ncaf\xe9\n".encode("latin-1"))
  blank = tmp_path / "blank.txt"
  blank.write_text("happy\n   \nwar\n", encoding="utf-8")
  table = tmp_path / "t.csv"
  table.write_text("word,x\nhappy,1\n,2\n", encoding="utf-8")
  empty_dir = tmp_path / "no_images"
  empty_dir.mkdir()
  (empty_dir / "notes.txt").write_text("not an image")
  w = ["--model", str(words)]
  cases = [
      (w + ["happy", "--format", "xyz"], "unknown label format 'xyz'"),
      (w + ["happy", "  "], r"argument 2 \('  '\) is empty or whitespace-only"),
      (w + ["--file", str(latin1)], f"{latin1} is not UTF-8 text: byte 0xe9 at byte offset 9 \\(line 2\\)"),
      (w + ["--file", str(blank)], f"{blank}, line 2 is empty or whitespace-only"),
      (w + ["--file", str(table), "--column", "words"], r"no column 'words'; its columns are \['word', 'x'\]"),
      (w + ["--file", str(table)], "say which holds the items with --column"),
      (w + ["--file", str(table), "--column", "word"], f"{table}, line 3, column 'word' is empty"),
      (w + ["--file", str(tmp_path / "gone.txt")], "gone.txt does not exist"),
      (w + ["--images", str(empty_dir)], "reads words, not images"),
      (w + ["--dataset", "bass"], "dataset 'bass' holds images"),
      (w + ["--dataset", "nope"], "unknown dataset 'nope'"),
      (w + [], "no items given"),
      (w + ["happy", "--file", str(blank)], "give the items one way"),
      (w + ["happy", "--output", str(tmp_path / "p.xlsx")], "unknown file type '.xlsx'"),
      (["--model", str(tmp_path / "missing"), "happy"], "does not exist; train one"),
      (["--model", str(tmp_path), "happy"], "holds no exported model"),
      (["--model", str(tiny_stage1), "happy"], "is a stage-1 codec"),
      (["export", *w, "happy", "--output", str(tmp_path / "x.csv")], "an export is a .npy file"),
      (["retrieve", "--index", str(tmp_path / "none.npy"), "--label", "be5:joy=1"], "none.npy does not exist"),
      (["retrieve", "--index", str(collection), "war"], "need --model"),
      (["retrieve", "--index", str(collection), "be5:joy=1"], "pass it as --label be5:joy=1"),
      (["retrieve", "--index", str(collection)], "no query"),
      (["retrieve", "--index", str(collection), "--label", "be5:joy"], "FORMAT:VARIABLE=VALUE"),
  ]
  for argv, message in cases:
    status, out, err = run(capsys, *argv)
    assert status == 2 and err.startswith("error: ") and "Traceback" not in err, (argv, err)
    assert re.search(message, err), (argv, err)
  with pytest.raises(ValueError, match="holds no image files"):
    predict.image_folder(empty_dir)


def test_image_folder_lists_images_by_name(tmp_path):
  for name in ("b.PNG", "a.jpg", "c.txt"):
    (tmp_path / name).write_bytes(b"x")
  (tmp_path / "sub.png").mkdir()
  items = predict.image_folder(tmp_path)
  assert items.ids == ["a.jpg", "b.PNG"] and items.kind == "image"
  assert items.records()[1] == {"row": 1, "id": "b.PNG", "path": str(tmp_path / "b.PNG")}
  assert predict.read_items("images", values=[str(tmp_path)]).ids == [str(tmp_path / "a.jpg"),
                                                                     str(tmp_path / "b.PNG")]


# ------------------------------------------------------------------------------------ pipeline

def test_pipeline_summary_and_launcher_pieces(tiny_stage1, words):
  text = report.pipeline_summary(tiny_stage1, words)
  mapping = json.loads((tiny_stage1 / "results.json").read_text())
  content = json.loads((words / "results.json").read_text())
  assert f"codec test r {mapping['codec']['test']['mean']['mean']:.3f}" in text
  for cond, stat in content["means"].items():
    if stat:
      assert f"{cond} {stat['mean']:.3f}" in text
  assert text.count("paper's finding") == 3 and "results.md" in text
  assert "launch/pipeline.py" in (ROOT / "run.sh").read_text()
  pipeline = launcher_module("launch/pipeline.py")
  model = emojax.load(words)
  found = np.isfinite(model.embed(list(pipeline.EXAMPLE_WORDS), oov="nan")).all(1)
  assert found.all()  # the examples the pipeline prints all have vectors


# ------------------------------------------------------------------------------ format registry

def test_a_loaded_model_carries_its_formats_and_leaves_the_registry_alone(tiny_stage1, tmp_path):
  """A model whose model.json declares a format this installation lacks ("mood", declared as vad
  is) loads with it, maps through it as through vad, and the global registry stays as it was."""
  copy = tmp_path / "renamed"
  shutil.copytree(tiny_stage1, copy)
  meta = json.loads((copy / "model.json").read_text())
  assert "mood" not in formats.FORMATS and "vad" in meta["formats"]
  meta["formats"] = ["mood" if f == "vad" else f for f in meta["formats"]]
  meta["declarations"]["mood"] = meta["declarations"].pop("vad")
  (copy / "model.json").write_text(json.dumps(meta))
  registry = dict(formats.FORMATS)
  renamed, original = emojax.load(copy), emojax.load(tiny_stage1)
  assert formats.FORMATS == registry
  assert list(renamed.formats) == meta["formats"] and renamed.formats["mood"].variables == (
      "valence", "arousal", "dominance")
  y = [[0.5, -0.2, 0.1], [-0.9, 0.3, 0.0]]
  np.testing.assert_array_equal(renamed.map_labels(y, "mood", "be5"), original.map_labels(y, "vad", "be5"))
  with pytest.raises(ValueError, match="unknown label format 'vad'"):
    renamed.embed_labels(y, "vad")
