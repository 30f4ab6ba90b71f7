"""The import graph of emojax/: no cycles, every import points down the layers, serving apart from
training, and loading a stage-1 model imports no optimizer.

Every module's imports are read with `ast`, all of them: top-level, inside functions and under
`if TYPE_CHECKING:` (a lazy import of a heavy lower module for start-up speed is fine, but it is
an edge like any other: it must point down and must not close a cycle). A new module must be placed
in LAYERS before this test passes.
"""

import ast
import pathlib
import subprocess
import sys

from conftest import ROOT, one_device_env

PACKAGE = ROOT / "emojax"

# Imports point down this list: a module may import from its own layer or lower ones only.
LAYER_NAMES = ("base", "data", "model", "trained model", "training", "serving")
LAYERS = {
    # base: parsing/dumping configs, progress lines, device meshes, the label formats
    "config": "base", "progress": "base", "mesh": "base", "formats": "base",
    # data: the dataset registry and its readers, splits, feature tables, pretrained backbones
    "datasets": "data", "readers": "data", "splits": "data", "mapping_data": "data",
    "content_data": "data", "text_data": "data", "image_data": "data", "new_format_data": "data",
    "encoders": "data", "encoders.bert": "data", "encoders.sentence_encoders": "data", "encoders.mobilenet": "data",
    "encoders.word_vectors": "data", "encoders.word_encoder": "data",
    # model: the math of the networks and losses, their building blocks, the run configs a model
    # records, export/import of parameters, the paper's numbers and the results tables
    "codec": "model", "losses": "model", "metrics": "model", "layers": "model",
    "conditions": "model", "paper": "model", "report": "model", "checkpoint": "model",
    "content_model": "model", "format_head": "model", "run_configs": "model",
    "probe": "model",  # the ridge probe (linear read-out of frozen features)
    "geometry": "model", "stats": "model",  # head-row geometry; bootstrap intervals of findings
    "region": "model",  # the label region and the stage-2 readout folded into an encoder
    # trained model: `emojax.load` and the model objects it returns. Below training because the
    # trainers read their frozen stage-1 / stage-2 models through it; it imports no trainer.
    "api": "trained model", "emojax": "trained model",
    # the pretrained models shipped in the package, by name (api.load resolves names through it)
    "pretrained": "trained model",
    "calibration": "trained model",  # the calibrated strongest emotion of a trained model
    # training: the one host loop and every trainer on it
    "loop": "training", "train_mapping": "training", "baselines": "training", "transfer": "training",
    "content_plan": "training", "train_content": "training", "finetune": "training",
    "finetune_text": "training", "finetune_image": "training", "new_format": "training",
    # serving: using a trained model (predict, embed, retrieve; analysis of a trained codec)
    "predict": "serving", "retrieval": "serving", "pictures": "serving", "plausibility": "serving",
    "cli": "serving",  # the `emojax` console command
}
SERVING = {m for m, layer in LAYERS.items() if layer in ("trained model", "serving")}
TRAINING = {m for m, layer in LAYERS.items() if layer == "training"}


def module_name(path: pathlib.Path) -> str:
  """emojax/api.py -> "api", emojax/encoders/bert.py -> "encoders.bert", emojax/__init__.py -> "emojax"."""
  parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts) or "emojax"


def modules() -> dict[str, pathlib.Path]:
  return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _target(dotted: str, known) -> str | None:
  """The emojax module an absolute dotted name refers to (its longest known prefix)."""
  if dotted != "emojax" and not dotted.startswith("emojax."):
    return None
  parts = dotted.split(".")[1:]
  while parts:
    if ".".join(parts) in known:
      return ".".join(parts)
    parts.pop()
  return "emojax"


