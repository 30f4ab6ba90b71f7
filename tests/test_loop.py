"""The one host training loop (emojax.loop): resume, late metrics, NaN stop, SIGTERM, and every
trainer built on it (baselines, new formats, fine-tuning) resuming where it stopped."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from emojax import loop, mesh as mesh_lib

from conftest import ROOT, one_device_env


def _count(state, index):  # a "step": w += 1, metrics: the loss index / 10
  return {"w": state["w"] + 1.0}, {"loss": jnp.float32(index) / 10}


def _lines(path):
  return [json.loads(l) for l in path.read_text().splitlines()]


def test_resume_continues_at_the_latest_checkpoint_with_one_metrics_line_per_epoch(tmp_path):
  init = lambda: {"w": jnp.zeros(3)}
  checkpoints, start, state = loop.resume_or_init(tmp_path, init)
  assert start == 0
  state, records = loop.run(state, _count, start=start, stop=4, checkpoints=checkpoints,
                            checkpoint_every=2)
  assert [r["epoch"] for r in records] == [1, 2, 3, 4]

  called = []
  step = lambda state, index: called.append(index) or _count(state, index)
  checkpoints, start, state = loop.resume_or_init(tmp_path, init)
  assert start == 4 and float(state["w"][0]) == 4.0  # resumed from the checkpoint of epoch 4
  state, records = loop.run(state, step, start=start, stop=7, checkpoints=checkpoints,
                            checkpoint_every=2)
  assert called == [4, 5, 6]  # only the epochs the first run did not train
  assert float(state["w"][0]) == 7.0 and checkpoints.latest_step() == 7
  lines = _lines(tmp_path / "metrics.jsonl")
  assert [l["epoch"] for l in lines] == [1, 2, 3, 4, 5, 6, 7] and records == lines
  assert lines[5]["loss"] == pytest.approx(0.5)


def test_a_resume_drops_metrics_of_epochs_after_the_checkpoint(tmp_path):
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(1)})
  loop.run(state, _count, start=start, stop=3, checkpoints=checkpoints)
  with (tmp_path / "metrics.jsonl").open("a") as f:  # killed after writing epochs 4, 5, unsaved
    f.writelines(json.dumps({"epoch": e, "loss": -1.0}) + "\n" for e in (4, 5))
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(1)})
  assert start == 3
  loop.run(state, _count, start=start, stop=6, checkpoints=checkpoints)
  lines = _lines(tmp_path / "metrics.jsonl")
  assert [l["epoch"] for l in lines] == [1, 2, 3, 4, 5, 6] and -1.0 not in [l["loss"] for l in lines]


def test_metrics_are_read_one_step_late(tmp_path):
  events = []

  def step(state, index):
    events.append(f"dispatch {index}")
    return state, {"loss": jnp.float32(index)}

  def on_metrics(index, host):
    events.append(f"read {index}")
    return {"loss": float(host["loss"])}

  loop.run({}, step, start=0, stop=4, on_metrics=on_metrics, checkpoint_every=100)
  assert events == ["dispatch 0", "dispatch 1", "read 0", "dispatch 2", "read 1", "dispatch 3",
                    "read 2", "read 3"]


def test_a_non_finite_loss_stops_naming_the_step_and_the_last_good_checkpoint(tmp_path):
  def step(state, index):
    return {"w": state["w"] + 1.0}, {"loss": jnp.where(index == 4, jnp.nan, 1.0)}

  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(2)})
  with pytest.raises(FloatingPointError, match=r"non-finite loss in step 5; last good checkpoint: "
                                               r"step 4 in .*checkpoints"):
    loop.run(state, step, start=start, stop=10, checkpoints=checkpoints, checkpoint_every=2,
             unit="step")
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(2)})
  assert start == 4 and float(state["w"][0]) == 4.0  # the bad state was never saved
  assert [l["step"] for l in _lines(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]
  with pytest.raises(FloatingPointError, match=r"in step 1 of run 'x'; last good checkpoint: none"):
    loop.run({}, lambda s, i: (s, {"finite": jnp.array([True, False])}), start=0, stop=3,
             unit="step", where=lambda i, host: f"step {i + 1} of run 'x'")


SLOW_RUN = """
import pathlib, sys, time
import jax.numpy as jnp
from emojax import loop

