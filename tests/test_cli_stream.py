"""`emojax predict --file` on a long file: streamed in chunks of --batch-size items through the
pretrained words model, written whole or not at all, bad lines named before any work.

A generated 2,000-line file (real English words of the bundled Warriner lexicon that have a GloVe
vector, in a seeded random order) gives, streamed, exactly the predictions of one
`model.predict` call on all its lines. Bounded memory is checked by counting, not by timing: when
the writer receives a chunk, the reader has read no item beyond it (nothing is collected on the
way), and the reader itself is a generator whose Python allocations do not grow with the file.
"""

import csv
import inspect
import json
import re
import tracemalloc

import numpy as np
import pytest

import emojax
from emojax import predict
from conftest import run_cli

N = 2_000
# The streaming code is the same for both words models; words_fast (MiniLM, ~1,800 new words/s
# here against ~150 for all-mpnet-base-v2) keeps this module fast.
MODEL = "words_fast"


@pytest.fixture(scope="module")
def model():
  return emojax.load(MODEL)


@pytest.fixture(scope="module")
def words_file(model, tmp_path_factory):
  """(path, lines) of a 2,000-line file of words the words model knows."""
  lexicon = [w for w in predict.dataset_items("warriner_vad").inputs if w.isalpha()][:3000]
  known = np.isfinite(model.embed(lexicon, oov="nan", progress=False)).all(1)
  words = np.asarray(lexicon, object)[known]
  lines = list(np.random.default_rng(0).choice(words, N))
  path = tmp_path_factory.mktemp("stream") / "words.txt"
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return path, lines


def test_a_long_file_streams_to_the_predictions_of_one_call(model, words_file, tmp_path, capsys):
  path, lines = words_file
  whole = model.predict(lines, formats="all", progress=False)
  status, out, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(path), "--format",
                             "all", "--batch-size", "500", "--output", str(tmp_path / "p.csv"))
  assert status == 0, err
  assert f"{N} item(s)" in out and f"predict words: {N}/{N} items" in err  # the progress line
  rows = list(csv.reader((tmp_path / "p.csv").open(encoding="utf-8")))
  assert rows[0][1:] == [c.replace(".", ":", 1) for c in whole.columns]
  assert [r[0] for r in rows[1:]] == lines
  np.testing.assert_allclose(np.asarray([r[1:] for r in rows[1:]], float), whole.to_numpy(), atol=1e-6)
  status, _, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(path), "--format",
                           "vad,be5", "--quiet", "--output", str(tmp_path / "p.json"))
  assert status == 0 and err == ""
  record = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
  assert [r["id"] for r in record["items"]] == lines and record["source"] == str(path)
  got = np.asarray([[*r["predictions"]["vad"].values(), *r["predictions"]["be5"].values()]
                    for r in record["items"]])
  columns = [c for f in ("vad", "be5") for c in whole.columns if c.startswith(f + ".")]
  np.testing.assert_allclose(got, whole[columns].to_numpy(), atol=1e-6)
  status, _, _ = run_cli(capsys, "embed", "--model", MODEL, "--file", str(path), "--batch-size",
                         "400", "--quiet", "--output", str(tmp_path / "e.npy"))
  assert status == 0
  np.testing.assert_allclose(np.load(tmp_path / "e.npy"), model.embed(lines, progress=False), atol=1e-6)
  assert emojax.retrieval.load_index(tmp_path / "e.npy").items[-1]["id"] == lines[-1]


def test_memory_holds_one_chunk(words_file, tmp_path, capsys, monkeypatch):
  """When the writer receives a chunk, the reader has read exactly the items handed on so far:
  a pipeline that collected the input (or the predictions) before writing fails this."""
  path, _ = words_file
  passes, sizes, received, ahead = [], [], [0], []  # passes: items read by each pass over the file
  item_source, write = predict.item_source, predict.write_prediction_stream

  def counted_source(*args, **kwargs):
    source = item_source(*args, **kwargs)
    assert inspect.isgenerator(source.chunks())  # a file is read lazily

    def chunks():
      passes.append(0)
      for part in source.chunks():
        passes[-1] += len(part)
        sizes.append(len(part))
        yield part
    return predict.Source(chunks, source.name)

  def counted_write(path, model, names, source, rows, *rest):
    def watch():
      for items, values in rows:
        received[0] += len(items)
        ahead.append(passes[-1] - received[0])
        yield items, values
    return write(path, model, names, source, watch(), *rest)

  monkeypatch.setattr(predict, "item_source", counted_source)
  monkeypatch.setattr(predict, "write_prediction_stream", counted_write)
  status, _, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(path), "--quiet",
                           "--batch-size", "200", "--output", str(tmp_path / "p.csv"))
  assert status == 0, err
  assert passes == [N, N]  # counted (every line checked), then embedded
  assert max(sizes) == 200 and len(ahead) == N // 200
  assert max(ahead) == 0, f"the reader ran {max(ahead)} items ahead of the writer"


