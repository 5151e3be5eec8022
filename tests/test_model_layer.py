"""The model layer's single sources: one output table per head, the checkpoint's own tensor names
from the file through the ONNX graph and the torch module, weights hashed once per import, and
the runtime reaching the model store in one place only."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from safetensors.numpy import load_file, save_file

import engine
from engine.albert.config import AlbertConfig
from engine.albert.outputs import HEAD_OUTPUTS, head_outputs
from engine.albert.weights import load_weights, read_state_dict
from engine.errors import CorruptModelFileError
from tests import checkpoint_factory as factory

REPO = Path(__file__).resolve().parents[1]


def checkpoint_names(model_dir) -> set[str]:
    return {name.removeprefix("albert.") for name in read_state_dict(model_dir)}


@pytest.mark.parametrize("head", factory.HEADS)
def test_both_backends_and_the_graph_follow_the_output_table(checkpoints, head):
    model_dir = checkpoints(head, "grouped")
    has_pooler = "pooler.weight" in checkpoint_names(model_dir)
    spec = head_outputs(head, has_pooler)
    onnx_model = engine.load_model(model_dir, device="cpu")
    torch_model = engine.load_model(model_dir, device="cpu", backend="torch")
    assert onnx_model.output_names == [o.name for o in spec]
    assert torch_model.output_names == [o.name for o in spec]
    graph = onnx.load(str(onnx_model._backend.graph_path)).graph
    axes = {o.name: tuple(d.dim_param for d in o.type.tensor_type.shape.dim) for o in graph.output}
    assert axes == {o.name: o.axes for o in spec}
    # Per-token outputs come back trimmed to each sequence's length, the rest whole.
    short, long_ = [2, 9, 3], [2, 9, 10, 11, 12, 3]
    for model in (onnx_model, torch_model):
        results = model.run_sequences([short, long_])
        for o in spec:
            if o.per_token:
                assert [r[o.name].shape[0] for r in results] == [3, 6], o.name
            else:
                assert results[0][o.name].shape == results[1][o.name].shape, o.name


def test_only_encoders_keep_a_pooler_without_needing_one():
    assert [o.name for o in head_outputs("encoder", has_pooler=False)] == ["last_hidden_state"]
    assert "pooler_output" not in {o.name for o in HEAD_OUTPUTS["qa"] + HEAD_OUTPUTS["token"]}


@pytest.mark.parametrize("head", factory.HEADS)
def test_graph_and_torch_module_use_the_checkpoints_names(checkpoints, head):
    model_dir = checkpoints(head, "grouped")
    names = checkpoint_names(model_dir)
    config = AlbertConfig.from_pretrained(model_dir)
    weights = load_weights(model_dir, config, head)
    assert set(weights.tensors) <= names
    graph = onnx.load(str(engine.load_model(model_dir, device="cpu")._backend.graph_path)).graph
    stored = {t.name for t in graph.initializer if not t.name.startswith("const.")}
    fused = {n for n in stored if ".attention.qkv." in n}
    assert stored - fused <= names
    # The one fused tensor of each layer sits beside that layer's query, key and value.
    assert fused == {n.replace(".query.", ".qkv.") for n in names if ".attention.query." in n}
    module = engine.load_model(model_dir, device="cpu", backend="torch")._backend.module
    assert set(module.state_dict()) == set(weights.tensors)


def test_a_pooler_without_its_bias_is_refused_by_name(checkpoints, tmp_path):
    model_dir = factory.copy_checkpoint(checkpoints("encoder"), tmp_path / "m")
    tensors = load_file(str(model_dir / "model.safetensors"))
    del tensors["pooler.bias"]
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CorruptModelFileError, match="lacks the tensor 'pooler.bias'"):
        engine.load_model(model_dir, device="cpu")


def test_an_import_hashes_each_weight_file_once(checkpoints, monkeypatch, tmp_path):
    from engine.models.importer import import_model
    from engine.runtime import graph_cache

    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))  # a store of its own
    hashed = []
    real = graph_cache.file_digest

    def spy(path, digest=None):
        hashed.append(Path(path).name)
        return real(path, digest)

    monkeypatch.setattr(graph_cache, "file_digest", spy)
    model = import_model(checkpoints("qa"), "qa", model_id="local/qa")
    assert hashed.count("model.safetensors") == 1
    hashed.clear()
    out = engine.load_model(model.path, device="cpu")(np.array([[2, 9, 3]]))
    assert hashed == [] and out["start_logits"].shape == (1, 3)  # the store's record is the key


def _imports_the_store(node) -> bool:
    return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine.models") \
        or isinstance(node, ast.Import) and any(a.name.startswith("engine.models")
                                                for a in node.names)


def test_the_runtime_reaches_the_store_in_one_place():
    everywhere, in_functions = 0, []
    for path in sorted((REPO / "engine" / "runtime").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        everywhere += sum(map(_imports_the_store, ast.walk(tree)))
        in_functions += [(path.name, f.name) for f in ast.walk(tree)
                         if isinstance(f, ast.FunctionDef)
                         and any(map(_imports_the_store, ast.walk(f)))]
    assert everywhere == 1 and in_functions == [("loaded_model.py", "resolve_model_dir")]
    code = ("import sys, engine.runtime.loaded_model, engine.runtime.onnx_backend, "
            "engine.runtime.graph_cache; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.models')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
