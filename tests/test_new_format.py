"""New label formats onto a frozen space: the readers and their errors, the pure loss, a tiny
end-to-end learning of isear7 onto a tiny stage-1 + text model (every existing parameter
bit-identical, the new head learns), and `emojax.load` of the result with its checks."""

import json
import pathlib
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import emojax
from emojax import checkpoint, codec, config, datasets, formats, new_format, new_format_data as nfd, readers, splits
from emojax import train_content, train_mapping

from conftest import ROOT

ISEAR_HEADER = '"MYKEY","Field1","SIT"\n'
ISEAR = datasets.path_of(datasets.get_dataset("isear"))
GOEMOTIONS = datasets.path_of(datasets.get_dataset("goemotions_ekman"))


# ------------------------------------------------------------------------------------------ readers

def test_isear_split_is_the_papers_and_excludes_exactly_the_non_answers():
  keys, texts, labels = readers.read_isear(ISEAR)
  split = splits.split_of("isear")
  assert [len(split[p]) for p in ("train", "dev", "test")] == [5960, 745, 746]
  in_split = {k for v in split.values() for k in v}
  assert len(in_split) == 7451 and in_split <= set(keys)
  assert {k for k, t in zip(keys, texts) if readers.is_non_answer(t)} == set(keys) - in_split
  table = datasets.read_table("isear")
  text_of, y_of = dict(zip(table.keys, table.content)), dict(zip(table.keys, table.y))
  by_part, dropped = nfd.parts("isear")
  assert list(dropped.values()) == [{"all": 215}]  # the non-answers
  assert [by_part[p][0] for p in splits.PARTS] == [split[p] for p in splits.PARTS]
  # A quoted multi-line record, its "á" line-continuation markers read as spaces.
  raw = dict(zip(keys, texts))["110011"]
  assert "\n" in raw and text_of["110011"] == ("During the period of falling in love, each time that "
                                               "we met and especially when we had not met for a long time.")
  assert labels[keys.index("110011")] == "joy" and y_of["110011"].tolist() == [1, 0, 0, 0, 0, 0, 0]


def test_goemotions_ekman_labels_and_the_neutral_rule():
  ids, texts, y = readers.goemotions_ekman("dev", GOEMOTIONS)
  assert len(ids) == 5426 and y.shape == (5426, 6)
  assert nfd.parts("goemotions_ekman")[0]["dev"][0] == ids  # the official file is the dev part
  _, _, names = readers.read_goemotions("dev", GOEMOTIONS)
  ekman = readers.ekman_mapping(GOEMOTIONS)
  assert ekman["annoyance"] == "anger" and ekman["nervousness"] == "fear" and "neutral" not in ekman
  only_neutral = [i for i, n in enumerate(names) if n == ["neutral"]]
  assert only_neutral and not y[only_neutral].any()  # the empty label set, kept
  i = next(i for i, n in enumerate(names) if set(n) == {"annoyance", "approval"})
  assert y[i].tolist() == [1, 1, 0, 0, 0, 0]  # ekman6 order: joy, anger, sadness, fear, disgust, surprise
  i = next(i for i, n in enumerate(names) if set(n) == {"approval", "neutral"})
  assert y[i].tolist() == [1, 0, 0, 0, 0, 0]  # neutral beside a mapped label adds nothing
  assert nfd.train_subset(10, 4).tolist() == sorted(np.random.RandomState(0).permutation(10)[:4].tolist())
  assert nfd.train_subset(10, 0).tolist() == list(range(10))


def _goemotions_copy(tmp_path, train_text):
  root = tmp_path / "go"
  shutil.copytree(GOEMOTIONS, root)
  (root / "train.tsv").write_text(train_text, encoding="utf-8")
  return root