workdir = pathlib.Path(sys.argv[1])
def step(state, index):
  if index == 3:
    (workdir / "started").touch()
  time.sleep(0.02)
  return {"w": state["w"] + 1.0}, {"loss": jnp.float32(1.0)}
checkpoints, start, state = loop.resume_or_init(workdir, lambda: {"w": jnp.zeros(2)})
loop.run(state, step, start=start, stop=100_000, checkpoints=checkpoints, checkpoint_every=10_000)
print("finished")
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_saves_the_step_in_flight_then_stops(tmp_path, signum):
  proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(tmp_path)], text=True,
                          env=one_device_env(PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
  deadline = time.time() + 120
  while not (tmp_path / "started").exists() and time.time() < deadline and proc.poll() is None:
    time.sleep(0.02)
  proc.send_signal(signum)
  out, err = proc.communicate(timeout=120)
  assert "finished" not in out
  if signum == signal.SIGTERM:
    assert proc.returncode == -signal.SIGTERM  # ended by the signal, as an unhandled one would
  else:
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
  checkpoints, start, state = loop.resume_or_init(tmp_path, lambda: {"w": jnp.zeros(2)})
  assert 4 <= start < 10_000 and float(state["w"][0]) == start  # the epoch in flight, saved whole
  assert f"stopped by {signal.Signals(signum).name} after epoch {start}" in err
  assert [l["epoch"] for l in _lines(tmp_path / "metrics.jsonl")] == list(range(1, start + 1))


def test_an_ignored_sigint_stays_ignored_in_the_loop_and_the_launchers():
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    with loop.interrupts(), loop._deferred_signals() as caught:
      assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
      assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # SIGTERM is still deferred
      signal.raise_signal(signal.SIGINT)
      assert not caught
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)
  with loop._deferred_signals():
    assert signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, signal.default_int_handler)


# ------------------------------------------------------------------ the trainers built on the loop

@pytest.fixture
def capped(monkeypatch):
  """loop.run stopped after `cap[0]` indices (an interrupted run) while cap[0] is set; every
  call's start index is recorded in `starts`."""
  real = loop.run
  cap, starts = [None], []

  def run(state, step_fn, *, start, stop, **kw):
    starts.append(start)
    return real(state, step_fn, start=start, stop=min(stop, cap[0] or stop), **kw)

  monkeypatch.setattr(loop, "run", run)
  return cap, starts


def test_baselines_resume_at_the_next_direction(tmp_path, capped):
  from emojax import baselines, codec, mapping_data, train_mapping
  cap, starts = capped
  pairs = [mapping_data.load_pair("de_vad_be5")]
  packing = train_mapping.packing_of(train_mapping.MappingConfig(pairs=("de_vad_be5",)), pairs)
  parts = {p: train_mapping.direction_arrays(packing, pairs, p) for p in ("train", "dev", "test")}
  cfg = codec.CodecConfig(hidden=(8,))
  train = lambda workdir: baselines.train_baselines(cfg, packing, parts["train"], parts["dev"],
                                                     parts["test"], (0, 1), epochs=2, workdir=workdir)
  cap[0] = 1
  train(tmp_path)  # killed after direction 1 of 2
  cap[0] = None
  resumed = train(tmp_path)
  assert starts == [0, 1]  # the rerun trained direction 2 only
  (run_dir,) = tmp_path.iterdir()
  assert [l["direction"] for l in _lines(run_dir / "metrics.jsonl")] == [1, 2]
  straight = train(None)  # no workdir: nothing saved, nothing resumed
  assert starts[-1] == 0
  chex.assert_trees_all_equal(jax.device_get(resumed), jax.device_get(straight))