def test_the_reader_is_a_generator_whose_memory_does_not_grow_with_the_file(tmp_path):
  lines = [f"word{i:07d} some longer text to make each line worth reading" for i in range(20_000)]
  big = tmp_path / "big.txt"
  big.write_text("\n".join(lines) + "\n", encoding="utf-8")
  chunks = predict.iter_file_items(big, chunk=64)
  assert inspect.isgenerator(chunks)

  def peak(run) -> int:
    tracemalloc.start()
    try:
      run()
      return tracemalloc.get_traced_memory()[1]
    finally:
      tracemalloc.stop()

  streamed = peak(lambda: max(len(part) for part in predict.iter_file_items(big, chunk=64)))
  whole = peak(lambda: predict.read_file_items(big))
  assert streamed < big.stat().st_size / 4 < whole, (streamed, whole, big.stat().st_size)


def test_bad_lines_are_named_before_any_work_and_nothing_is_written(model, words_file, tmp_path,
                                                                  capsys, monkeypatch):
  path, lines = words_file
  calls = []
  embed = type(model).embed
  monkeypatch.setattr(type(model), "embed", lambda self, *a, **k: calls.append(1) or embed(self, *a, **k))
  out = tmp_path / "p.csv"
  out.write_text("old\n")
  blank = list(lines)
  blank[1_499] = "   "
  undecodable = ("\n".join(lines[:1_998]) + "\n").encode() + b"caf\xe9\n"
  long = list(lines)
  long[1_700] = "x" * 100_001
  cases = {"blank.txt": (("\n".join(blank) + "\n").encode(), "blank.txt, line 1500 is empty"),
           "latin1.txt": (undecodable,
                          r"latin1.txt is not UTF-8 text: byte 0xe9 at byte offset \d+ \(line 1999\)"),
           "long.txt": (("\n".join(long) + "\n").encode(), "long.txt, line 1701 is 100,001 characters long")}
  for name, (data, message) in cases.items():
    (tmp_path / name).write_bytes(data)
    status, _, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(tmp_path / name),
                             "--output", str(out))
    assert status == 2 and err.startswith("error: "), err
    assert re.search(message, err), err
  assert calls == []  # every line is checked before the first chunk is embedded
  assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == sorted(
      [*cases, "p.csv"])  # the old output whole, no temporary file left


def test_an_error_in_a_late_chunk_leaves_no_output(words_file, tmp_path, capsys):
  """An out-of-vocabulary word near the end: found only when its chunk is embedded, after the
  earlier chunks were written to the temporary file; the output is still absent."""
  path, lines = words_file
  late = tmp_path / "late.txt"
  late.write_text("\n".join(lines[:1_900] + ["qqxzzv"] + lines[1_900:]) + "\n", encoding="utf-8")
  status, _, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(late), "--quiet",
                           "--batch-size", "500", "--output", str(tmp_path / "p.csv"))
  assert status == 2 and f"1 of {N + 1} items" in err and "qqxzzv" in err
  assert sorted(p.name for p in tmp_path.iterdir()) == ["late.txt"]
  status, out, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(late), "--quiet",
                             "--oov", "skip", "--output", str(tmp_path / "p.csv"))
  assert status == 0 and f"left out 1 of {N + 1}" in err and f"{N} item(s)" in out


def test_a_table_of_more_than_table_rows_items_needs_an_output(words_file, capsys, monkeypatch):
  path, lines = words_file
  monkeypatch.setattr(predict, "TABLE_ROWS", N - 1)
  status, out, err = run_cli(capsys, "predict", "--model", MODEL, "--file", str(path))
  assert status == 2 and out == "" and f"holds {N:,} items" in err and "--output" in err
  monkeypatch.setattr(predict, "TABLE_ROWS", N)
  status, out, _ = run_cli(capsys, "predict", "--model", MODEL, "--file", str(path), "--quiet")
  assert status == 0 and len(out.splitlines()) == 3 + N
