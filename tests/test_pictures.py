"""`emojax plot`: each picture is a PNG of its fixed size; labels never overlap; tied rows pair up as
the formats declare."""

from __future__ import annotations

import itertools
import struct

import numpy as np

import emojax
from emojax import cli, formats, pictures


def png_size(path) -> tuple[int, int]:
  data = path.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
  return struct.unpack(">II", data[16:24])


def plot(*argv: str) -> int:
  return cli.run(cli.parse(["plot", *argv]))


def expected(inches) -> tuple[int, int]:
  return round(inches[0] * pictures.DPI), round(inches[1] * pictures.DPI)


def test_place_labels_crowded_boxes_never_overlap():
  rng = np.random.default_rng(0)
  anchors = 300 + rng.normal(0, 3, (25, 2))  # 25 labels on nearly one point
  sizes = np.stack([rng.uniform(20, 90, 25), np.full(25, 14.0)], 1)
  boxes = pictures.place_labels(anchors, sizes, radius=5.0, bounds=(0, 0, 600, 600), pad=2.0)
  assert boxes.shape == (25, 4) and np.isfinite(boxes).all()
  np.testing.assert_allclose(boxes[:, 2:] - boxes[:, :2], sizes)  # each box keeps its label's size
  for a, b in itertools.combinations(range(25), 2):
    assert not pictures.boxes_overlap(boxes[a], boxes[b:b + 1])[0], (a, b, boxes[a], boxes[b])
  # No box covers a point: the nearest point of every box is at least the marker radius away.
  near = np.clip(anchors[None], boxes[:, None, :2], boxes[:, None, 2:])
  assert (np.linalg.norm(near - anchors[None], axis=-1) >= 5.0).all()
  assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 600).all()
  np.testing.assert_array_equal(boxes, pictures.place_labels(anchors, sizes, radius=5.0,
                                                             bounds=(0, 0, 600, 600), pad=2.0))


def declared_classes(layout: formats.HeadLayout) -> list[tuple[int, ...]]:
  rows: dict[str, list[int]] = {}
  for f in layout.formats:
    for k, concept in enumerate(layout.format(f).concepts):
      rows.setdefault(concept, []).append(layout.rows(f).start + k)
  return sorted(tuple(r) for r in rows.values() if len(r) > 1)


def test_tied_groups_are_the_declared_equivalence_classes():
  codec = emojax.load("codec")
  groups = pictures.tied_groups(codec.layout)
  assert groups == declared_classes(codec.layout)
  names = codec.layout.row_names()
  assert ("va:valence", "vad:valence") in [tuple(names[r] for r in g) for g in groups]
  assert ("be5:joy", "be6:joy") in [tuple(names[r] for r in g) for g in groups]
  assert not any(names[r] in ("vad:dominance", "be6:surprise") for g in groups for r in g)
  # Three formats sharing a concept give one group of three, not three pairs.
  layout = formats.head_layout(["be5", "be6", "isear7", "va"])
  assert pictures.tied_groups(layout) == declared_classes(layout)
  assert (layout.rows("be5").start, layout.rows("be6").start, layout.rows("isear7").start) in \
      pictures.tied_groups(layout)


def test_shorten_wraps_and_cuts():
  assert pictures.shorten("war") == "war"
  text = pictures.shorten("I lost my job today and my dog died and then it rained all week", 24)
  assert text.count("\n") == 1 and text.endswith("\u2026")
  assert all(len(line) <= 24 for line in text.split("\n"))


def test_plot_heads_and_overview(tiny_stage1, tmp_path):
  out = tmp_path / "pics" / "heads.png"
  assert plot("heads", "--model", str(tiny_stage1), "--output", str(out)) == 0
  assert png_size(out) == expected(pictures.HEADS_INCHES)
  assert plot("heads", "--model", str(tiny_stage1), "--color", "vad:valence",
              "--output", str(tmp_path / "c.png")) == 0
  assert png_size(tmp_path / "c.png") == expected(pictures.HEADS_INCHES)
  assert plot("overview", "--output", str(tmp_path / "o.png")) == 0
  assert png_size(tmp_path / "o.png") == expected(pictures.OVERVIEW_INCHES)
  assert not list(tmp_path.rglob("*.partial"))


def test_plot_predictions_words(tmp_path, capsys):
  out = tmp_path / "words.png"
  assert plot("predictions", "--model", "words", "happy", "funeral", "war", "--output", str(out)) == 0
  assert png_size(out) == expected(pictures.PREDICTIONS_INCHES)
  assert plot("predictions", "--model", "words", "--output", str(tmp_path / "d.png")) == 0  # defaults
  assert png_size(tmp_path / "d.png") == expected(pictures.PREDICTIONS_INCHES)
  # A codec has no items to place; a wrong file type is refused before any work.
  assert plot("predictions", "--model", "codec", "--output", str(tmp_path / "x.png")) == 2
  assert "stage-1 codec" in capsys.readouterr().err
  assert plot("heads", "--output", str(tmp_path / "x.jpg")) == 2
  assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.jpg").exists()



def test_the_colour_is_the_calibrated_strongest_emotion_where_the_model_ships_one(tiny_words_model):
  """The shipped texts model (trained through be5, calibration.json beside it) colours by the
  calibrated reading that `strongest_emotion` gives; a model without a calibration.json by the
  largest raw value, computing no statistics."""
  texts = emojax.load("texts")
  items = ["I am so scared of the dark", "Tax rates rise again", "What a wonderful surprise party!"]
  be5 = texts.predict_array(items, "be5")
  colours, reading = pictures.strongest_be5(texts, be5)
  assert reading == "calibrated" and colours == list(texts.strongest_emotion(items, fmt="be5"))
  assert colours != [formats.BE5[k] for k in be5.argmax(1)]  # the two readings differ on these
  raw = np.eye(5)[[3, 0]] * 0.5
  assert pictures.strongest_be5(tiny_words_model, raw) == (["fear", "joy"], "largest raw value")
