"""The converted-graph cache: verified before use, rebuilt when damaged or tampered with, keyed by
the weights' content, cleaned of dead conversions' files, and forgotten with the model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import engine
from engine import paths
from engine.errors import DeviceError
from engine.runtime import graph_cache, onnx_backend
from tests import checkpoint_factory as factory

ROOT = Path(__file__).resolve().parents[1]
IDS = np.array([[2, 10, 11, 12, 13, 3]])


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """A cache of our own, so graphs built by other tests do not count."""
    home = tmp_path / "home"
    monkeypatch.setenv("ALBERT_LENS_HOME", str(home))
    return home


@pytest.fixture
def model_dir(checkpoints, tmp_path):
    return factory.copy_checkpoint(checkpoints("sequence"), tmp_path / "model")


def logits(model_dir, **kwargs) -> np.ndarray:
    return engine.load_model(model_dir, device="cpu", **kwargs)(IDS)["logits"]


def graph_of(model_dir, **kwargs) -> Path:
    return engine.load_model(model_dir, device="cpu", **kwargs)._backend.graph_path


def no_rebuild(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("graph rebuilt although a good one is cached")

    monkeypatch.setattr(onnx_backend, "build_graph", refuse)


def rewrite_in_place(path: Path, data: bytes) -> None:
    """New bytes of the same length, with the old size, atime and mtime put back."""
    before = path.stat()
    assert len(data) == before.st_size
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def changed_weights(path: Path) -> bytes:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    tensors["classifier.bias"] = tensors["classifier.bias"] + 1.0
    tmp = path.with_name("changed.safetensors")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    data = tmp.read_bytes()
    tmp.unlink()
    return data


# --- verification -----------------------------------------------------------------------------------
def test_graph_has_a_sidecar_with_its_sha256(fresh_home, model_dir):
    graph = graph_of(model_dir)
    record = json.loads(graph_cache.sidecar_path(graph).read_text())
    assert record["sha256"] == hashlib.sha256(graph.read_bytes()).hexdigest()
    assert record["size"] == graph.stat().st_size
    assert record["weights"] == [hashlib.sha256((model_dir / "model.safetensors").read_bytes())
                                 .hexdigest()]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no-sidecar", "bad-sidecar"])
def test_damaged_graph_is_rebuilt(fresh_home, model_dir, damage):
    want = logits(model_dir)
    graph = graph_of(model_dir)
    if damage == "truncated":
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif damage == "garbage":
        graph.write_bytes(os.urandom(graph.stat().st_size))
    elif damage == "no-sidecar":
        graph_cache.sidecar_path(graph).unlink()
    else:
        graph_cache.sidecar_path(graph).write_text("{not json")
    np.testing.assert_allclose(logits(model_dir), want, rtol=1e-5, atol=1e-6)
    record = json.loads(graph_cache.sidecar_path(graph).read_text())
    assert record["sha256"] == hashlib.sha256(graph.read_bytes()).hexdigest()


def test_tampered_graph_is_not_used(fresh_home, model_dir):
    want = logits(model_dir)
    graph = graph_of(model_dir)
    proto = onnx.load(str(graph))
    # A valid graph with one weight changed: it would open and run, with other answers.
    init = next(i for i in proto.graph.initializer if i.name.startswith("classifier"))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 5.0, init.name))
    onnx.save(proto, str(graph))
    assert not np.allclose(
        onnx_backend.OnnxBackend(graph, engine.runtime.providers.choose_provider("cpu"))
        .run({"input_ids": IDS, "attention_mask": np.ones_like(IDS),
              "token_type_ids": np.zeros_like(IDS)}, ["logits"])[0], want)
    np.testing.assert_allclose(logits(model_dir), want, rtol=1e-5, atol=1e-6)


def test_damaged_int8_graph_is_rebuilt(fresh_home, model_dir):
    want = logits(model_dir, precision="int8")
    graph = graph_of(model_dir, precision="int8")
    graph.write_bytes(graph.read_bytes()[:1000])
    np.testing.assert_allclose(logits(model_dir, precision="int8"), want, rtol=1e-5, atol=1e-6)


def test_good_graph_is_reused_and_rehashed_only_when_touched(fresh_home, model_dir, monkeypatch):
    graph = graph_of(model_dir)
    no_rebuild(monkeypatch)
    hashed = []
    real = graph_cache.file_digest
    monkeypatch.setattr(graph_cache, "file_digest", lambda p: hashed.append(p) or real(p))
    assert graph_of(model_dir) == graph
    assert hashed == []  # untouched since it was written and verified
    # Written to in place with its old size and mtime put back: checked again (and still good).
    rewrite_in_place(graph, graph.read_bytes())
    assert graph_of(model_dir) == graph
    assert hashed == [graph]
    assert graph_of(model_dir) == graph
    assert hashed == [graph]  # its new identity was recorded


def test_graph_onnxruntime_refuses_is_converted_again_once(fresh_home, model_dir, monkeypatch):
    want = logits(model_dir)
    real = onnx_backend.OnnxBackend._open
    calls = []

    def refuse_once(self, provider):
        calls.append(provider)
        if len(calls) == 1:
            raise onnx_backend.GraphOpenError("The converted model x.onnx cannot be opened (no).")
        return real(self, provider)

    monkeypatch.setattr(onnx_backend.OnnxBackend, "_open", refuse_once)
    np.testing.assert_allclose(logits(model_dir), want, rtol=1e-5, atol=1e-6)
    assert len(calls) == 2


# --- keyed by content -------------------------------------------------------------------------------
def test_weights_rewritten_in_place_with_same_size_and_mtime_get_a_new_graph(fresh_home, model_dir):
    before = logits(model_dir)
    weights = model_dir / "model.safetensors"
    rewrite_in_place(weights, changed_weights(weights))
    after = logits(model_dir)
    reference = engine.load_model(model_dir, device="cpu", backend="torch")(IDS)["logits"]
    np.testing.assert_allclose(after, reference, rtol=1e-4, atol=1e-5)
    assert not np.allclose(after, before)


def write_store_record(model_dir: Path) -> None:
    """The `files` part of the store's albert-lens.json, as an install writes it (last)."""
    files = {p.name: {"size": p.stat().st_size,
                      "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in model_dir.iterdir() if p.is_file()}
    (model_dir / "albert-lens.json").write_text(json.dumps({"format": 1, "files": files}))


def test_installed_model_uses_the_recorded_hash_until_a_file_changes(fresh_home, model_dir,
                                                                     monkeypatch):
    paths.models_dir().mkdir(parents=True)  # only a store folder's record counts
    model_dir = model_dir.rename(paths.models_dir() / model_dir.name)
    time.sleep(0.01)
    write_store_record(model_dir)
    hashed = []
    real = graph_cache.file_sha256
    monkeypatch.setattr(graph_cache, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    before = logits(model_dir)
    assert hashed == []  # the record's sha256 was the key: the weights were not hashed again
    graph = graph_of(model_dir)
    record = json.loads(graph_cache.sidecar_path(graph).read_text())
    stored = json.loads((model_dir / "albert-lens.json").read_text())["files"]
    assert record["weights"] == [stored["model.safetensors"]["sha256"]]
    # Rewritten in place after the record: the record no longer vouches for it.
    weights = model_dir / "model.safetensors"
    time.sleep(0.01)
    rewrite_in_place(weights, changed_weights(weights))
    after = logits(model_dir)
    assert hashed == ["model.safetensors"]
    assert not np.allclose(after, before)


# --- temporary files --------------------------------------------------------------------------------
def test_an_interrupted_conversion_leaves_nothing_behind_for_long(fresh_home, model_dir):
    # A process killed while writing the graph (before its rename) leaves its temporary file.
    code = (
        "import os, engine\n"
        "from engine.runtime import graph_cache\n"
        "real = os.replace\n"
        "def die(src, dst):\n"
        "    if str(dst).endswith('.onnx'):\n"
        "        os._exit(3)\n"
        "    return real(src, dst)\n"
        "graph_cache.os.replace = die\n"
        f"engine.load_model({str(model_dir)!r}, device='cpu')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False, env=dict(os.environ))
    assert result.returncode == 3, result.stderr[-2000:]
    cache = paths.graph_cache_dir()
    left = [p.name for p in cache.iterdir() if p.name.startswith(".tmp-")]
    assert left and not list(cache.glob("albert-*.onnx"))
    logits(model_dir)  # the next use cleans up after the dead conversion
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
    assert len(list(cache.glob("albert-*-fp32.onnx"))) == 1


def test_stale_temporary_files_go_and_live_ones_stay(fresh_home, model_dir):
    from filelock import FileLock

    cache = paths.graph_cache_dir()
    cache.mkdir(parents=True)
    dead = cache / ".tmp-0123abcd-x1y2.tmp"
    dead.write_bytes(b"half a graph")
    dead_dir = cache / ".tmp-0123abcd-dir"
    dead_dir.mkdir()
    (dead_dir / "int8.onnx").write_bytes(b"half")
    live = cache / ".tmp-4567cdef-a1b2.tmp"
    live.write_bytes(b"being written")
    old_layout = cache / ".albert-89ab-fp32.onnx.k3j4.tmp"
    old_layout.write_bytes(b"old")
    hour_ago = time.time() - 2 * graph_cache.LEGACY_TEMP_SECONDS
    os.utime(old_layout, (hour_ago, hour_ago))
    recent_old_layout = cache / ".albert-cdef-fp32.onnx.m5n6.tmp"
    recent_old_layout.write_bytes(b"maybe someone's")
    with FileLock(str(cache / ".lock-4567cdef")):  # a conversion of that key is running
        logits(model_dir)
        assert live.exists() and recent_old_layout.exists()
        assert not dead.exists() and not dead_dir.exists() and not old_layout.exists()
    graph_cache.clean_stale_temps()
    assert not live.exists()


def test_a_cached_load_cleans_up_too(fresh_home, model_dir, monkeypatch):
    graph_of(model_dir)
    no_rebuild(monkeypatch)
    dead = paths.graph_cache_dir() / ".tmp-feedbeef-q9w8.tmp"
    dead.write_bytes(b"half a graph")
    graph_of(model_dir)
    assert not dead.exists()


# --- forgetting a removed model's graphs ------------------------------------------------------------
def test_forget_model_deletes_only_that_models_graphs(fresh_home, checkpoints, tmp_path):
    mine = factory.copy_checkpoint(checkpoints("sequence"), tmp_path / "mine")
    other = factory.copy_checkpoint(checkpoints("qa"), tmp_path / "other")
    mine_graphs = [graph_of(mine), graph_of(mine, precision="int8")]
    other_graph = graph_of(other)
    sha = hashlib.sha256((mine / "model.safetensors").read_bytes()).hexdigest()
    assert graph_cache.forget_model(["f" * 64]) == 0
    assert graph_cache.forget_model([sha]) == 2
    for graph in mine_graphs:
        assert not graph.exists() and not graph_cache.sidecar_path(graph).exists()
    assert other_graph.exists() and graph_cache.verified_graph(
        other_graph.name.split("-")[1], "fp32") == other_graph


# --- settings and permissions -----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["abc", "-2", "1.5", "99999"])
def test_bad_thread_count_names_the_variable(fresh_home, model_dir, monkeypatch, value):
    monkeypatch.setenv("ALBERT_LENS_THREADS", value)
    with pytest.raises(DeviceError) as info:
        engine.load_model(model_dir, device="cpu")
    message = str(info.value)
    assert "\n" not in message and "cache" not in message
    assert message.startswith(f"ALBERT_LENS_THREADS='{value}' is not a thread count")
    assert "1 to 1024" in message


@pytest.mark.parametrize("value", ["", "0", "2", " 3 "])
def test_good_thread_counts(fresh_home, model_dir, monkeypatch, value):
    monkeypatch.setenv("ALBERT_LENS_THREADS", value)
    assert logits(model_dir).shape == (1, 2)


def test_unreadable_weights_say_permission_denied(fresh_home, model_dir, tmp_path, monkeypatch,
                                                  capsys):
    from engine.cli import main

    weights = model_dir / "model.safetensors"
    weights.chmod(0)
    if os.access(weights, os.R_OK):  # root reads anything: make the OS answer as for a user
        import builtins

        real_open = builtins.open

        def guarded(file, *args, **kwargs):
            if Path(str(file)).resolve() == weights.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded)
    doc = tmp_path / "doc.txt"
    doc.write_text("A calm and pleasant day.\n", encoding="utf-8")
    try:
        code = main(["analyze", str(doc), "--task", "sentiment", "--model", str(model_dir)])
    finally:
        weights.chmod(0o644)
    _, err = capsys.readouterr()
    assert code != 0
    assert f"cannot read {weights.resolve()}: permission denied." in err
    assert "unexpected" not in err and err.strip().count("\n") == 0