def test_readers_name_the_file_line_and_value(tmp_path):
  path = tmp_path / "isear.csv"
  path.write_text(ISEAR_HEADER + '"1","joy","fine"\n"2","happiness","x"\n')
  with pytest.raises(ValueError, match=r"record 2 \(MYKEY '2'\): unknown label 'happiness'"):
    readers.read_isear(path)
  path.write_text(ISEAR_HEADER + '"1","joy","fine"\n"1","fear","again"\n')
  with pytest.raises(ValueError, match="MYKEY appears twice"):
    readers.read_isear(path)
  path.write_text(ISEAR_HEADER + '"1","joy","a quote that never \n ends\n')
  with pytest.raises(ValueError, match="not a readable CSV"):
    readers.read_isear(path)
  path.write_text('"KEY","Field1","SIT"\n"1","joy","fine"\n')
  with pytest.raises(ValueError, match=r"columns \['MYKEY'\] are missing"):
    readers.read_isear(path)
  with pytest.raises(FileNotFoundError, match="ISEAR file"):
    readers.read_isear(tmp_path / "absent.csv")
  root = _goemotions_copy(tmp_path, "fine\t1\tid1\nsays \"hi\"\t3,27\tid2\n")
  ids, texts, labels = readers.read_goemotions("train", root)
  assert texts[1] == 'says "hi"' and labels[1] == ["annoyance", "neutral"]  # quotes are text
  root = _goemotions_copy(tmp_path / "a", "fine\t1\tid1\nbad\t28\tid2\n")
  with pytest.raises(ValueError, match=r"train.tsv, line 2: unknown label id\(s\) \[28\]"):
    readers.read_goemotions("train", root)
  root = _goemotions_copy(tmp_path / "b", "fine\t1\tid1\ntab\tin\ttext\t2\tid2\n")
  with pytest.raises(ValueError, match="line 2: expected 3 tab-separated fields"):
    readers.read_goemotions("train", root)
  mapping = json.loads((root / "ekman_mapping.json").read_text())
  mapping["joy"].append("bliss")
  (root / "ekman_mapping.json").write_text(json.dumps(mapping))
  with pytest.raises(ValueError, match="lists 'bliss', which is not a GoEmotions label"):
    readers.ekman_mapping(root)


def test_class_names_to_vectors_and_unknown_labels():
  np.testing.assert_array_equal(readers.class_vectors(["shame"], "isear7"), [[0, 0, 0, 0, 0, 1, 0]])
  np.testing.assert_array_equal(readers.class_vectors([["fear", "joy"], []], "ekman6"),
                                [[1, 0, 0, 1, 0, 0], [0] * 6])
  with pytest.raises(ValueError, match="item 1: unknown label 'happy' for format 'isear7'"):
    readers.class_vectors(["joy", "happy"], "isear7")
  with pytest.raises(ValueError, match="takes exactly one class"):
    readers.class_vectors([["joy", "fear"]], "isear7")
  with pytest.raises(KeyError, match="unknown new-format dataset"):
    datasets.get_dataset("semeval", "texts", classes=True)


# -------------------------------------------------------------------------------------------- loss

def test_loss_terms_against_a_hand_computation():
  cfg = codec.CodecConfig(hidden=(8,), embedding_dim=4, dropout=0.0)
  fmt = formats.get_format("isear7")
  layout = formats.head_layout(["vad", "be5"])
  pairs = new_format.tie_pairs(fmt, layout)
  assert pairs.tolist() == [[i, 3 + i] for i in range(5)]  # joy..disgust ~ be5; shame, guilt free
  y = jnp.eye(7)[jnp.array([0, 3, 5, 6, 1])]

  @jax.jit  # one compiled call: op-by-op dispatch would compile every primitive separately
  def compute(key):
    k_params, k_bank, k_e = jax.random.split(key, 3)
    params = new_format.init_params(k_params, cfg, fmt)
    bank = jax.random.normal(k_bank, (layout.num_rows, 4))
    e = jax.random.normal(k_e, (5, 4))
    loss = lambda p, b: new_format.total_loss(new_format.NewFormatWeights(), new_format.loss_terms(
        p, b, e, y, fmt=fmt, cfg=cfg, pairs_Px2=pairs))
    e_label = new_format.label_encoder(cfg).apply({"params": params["encoder"]}, y)
    return (params["head"], bank, e, e_label, new_format.loss_terms(params, bank, e, y, fmt=fmt, cfg=cfg,
            pairs_Px2=pairs), jax.grad(loss, argnums=(0, 1))(params, bank))

  H, bank, e, e_label, terms, (g_params, g_bank) = jax.tree.map(np.asarray, compute(jax.random.key(0)))
  y = np.asarray(y)
  log_softmax = lambda z: z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
  ce = lambda logits: float(np.mean(-np.sum(y * log_softmax(logits), -1)))
  cos = [H[i] @ bank[j] / np.linalg.norm(H[i]) / np.linalg.norm(bank[j]) for i, j in pairs]
  np.testing.assert_allclose(terms["prediction"], ce(e @ H.T), rtol=1e-5)
  np.testing.assert_allclose(terms["reconstruction"], ce(e_label @ H.T), rtol=1e-5)
  np.testing.assert_allclose(terms["similarity"], np.mean((e_label - e) ** 2), rtol=1e-5)
  np.testing.assert_allclose(terms["sharing"], 1 - np.mean(cos), rtol=1e-5)
  # Every learned part gets a gradient (shame and guilt through the losses, not the sharing term).
  assert all(np.abs(g).max() > 0 for g in jax.tree.leaves(g_params))
  # The bank is differentiable, so frozen is a matter of construction: train_step differentiates
  # w.r.t. state["params"] only, which never holds it (the end-to-end test checks the bits).
  assert np.abs(g_bank).max() > 0


