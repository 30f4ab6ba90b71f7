"""Your own data without editing the library: the walkthrough of docs/own_data.md, run as a user would.

The three example configs of docs/examples/ are copied with their CSVs to a folder outside the
repository and trained through the launchers with tiny settings: a mapping pair (stage 1), texts
rated for VAD against the pretrained codec (stage 2), and a new class format onto the pretrained
texts model. Their splits must land in each run's workdir (<workdir>/splits/<name>.json), nothing in
emojax/, and each exported model must load in a process that never saw the declarations and
predict in the user's format.
"""

import dataclasses
import json
import pathlib
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, launch

EXAMPLES = ROOT / "docs" / "examples"
TINY = {"pair": ("launch/mapping.py", "my_words_pair.py", "codec", ["steps=4", "eval_every=2", "baseline_epochs=0"]),
        "texts": ("launch/content.py", "my_texts.py", "texts", ["epochs=2", "seeds=0"]),
        "format": ("launch/new_format.py", "my_format.py", "format", ["epochs=2", "seeds=0", "baseline=false"])}
SPLITS = {"pair": "my_words", "texts": "my_texts", "format": "my_feelings"}


def package_files() -> dict[pathlib.Path, int]:
  """Every file under emojax/ (bytecode aside) with its modification time."""
  return {p: p.stat().st_mtime_ns for p in (ROOT / "emojax").rglob("*")
          if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
  """(home, {case: finished launcher process}, emojax/ files before, after): the three runs."""
  home = tmp_path_factory.mktemp("own_data")
  shutil.copytree(EXAMPLES, home / "my_configs", ignore=shutil.ignore_patterns("__pycache__"))
  before = package_files()
  runs = {case: launch(script, f"--config={home / 'my_configs' / config}", f"--workdir={home / workdir}",
                       *overrides, timeout=600)
          for case, (script, config, workdir, overrides) in TINY.items()}
  return home, runs, before, package_files()


def test_each_case_trains_from_one_config_file_outside_the_repository(walkthrough):
  home, runs, _, _ = walkthrough
  for case, proc in runs.items():
    assert proc.returncode == 0, f"{case}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    workdir = home / TINY[case][2]
    assert (workdir / "model.json").is_file() and (workdir / "results.json").is_file()
  results = json.loads((home / "codec" / "results.json").read_text())
  assert "my_words" in json.dumps(results)  # the user's pair is one of the codec's directions


def test_splits_are_written_to_the_workdir(walkthrough):
  home, _, _, _ = walkthrough
  sizes = {}
  for case, name in SPLITS.items():
    split = json.loads((home / TINY[case][2] / "splits" / f"{name}.json").read_text())
    sizes[case] = tuple(len(split[p]) for p in ("train", "dev", "test"))
  assert sizes["pair"] == (36, 12, 12)  # 60 words, 3:1:1 by the rule
  assert sizes["format"] == (48, 16, 16)  # 80 comments, 3:1:1 by the rule
  # my_texts.csv's split column, read as it is
  frame = pd.read_csv(home / "my_configs" / "my_texts.csv", dtype=str)
  split = json.loads((home / "texts" / "splits" / "my_texts.json").read_text())
  for part in ("train", "dev", "test"):
    assert split[part] == frame["id"][frame["split"] == part].tolist()


def test_nothing_is_written_into_the_package(walkthrough):
  _, _, before, after = walkthrough
  # Other sessions may edit the package's sources meanwhile; no run writes anything else there.
  changed = sorted(str(p.relative_to(ROOT)) for p in after
                   if p.suffix != ".py" and before.get(p) != after[p])
  assert changed == []
  assert not [p for p in (ROOT / "emojax").rglob("my_*")]


def test_exported_models_predict_in_the_users_formats(walkthrough):
  import emojax
  from emojax import formats
  home, runs, _, _ = walkthrough
  assert all(proc.returncode == 0 for proc in runs.values())
  # This process never declared the user's data or format: a model carries its own formats.
  assert "feelings4" not in formats.FORMATS
  texts = ["I am so happy today", "This makes me furious"]
  feelings = emojax.load(home / "format").predict(texts, formats="feelings4")
  assert list(feelings.columns) == [f"feelings4.{c}" for c in ("joy", "anger", "sadness", "neutral")]
  np.testing.assert_allclose(feelings.to_numpy().sum(1), 1.0, atol=1e-5)  # one class each
  assert "feelings4" not in formats.FORMATS
  vad = emojax.load(home / "texts").predict(texts, formats=["vad", "be5"])
  assert vad.shape == (2, 8) and "vad.valence" in vad.columns and np.isfinite(vad.to_numpy()).all()
  # The calibrated reading too: calibration.json was written at export, while the data was
  # declared (the training split, then the bundled genres it was not trained on), and model.json
  # names the formats the encoder was trained through (VAD, and BE5 by augmentation).
  record = json.loads((home / "texts" / "calibration.json").read_text())
  assert [d["dataset"] for d in record["source"]["datasets"]] == [
      "my_texts", "emobank_vad", "afftext_be5", "goemotions_ekman"]
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)  # nothing computed, nothing read zero-shot
    calibrated = emojax.load(home / "texts").predict(texts, calibrated=True)
  assert list(calibrated.columns) == [*vad.columns, "be5.strongest"]
  assert set(calibrated["be5.strongest"]) <= set(formats.BE5)
  codec = emojax.load(home / "codec")
  assert codec.map_labels([[0.8, 0.3]], "va", "be5").shape == (1, 5)


