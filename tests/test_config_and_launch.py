"""Config overrides and launcher flags: parsing, clear errors."""

import os
import pathlib
import subprocess
import sys

import pytest

from emojax import config, train_mapping

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_overrides_parse_by_declared_type():
  cfg = config.override(train_mapping.MappingConfig(),
                        ["steps=200", "seeds=0,1,2", "codec.dropout=0.1", "weights.class_target=0.5",
                         "condition_on_dataset=false", "pairs=es_va_be5"])
  assert cfg.steps == 200 and cfg.seeds == (0, 1, 2) and cfg.codec.dropout == 0.1
  assert cfg.weights.class_target == 0.5 and cfg.condition_on_dataset is False
  assert cfg.pairs == ("es_va_be5",)


def test_config_round_trips_through_json(tmp_path):
  cfg = config.override(train_mapping.MappingConfig(), ["seeds=3,4", "codec.hidden=64,32"])
  config.dump(cfg, tmp_path / "c.json")
  import json
  assert config.from_dict(train_mapping.MappingConfig, json.loads((tmp_path / "c.json").read_text())) == cfg


@pytest.mark.parametrize("bad,message", [("stepz=3", "unknown config field 'stepz'"),
                                         ("steps=many", "expected int"),
                                         ("codec.nope=1", "unknown config field 'codec.nope'"),
                                         ("steps", "must look like name=value")])
def test_bad_overrides_are_clear_errors(bad, message):
  with pytest.raises(ValueError, match=message):
    config.override(train_mapping.MappingConfig(), [bad])


def test_missing_accelerator_is_a_clear_error(tmp_path):
  env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
  proc = subprocess.run([sys.executable, str(ROOT / "launch" / "mapping.py"), "--accelerator=tpu",
                         f"--workdir={tmp_path / 'w'}"], env=env, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode != 0
  assert "--accelerator=tpu: no TPU is available" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "w").exists()
