"""The ALBERT network on both backends against transformers 4.57 on tiny real checkpoints."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import engine
from engine.albert.config import AlbertConfig
from engine.albert.weights import load_weights, read_state_dict
from engine.errors import (
    CorruptModelFileError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from tests import checkpoint_factory as factory

REPO = Path(__file__).resolve().parents[1]


def _padded_batch(vocab: int, seed: int = 0):
    """Three rows of different lengths with pairs, as a tokenizer would pad them."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (3, 21))
    mask = np.ones_like(ids)
    mask[1, 13:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    types = np.zeros_like(ids)
    types[0, 9:] = 1
    types[1, 7:13] = 1
    return ids, mask, types


def _reference(model_dir, ids, mask, types):
    hf = factory.hf_model(model_dir)
    with torch.no_grad():
        out = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                 token_type_ids=torch.tensor(types), output_hidden_states=True)
    ref = {k: v.numpy() for k, v in out.items() if k in ("logits", "start_logits", "end_logits",
                                                         "last_hidden_state", "pooler_output")}
    ref.setdefault("last_hidden_state", out.hidden_states[-1].numpy())
    return ref


@pytest.mark.parametrize("backend", ["onnx", "torch"])
@pytest.mark.parametrize("shape", ["plain", "grouped"])
@pytest.mark.parametrize("head", factory.HEADS)
def test_outputs_match_transformers(checkpoints, head, shape, backend):
    model_dir = checkpoints(head, shape)
    config = AlbertConfig.from_pretrained(model_dir)
    ids, mask, types = _padded_batch(config.vocab_size)
    ref = _reference(model_dir, ids, mask, types)
    model = engine.load_model(model_dir, device="cpu", backend=backend)
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
    expected = {"encoder": {"last_hidden_state", "pooler_output"},
                "qa": {"start_logits", "end_logits"}, "token": {"logits"},
                "sequence": {"logits"}}[head]
    assert expected <= set(out)
    for name in set(out) & set(ref):
        # Padded positions too: both sides mask keys the same way, so every row is defined.
        np.testing.assert_allclose(out[name], ref[name], atol=1e-4, rtol=1e-4, err_msg=name)
    assert model.head == head


@pytest.mark.parametrize("head", ["qa", "token"])
def test_checkpoint_without_pooler_as_encoder(checkpoints, head):
    model_dir = checkpoints(head)
    ids, mask, types = _padded_batch(AlbertConfig.from_pretrained(model_dir).vocab_size)
    ref = _reference(model_dir, ids, mask, types)
    model = engine.load_model(model_dir, head="encoder")
    assert model.output_names == ["last_hidden_state"]
    out = model(ids, mask, types)
    np.testing.assert_allclose(out["last_hidden_state"], ref["last_hidden_state"], atol=1e-4)


def test_labels_come_from_config(checkpoints):
    model = engine.load_model(checkpoints("token"))
    assert model.id2label == dict(enumerate(factory.CONLL_LABELS))


@pytest.mark.parametrize("activation", ["relu", "gelu_pytorch_tanh", "silu"])
def test_other_activations(tmp_path, spiece_path, activation):
    shape = dict(factory.TINY_CONFIGS["plain"], hidden_act=activation)
    model_dir = factory.build_checkpoint(tmp_path / activation, spiece_path, head="sequence",
                                         shape=shape, seed=5)
    ids, mask, types = _padded_batch(AlbertConfig.from_pretrained(model_dir).vocab_size)
    ref = _reference(model_dir, ids, mask, types)
    out = engine.load_model(model_dir)(ids, mask, types)
    np.testing.assert_allclose(out["logits"], ref["logits"], atol=1e-4, rtol=1e-4)


def test_pytorch_bin_twin_loads_identically(checkpoints):
    st_dir, bin_dir = checkpoints("qa", "grouped", safe=True), checkpoints("qa", "grouped", safe=False)
    assert (bin_dir / "pytorch_model.bin").is_file() and not (bin_dir / "model.safetensors").exists()
    config = AlbertConfig.from_pretrained(st_dir)
    a, b = load_weights(st_dir, config), load_weights(bin_dir, config)
    assert a.tensors.keys() == b.tensors.keys()
    for name in a.tensors:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    ids, mask, types = _padded_batch(config.vocab_size)
    out_st = engine.load_model(st_dir)(ids, mask, types)
    out_bin = engine.load_model(bin_dir)(ids, mask, types)
    for name in out_st:
        np.testing.assert_array_equal(out_st[name], out_bin[name])


def test_shared_layers_stored_once(checkpoints):
    model_dir = checkpoints("encoder", "grouped")
    config = AlbertConfig.from_pretrained(model_dir)
    model = engine.load_model(model_dir)
    graph = onnx.load(str(model._backend.graph_path)).graph
    attention_nodes = [n for n in graph.node if n.op_type == "Attention"]
    assert len(attention_nodes) == config.num_hidden_layers * config.inner_group_num
    qkv = {n.input[1] for n in attention_nodes}
    assert len(qkv) == config.num_hidden_groups * config.inner_group_num
    stored = sum(np.prod(t.dims) for t in graph.initializer)
    state = read_state_dict(model_dir)
    # Each checkpoint tensor at most once (plus a few scalar constants of the graph).
    assert stored <= sum(v.size for v in state.values()) + 16