def imports_of(name: str, path: pathlib.Path, known) -> list[tuple[str, int]]:
  """(imported emojax module, line) for every import statement anywhere in the file."""
  package = [] if name == "emojax" else name.split(".")[:None if path.name == "__init__.py" else -1]
  out = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      out += [(_target(alias.name, known), node.lineno) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module
      if node.level:  # relative: from . import x, from ..x import y
        base = ".".join(["emojax", *package[:len(package) - node.level + 1], *filter(None, [node.module])])
      # `from emojax import api` names a module, `from emojax.api import load` a name in one
      out += [(_target(f"{base}.{alias.name}", known), node.lineno) for alias in node.names]
  return [(t, line) for t, line in out if t is not None and t != name]


def graph() -> dict[str, list[tuple[str, int]]]:
  found = modules()
  return {name: imports_of(name, path, found) for name, path in found.items()}


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
  """Strongly connected components of more than one module (Tarjan), each in import order."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w, _ in edges.get(v, ()):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out


def test_every_module_is_placed_in_a_layer():
  unplaced = sorted(set(modules()) - set(LAYERS))
  assert not unplaced, (f"modules not in tests/test_import_graph.py LAYERS: {unplaced}; place each "
                        f"in one of {LAYER_NAMES}")
  assert set(LAYERS.values()) <= set(LAYER_NAMES)


def test_the_graph_sees_every_kind_of_import():
  edges = {n: {t for t, _ in e} for n, e in graph().items()}
  assert "api" in edges["emojax"]  # from emojax.api import load (package __init__)
  assert {"checkpoint", "run_configs", "content_model"} <= edges["api"]  # from emojax import x / from emojax.x import y
  assert "encoders.bert" in edges["api"]  # a function-level import
  assert "emojax" in edges["plausibility"]  # import emojax, inside a function


def test_no_import_cycles():
  found = cycles(graph())
  assert not found, "import cycles in emojax/: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_point_down_the_layers():
  rank = {layer: i for i, layer in enumerate(LAYER_NAMES)}
  upward = [f"{name} ({LAYERS[name]}) imports {target} ({LAYERS[target]}), line {line}"
            for name, edges in graph().items() if name in LAYERS
            for target, line in edges if target in LAYERS and rank[LAYERS[target]] > rank[LAYERS[name]]]
  assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


# What a function may import lazily: heavy lower modules whose import costs start-up time (the
# pretrained backbones load tokenizers/PIL and their weights, text_data pulls in MiniLM, pictures
# matplotlib: ~0.8 s the `emojax` command pays only for `plot`), and the package itself in the
# serving CLIs. Anything else belongs at the top of the module.
LAZY_OK = {"encoders.bert", "encoders.mobilenet", "encoders.word_vectors", "text_data", "emojax",
           "pictures"}


def test_function_level_imports_are_only_for_start_up_speed():
  found = modules()
  lazy = []
  for name, path in found.items():
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for node in ast.walk(fn):
          if isinstance(node, (ast.Import, ast.ImportFrom)):
            lazy += [f"{name}:{node.lineno} imports {t} inside {fn.name}()"
                     for t, line in imports_of(name, path, found) if line == node.lineno and t not in LAZY_OK]
  assert not lazy, "function-level imports of light modules (move them to the top):\n" + "\n".join(sorted(set(lazy)))


def test_serving_reaches_no_training_module():
  """Not even through another module: the whole import closure of every serving module."""
  edges = graph()
  bad = []
  for start in sorted(SERVING & set(edges)):
    seen, todo, via = {start}, [start], {start: None}
    while todo:
      v = todo.pop()
      for w, _ in edges.get(v, ()):
        if w not in seen:
          seen.add(w)
          via[w] = v
          todo.append(w)
    for t in sorted(seen & TRAINING):
      path, v = [], t
      while v is not None:
        path.append(v)
        v = via[v]
      bad.append(" -> ".join(reversed(path)))
  assert not bad, "serving modules importing training modules:\n" + "\n".join(bad)


def test_loading_a_stage1_model_imports_no_optimizer_and_no_trainer(untrained_stage1):
  code = ("import sys, emojax\n"
          f"model = emojax.load({str(untrained_stage1)!r})\n"
          "model.map_labels([[0.5, 0.5]], 'va', 'be5')\n"
          "print(sorted(m for m in sys.modules if m == 'optax' or m.startswith('optax.')\n"
          f"             or m.removeprefix('emojax.') in {sorted(TRAINING)!r}))\n")
  proc = subprocess.run([sys.executable, "-c", code], env=one_device_env(), capture_output=True,
                        text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip() == "[]", f"loading a stage-1 model imported: {proc.stdout.strip()}"