def test_a_rerun_reads_the_split_back(tmp_path, monkeypatch):
  """Declared data is read from the config file's folder; its split is computed once, written to
  the split folder and read back from there afterwards (not recomputed)."""
  from emojax import datasets, formats, splits
  monkeypatch.setattr(datasets, "REGISTRY", dict(datasets.REGISTRY))
  monkeypatch.setattr(datasets, "_DECLARED", set())
  monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
  (tmp_path / "cfg").mkdir()
  pd.DataFrame({"word": [f"w{i}" for i in range(10)], "v": np.linspace(1, 9, 10), "a": 5.0}).to_csv(
      tmp_path / "cfg" / "mine.csv", index=False)
  ds = datasets.Dataset(name="mine", path="mine.csv", key="word", format="va", modality="words",
                        columns=("v", "a"), scale=(1, 9))
  declare = lambda: datasets.declare([ds], base=tmp_path / "cfg", split_dir=tmp_path / "run" / "splits")
  (mine,) = declare()
  assert mine.path == str(tmp_path / "cfg" / "mine.csv") and datasets.get("mine") == mine
  written = tmp_path / "run" / "splits" / "mine.json"
  assert not written.exists()
  first = splits.split_of("mine")
  assert json.loads(written.read_text()) == first == splits.ratio_split(f"w{i}" for i in range(10))
  edited = {"train": first["train"][1:], "dev": first["dev"], "test": first["test"] + first["train"][:1]}
  written.write_text(json.dumps(edited))
  declare()  # a rerun declares again
  assert splits.split_of("mine") == edited
  written.write_text(json.dumps({**edited, "test": edited["test"][1:]}))
  with pytest.raises(ValueError, match="does not list every item.*delete it"):
    splits.split_of("mine")
  # A `file:` rule is read from the config's folder too; the split it gives is written as well.
  (tmp_path / "cfg" / "parts.json").write_text(json.dumps({"train": ["w0"], "dev": ["w1"], "test": ["w2"]}))
  (listed,) = datasets.declare([dataclasses.replace(ds, split="file:parts.json+rule")],
                               base=tmp_path / "cfg", split_dir=tmp_path / "other" / "splits")
  assert listed.split == f"file:{tmp_path / 'cfg' / 'parts.json'}+rule"
  split = splits.split_of("mine")
  assert split["train"][0] == "w0" and split["dev"][0] == "w1" and split["test"][0] == "w2"
  assert json.loads((tmp_path / "other" / "splits" / "mine.json").read_text()) == split
  with pytest.raises(ValueError, match="bundled dataset"):
    datasets.declare([datasets.get("warriner_vad")], base=tmp_path, split_dir=tmp_path)


def test_a_new_format_travels_with_its_dataset(tmp_path, monkeypatch):
  """A config can declare a dataset in a format nobody registered: the format is registered with
  the dataset, when the launcher declares it, not when the config file is imported."""
  from emojax import config, datasets, formats
  monkeypatch.setattr(datasets, "REGISTRY", dict(datasets.REGISTRY))
  monkeypatch.setattr(datasets, "_DECLARED", set())
  monkeypatch.setattr(formats, "FORMATS", dict(formats.FORMATS))
  module = config.load_file(EXAMPLES / "my_format.py")
  assert "feelings4" not in formats.FORMATS and "my_feelings" not in datasets.REGISTRY
  datasets.declare(module.DATASETS, base=EXAMPLES, split_dir=tmp_path / "splits")
  assert formats.get_format("feelings4") == module.FEELINGS
  table = datasets.read_table("my_feelings")
  assert len(table.keys) == 80 and table.y.sum(0).tolist() == [20, 20, 20, 20]
  assert "my_feelings" in datasets.names("texts", classes=True)


def test_a_bad_value_in_your_file_is_one_line_before_any_training(tmp_path):
  frame = pd.read_csv(EXAMPLES / "my_texts.csv", dtype=str, keep_default_na=False)
  frame.loc[4, "arousal"] = "7"  # the declared scale is 1-5
  frame.to_csv(tmp_path / "my_texts.csv", index=False)
  shutil.copy(EXAMPLES / "my_texts.py", tmp_path)
  proc = launch("launch/content.py", f"--config={tmp_path / 'my_texts.py'}", f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines() == [
      f"error: {tmp_path / 'my_texts.py'}: DATASETS: {tmp_path / 'my_texts.csv'}: row 6 (line), variable "
      f"'arousal': value 7.0 is missing or outside the declared scale [1, 5] (1 bad values in all)"]
  assert not (tmp_path / "run").exists()


def test_the_walkthrough_shows_the_example_files():
  """docs/own_data.md's config blocks are the example files' code, line for line."""
  import re
  text = (ROOT / "docs" / "own_data.md").read_text()
  blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "DATASETS = (" in b]
  assert len(blocks) == 3
  for block, name in zip(blocks, ("my_words_pair.py", "my_texts.py", "my_format.py")):
    assert block.strip() in (EXAMPLES / name).read_text(), name