def test_graph_cache_reused_and_keyed_by_weights(checkpoints, tmp_path, monkeypatch):
    import shutil

    from engine.runtime import onnx_backend

    model_dir = tmp_path / "copy"
    shutil.copytree(checkpoints("sequence"), model_dir)
    first = engine.load_model(model_dir)
    path = first._backend.graph_path
    assert path.is_file() and path.is_relative_to(Path(os.environ["ALBERT_LENS_HOME"]))

    def no_rebuild(*a, **k):
        raise AssertionError("graph rebuilt although cached")

    monkeypatch.setattr(onnx_backend, "build_graph", no_rebuild)
    assert engine.load_model(model_dir)._backend.graph_path == path
    # Different weights -> different key -> a rebuild is attempted.
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    tensors["classifier.bias"] = tensors["classifier.bias"] + 1.0
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(AssertionError, match="rebuilt"):
        engine.load_model(model_dir)
    assert not list(path.parent.glob("*.tmp"))


def test_cached_model_runs_without_torch(checkpoints):
    model_dir = checkpoints("qa")
    engine.load_model(model_dir)  # make sure the graph is cached
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('torch', 'transformers'):
                    raise ImportError('blocked ' + name)
        sys.meta_path.insert(0, Block())
        import numpy as np, engine
        m = engine.load_model({str(model_dir)!r})
        out = m(np.array([[2, 10, 11, 3]]))
        assert out['start_logits'].shape == (1, 4)
        assert 'torch' not in sys.modules and 'transformers' not in sys.modules
        print('ok', m.device.provider)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok CPUExecutionProvider")


def test_int8_is_quantized_and_close_to_fp32(checkpoints):
    model_dir = checkpoints("token", "grouped")
    ids, mask, types = _padded_batch(AlbertConfig.from_pretrained(model_dir).vocab_size)
    fp32 = engine.load_model(model_dir)
    int8 = engine.load_model(model_dir, precision="int8")
    graph = onnx.load(str(int8._backend.graph_path)).graph
    assert any(n.op_type in ("QAttention", "DynamicQuantizeMatMul", "MatMulInteger")
               for n in graph.node)
    assert int8._backend.graph_path.stat().st_size < fp32._backend.graph_path.stat().st_size
    a = fp32(ids, mask, types)["logits"][mask == 1]
    b = int8(ids, mask, types)["logits"][mask == 1]
    cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert cosine.min() > 0.98
    assert (a.argmax(-1) == b.argmax(-1)).mean() > 0.9


def test_run_sequences_pads_per_batch(checkpoints):
    model = engine.load_model(checkpoints("token"))
    rng = np.random.default_rng(1)
    lengths = [3, 50, 7, 49, 12, 5, 48, 30, 2, 51]
    seqs = [list(rng.integers(5, model.config.vocab_size, n)) for n in lengths]
    model.padded_tokens = 0
    results = model.run_sequences(seqs, max_batch_tokens=110)
    assert model.padded_tokens <= 1.2 * sum(lengths)
    for seq, res in zip(seqs, results):
        alone = model(np.array([seq]))
        assert res["logits"].shape == (len(seq), 9)
        np.testing.assert_allclose(res["logits"], alone["logits"][0], atol=1e-5)


def test_run_sequences_cancel_and_progress(checkpoints):
    from engine.errors import Cancelled

    model = engine.load_model(checkpoints("sequence"))
    seen = []
    model.run_sequences([[2, 9, 3]] * 5, max_batch_size=2, progress=lambda d, t: seen.append(d))
    assert seen == [2, 4, 5]
    with pytest.raises(Cancelled):
        model.run_sequences([[2, 9, 3]] * 5, cancel=lambda: True)


def test_input_validation(checkpoints):
    model = engine.load_model(checkpoints("encoder"))
    with pytest.raises(ValueError, match="longer than"):
        model(np.zeros((1, model.max_length + 1), dtype=np.int64))
    with pytest.raises(ValueError, match="token ids"):
        model(np.array([[2, model.config.vocab_size]]))
    with pytest.raises(ValueError, match="no output"):
        model(np.array([[2, 3]]), outputs=["logits"])
    assert set(model(np.array([2, 9, 3]), outputs=["pooler_output"])) == {"pooler_output"}


def test_missing_and_foreign_models(tmp_path, checkpoints):
    with pytest.raises(ModelNotFoundError, match="No model folder"):
        engine.load_model(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        engine.load_model(empty)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UnsupportedModelError, match="ALBERT"):
        engine.load_model(bert)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(checkpoints("encoder"), broken)
    config = json.loads((broken / "config.json").read_text())
    config["hidden_size"] = 64
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptModelFileError, match="shape"):
        engine.load_model(broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CorruptModelFileError):
        engine.load_model(broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="No weights"):
        engine.load_model(broken)


def test_cpu_runs_a_big_batch_in_row_chunks_with_identical_outputs(checkpoints, monkeypatch):
    from engine.runtime import onnx_backend

    model = engine.load_model(checkpoints("qa"), device="cpu")
    rng = np.random.default_rng(3)
    ids = rng.integers(5, model.config.vocab_size, (7, 12))
    mask = np.ones_like(ids)
    mask[2, 5:] = 0
    mask[6, 1:] = 0
    types = np.zeros_like(ids)
    types[:, 8:] = 1
    session = model._backend.session
    whole = dict(zip(model.output_names, session.run(
        model.output_names, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})))
    calls = []
    real_run = session.run

    class CountingSession:
        def run(self, names, feeds):
            calls.append(feeds["input_ids"].shape)
            return real_run(names, feeds)

    monkeypatch.setattr(model._backend, "session", CountingSession())
    monkeypatch.setattr(onnx_backend, "CPU_RUN_TOKENS", 30)  # two rows of 12 per run
    chunked = model(ids, mask, types)
    assert calls == [(2, 12), (2, 12), (2, 12), (1, 12)]
    for name in model.output_names:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=0, atol=1e-6)