def test_new_format_fit_resumes_at_the_next_epoch(tmp_path, capped):
  from emojax import new_format
  cap, starts = capped
  rng = np.random.default_rng(0)
  parts = {p: {"x": jnp.asarray(rng.normal(size=(12, 3)), jnp.float32),
               "y": jnp.asarray(rng.normal(size=(12,)), jnp.float32)} for p in ("train", "dev", "test")}

  def loss_fn(params, batch, rng):
    loss = jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2)
    return loss, {"prediction": loss}

  score_fn = lambda params, part: -jnp.mean((part["x"] @ params["w"] - part["y"]) ** 2)
  fit = lambda workdir: new_format.fit(
      loss_fn, score_fn, lambda k: {"w": jax.random.normal(k, (3,))}, (0, 1), parts, {},
      learning_rate=0.05, batch_size=4, epochs=6, workdir=workdir, checkpoint_every=2)
  cap[0] = 3
  fit(tmp_path)
  cap[0] = None
  resumed = fit(tmp_path)
  assert starts == [0, 3]
  assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4, 5, 6]
  straight = fit(None)
  assert resumed["history"] == straight["history"] and resumed["best_epoch"] == straight["best_epoch"]
  chex.assert_trees_all_equal(jax.device_get(resumed["best"]), jax.device_get(straight["best"]))
  assert resumed["scores"] == straight["scores"]


@dataclasses.dataclass(frozen=True)
class TinyFinetune:
  batch_size: int = 4
  epochs: int = 2
  max_steps: int = 0
  eval_every: int = 2
  learning_rate: float = 0.1


def test_finetune_train_loop_resumes_at_the_last_evaluation(tmp_path, capped):
  from emojax import finetune
  cap, starts = capped
  mesh = mesh_lib.make_mesh(1)
  rng = np.random.default_rng(0)
  train = {"x": rng.normal(size=(16, 3)).astype(np.float32), "y": rng.normal(size=(16,)).astype(np.float32)}
  loss_fn = lambda p, frozen, batch, key: jnp.mean((batch["x"] @ p["w"] * frozen - batch["y"]) ** 2)
  tx = optax.adam(0.1)
  step_fn = finetune.make_step(tx, loss_fn, mesh)
  dev_r = lambda p: float(-np.mean((train["x"] @ np.asarray(p["w"]) - train["y"]) ** 2))

  def run(workdir, cfg=TinyFinetune()):
    state = finetune.init_state(tx, {"w": jnp.zeros(3)}, mesh)
    return finetune.train_loop(cfg, workdir, title="tiny", step_fn=step_fn, state=state,
                               frozen=mesh_lib.put_replicated(jnp.float32(1.0), mesh), train=train,
                               dev_r=dev_r, key=jax.random.key(0), mesh=mesh, seed=3,
                               show_progress=False)

  cap[0] = 4
  run(tmp_path / "resumed")  # 4 of 8 steps, then "killed"
  cap[0] = None
  (resumed, best_a), (straight, best_b) = run(tmp_path / "resumed"), run(tmp_path / "straight")
  assert starts == [0, 4, 0]  # the rerun started at step 5
  lines = _lines(tmp_path / "resumed" / "metrics.jsonl")
  assert [l["step"] for l in lines] == list(range(1, 9)) and [l["step"] for l in lines if "dev_r" in l] == [2, 4, 6, 8]
  assert resumed["losses"] == straight["losses"] and resumed["dev"] == straight["dev"]
  assert resumed["best_dev_r"] == straight["best_dev_r"]
  chex.assert_trees_all_equal(best_a, best_b)
  # A changed config in the same run directory starts over instead of resuming the old state.
  run(tmp_path / "resumed", TinyFinetune(learning_rate=0.2))
  assert starts[-1] == 0