# ------------------------------------------------------------------------------ end to end, tiny

def _export_base(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
  """A tiny stage-1 codec (vad, be5) and a text model on it (MiniLM features at length 32 ->
  Dropout -> Dense 100), initialised and exported exactly as launch/mapping.py and
  launch/content.py export theirs: learning a new format reads nothing but their frozen
  parameters, so training them first would only cost time."""
  s1, texts = root / "mapping", root / "texts"
  mcfg = train_mapping.MappingConfig(pairs=("de_vad_be5",))
  packing = codec.Packing.of(formats.head_layout(["vad", "be5"]), ("de_vad_be5",))
  init = jax.jit(lambda k: codec.init_params(k, mcfg.codec, packing))  # one compile, not dozens
  checkpoint.export_model(s1, init(jax.random.key(0)), packing.layout, mcfg, stage="mapping", seed=0,
                          extra={"conditions": list(packing.conditions)})
  ccfg = config.from_file(ROOT / "configs" / "texts_paper.py", [f"stage1={s1}", "datasets=emobank_vad",
                                                            "max_length=32", "export=emobank_vad:Sng"])
  module = train_content.encoder_module(ccfg.encoder, mcfg.codec.embedding_dim)
  params = jax.jit(lambda k: module.init(k, jnp.zeros((1, 384)))["params"])(jax.random.key(1))
  meta = {"modality": "texts", "encoder": {"run": "Sng/emobank_vad", "seed": 0, "best_dev": 0.0},
          "feature": {"kind": "minilm", "max_length": 32, "dim": 384},
          "stage1": {"path": str(s1), "fingerprint": checkpoint.fingerprint(s1)}}
  checkpoint.export_model(texts, params, packing.layout, ccfg, stage="content", seed=0, extra=meta)
  return s1, texts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """isear7 learned onto the tiny base from 48 ISEAR items per part (real MiniLM features)."""
  root = tmp_path_factory.mktemp("new_format")
  s1, texts = _export_base(root)
  base = emojax.load(texts)
  before = jax.tree.map(np.array, {"codec": base.params, "content": base.encoder_params})
  fingerprints = (checkpoint.fingerprint(s1), checkpoint.fingerprint(texts))
  cfg = new_format.NewFormatConfig(base=str(texts), datasets=("isear",), seeds=(0, 1), epochs=12,
                                   batch_size=16, max_items=48, learning_rate=1e-2)
  workdir = root / "isear"
  results = new_format.run(cfg, workdir, show_progress=False)
  return {"s1": s1, "texts": texts, "workdir": workdir, "results": results, "before": before,
          "fingerprints": fingerprints, "base": base}


def test_every_existing_parameter_is_bit_identical(tiny):
  base = tiny["base"]
  after = jax.tree.map(np.array, {"codec": base.params, "content": base.encoder_params})
  chex.assert_trees_all_equal(after, tiny["before"])  # the in-memory base model
  reloaded = emojax.load(tiny["texts"])  # and what is on disk
  chex.assert_trees_all_equal(jax.tree.map(np.array, {"codec": reloaded.params,
                                                      "content": reloaded.encoder_params}), tiny["before"])
  assert (checkpoint.fingerprint(tiny["s1"]),
          checkpoint.fingerprint(tiny["texts"])) == tiny["fingerprints"]
  model = emojax.load(tiny["workdir"])  # the new model serves the very same parameters
  chex.assert_trees_all_equal(jax.tree.map(np.array, {"codec": model.params,
                                                      "content": model.encoder_params}), tiny["before"])
  assert tiny["results"]["base_parameters_bit_identical"] is True


def test_the_new_head_learns(tiny):
  r = tiny["results"]["datasets"]["isear"]
  assert r["format"] == "isear7" and r["sizes"] == {"train": 48, "dev": 48, "test": 48}
  assert min(r["new_format"]["train"]["values"]) > 0.5  # chance is 1/7 on 7 balanced-ish classes
  lines = [json.loads(l) for l in (tiny["workdir"] / "isear" / "metrics.jsonl").read_text().splitlines()]
  head = [l for l in lines if l["method"] == "new_format"]
  assert len(head) == 12 and np.all(np.asarray(head[-1]["prediction"]) < np.asarray(head[0]["prediction"]))
  assert np.all(np.asarray(head[-1]["loss"]) < np.asarray(head[0]["loss"]))
  assert len(r["baseline"]["test"]["values"]) == 2 and r["paper"]["score"] == .714


def test_load_gives_the_base_model_plus_the_new_format(tiny):
  model = emojax.load(tiny["workdir"])
  base = tiny["base"]
  assert isinstance(model, emojax.api.NewFormatModel) and "isear7" in model.formats
  assert set(base.formats) < set(model.formats)
  texts = ["I passed my exam and my parents were proud of me.", "My dog died last week."]
  p = model.predict_array(texts, "isear7", modality="texts")
  assert p.shape == (2, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
  # Existing formats: exactly the base model's numbers.
  np.testing.assert_array_equal(model.predict_array(texts, "vad", modality="texts"),
                                base.predict_array(texts, "vad", modality="texts"))
  y = np.asarray([[0.5, 0.2, 0.1, 0.0, 0.3]])
  np.testing.assert_array_equal(model.map_labels(y, "be5", "vad"), base.map_labels(y, "be5", "vad"))
  # The new format as mapping source and target.
  onehot = readers.class_vectors(["joy", "guilt"], "isear7")
  vad = model.map_labels(onehot, "isear7", "vad")
  assert vad.shape == (2, 3) and np.isfinite(vad).all()
  assert model.map_labels(y, "be5", "isear7").shape == (1, 7)
  e = model.embed_labels(onehot, "isear7")
  np.testing.assert_allclose(model.decode_embeddings(e, "vad"), vad, rtol=1e-6)
  with pytest.raises(ValueError, match=r"unknown label format 'isear8'; this model knows \[.*'isear7'"):
    model.map_labels(onehot, "isear8", "vad")
  with pytest.raises(ValueError, match="format 'isear7' has 7 variables"):
    model.map_labels(onehot[:, :6], "isear7", "vad")
  with pytest.raises(ValueError, match="outside the canonical range"):
    model.map_labels(onehot * 2, "isear7", "vad")
  with pytest.raises(ValueError, match="without dataset conditioning"):
    model.embed_labels(onehot, "isear7", dataset="de_vad_be5")
  meta = json.loads((tiny["workdir"] / "model.json").read_text())
  assert meta["stage"] == "new_format" and meta["formats"] == ["isear7"]
  assert meta["base"]["fingerprint"] == tiny["fingerprints"][1]


def test_loading_leaves_the_format_registry_alone(tiny, monkeypatch):
  """A loaded model carries its formats' declarations (model.json): loaded where isear7 is not
  registered, it serves isear7 just the same, and the global registry stays as it was."""
  onehot = np.eye(7, dtype=np.float32)[[0, 6]]
  expected = emojax.load(tiny["workdir"]).map_labels(onehot, "isear7", "vad")
  monkeypatch.delitem(formats.FORMATS, "isear7")
  registry = dict(formats.FORMATS)
  model = emojax.load(tiny["workdir"])
  assert formats.FORMATS == registry and "isear7" not in formats.FORMATS
  assert model.formats["isear7"].variables == formats.BE5 + ("shame", "guilt")
  np.testing.assert_array_equal(model.map_labels(onehot, "isear7", "vad"), expected)


def test_load_refuses_another_base_model(tiny, tmp_path):
  other = tmp_path / "texts_other"
  shutil.copytree(tiny["texts"], other)
  meta = json.loads((other / "model.json").read_text())
  meta["encoder"]["best_dev"] = 0.0  # any change to the checkpoint changes its fingerprint
  (other / "model.json").write_text(json.dumps(meta))
  with pytest.raises(checkpoint.CheckpointError, match="holds another model"):
    emojax.load(tiny["workdir"], stage1=other)
  with pytest.raises(checkpoint.CheckpointError, match="holds no exported model"):
    emojax.load(tiny["workdir"], stage1=tmp_path / "nowhere")
  with pytest.raises(ValueError, match="already in the base model"):
    new_format.check_config(new_format.NewFormatConfig(datasets=("isear",)), _with_isear(tiny["base"]))
  with pytest.raises(ValueError, match="frozen-feature text model"):
    new_format.load_base(tiny["s1"])


def _with_isear(base):
  """A stand-in whose layout already has isear7 (check_config reads only the layout)."""
  class Stub:
    layout = formats.head_layout(list(base.layout.formats) + ["isear7"])
    workdir = base.workdir
  return Stub()
