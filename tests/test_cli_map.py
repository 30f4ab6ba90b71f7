"""`emojax map`: labels translated from one format to others through a codec, from the command line.

The tiny stage-1 model of conftest knows vad and be5; every number is checked against
`EmotionModel.map_labels`, the library function the command stands for."""

import csv

import numpy as np
import pytest

import emojax
from conftest import run_cli


@pytest.fixture(scope="module")
def codec(tiny_stage1):
  return emojax.load(tiny_stage1)


def test_arguments_negative_values_included_map_in_order(capsys, tiny_stage1, codec):
  status, out, err = run_cli(capsys, "map", "-0.6,0.4,0.1", "0.8,0.3,-0.2", "--from", "vad",
                             "--to", "be5", "--model", str(tiny_stage1))
  assert status == 0, err
  rows = [line for line in out.splitlines() if line.startswith(("-0.6,0.4,0.1", "0.8,0.3,-0.2"))]
  assert [r.split("|")[0].strip() for r in rows] == ["-0.6,0.4,0.1", "0.8,0.3,-0.2"]
  expected = codec.map_labels(np.array([[-0.6, 0.4, 0.1], [0.8, 0.3, -0.2]], np.float32), "vad", "be5")
  shown = np.array([[float(v) for v in r.split("|")[1].split()] for r in rows])
  np.testing.assert_allclose(shown, expected, atol=5e-4)  # the table shows 3 decimals


def test_a_file_is_read_by_column_name_and_written_whole(capsys, tmp_path, tiny_stage1, codec):
  source = tmp_path / "ratings.csv"
  source.write_text("id,dominance,arousal,valence\nw1,0.1,0.4,-0.6\nw2,-0.2,0.3,0.8\n")
  out_path = tmp_path / "mapped.csv"
  status, _, err = run_cli(capsys, "map", "--file", str(source), "--from", "vad", "--to", "be5",
                           "--model", str(tiny_stage1), "--output", str(out_path))
  assert status == 0, err
  rows = list(csv.reader(out_path.open()))
  assert rows[0] == ["id"] + [f"be5:{v}" for v in codec.formats["be5"].variables]
  assert [r[0] for r in rows[1:]] == ["w1", "w2"]
  expected = codec.map_labels(np.array([[-0.6, 0.4, 0.1], [0.8, 0.3, -0.2]], np.float32), "vad", "be5")
  np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in rows[1:]]), expected, atol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["0.8,x,0.1", "--from", "vad", "--to", "be5"], "is not a comma-separated list of numbers"),
    (["0.8,0.3,0.1", "--from", "vad", "--to", "nope"], "unknown label format 'nope'"),
    (["0.8,0.3", "--from", "vad", "--to", "be5"], "has 3 variables"),
    (["--from", "vad", "--to", "be5"], "no labels"),
])
def test_bad_labels_are_one_line_errors(capsys, tiny_stage1, argv, message):
  status, _, err = run_cli(capsys, "map", *argv, "--model", str(tiny_stage1))
  assert status == 2 and message in err and "Traceback" not in err, err
