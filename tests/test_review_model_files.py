"""Review fixes: model-folder files that escaped the typed, bounded readers (engine.albert,
engine.runtime)."""

import os
import shutil

import pytest

import engine
from engine.albert import weights
from engine.errors import CorruptModelFileError, StoreError
from engine.runtime import graph_cache


def _sharded_copy(src, dst):
    """`src` with its weights as one shard behind a model.safetensors.index.json."""
    shutil.copytree(src, dst)
    os.replace(dst / "model.safetensors", dst / "model-00001-of-00001.safetensors")
    return dst


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message
    return message


def test_deeply_nested_shard_index_is_a_typed_error(checkpoints, tmp_path):
    folder = _sharded_copy(checkpoints("encoder"), tmp_path / "model")
    depth = 100_000  # json.loads recurses once per level: RecursionError without the budget
    (folder / weights.SAFETENSORS_INDEX).write_text(
        '{"weight_map": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(CorruptModelFileError) as info:
        weights.weight_files(folder)
    message = _one_line(info.value)
    assert weights.SAFETENSORS_INDEX in message and "deeper than" in message
    with pytest.raises(CorruptModelFileError):
        engine.load_model(folder, device="cpu")


def test_oversized_shard_index_is_refused_unread(checkpoints, tmp_path):
    folder = _sharded_copy(checkpoints("encoder"), tmp_path / "model")
    index = folder / weights.SAFETENSORS_INDEX
    with open(index, "wb") as fh:
        fh.truncate(5 << 20)  # sparse: 5 MiB that take no disk
    with pytest.raises(CorruptModelFileError) as info:
        weights.weight_files(folder)
    message = _one_line(info.value)
    assert f"{5 << 20:,} bytes" in message and "at most" in message


def test_sharded_checkpoint_still_loads(checkpoints, tmp_path):
    folder = _sharded_copy(checkpoints("encoder"), tmp_path / "model")
    name = "model-00001-of-00001.safetensors"
    keys = weights.read_state_dict(checkpoints("encoder")).keys()
    (folder / weights.SAFETENSORS_INDEX).write_text(
        '{"metadata": {}, "weight_map": {' + ", ".join(f'"{k}": "{name}"' for k in keys) + "}}")
    assert weights.weight_files(folder) == [(folder / name).resolve()]


def test_cache_folder_that_is_a_file_is_a_store_error(checkpoints, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("not a folder")
    monkeypatch.setenv("ALBERT_LENS_HOME", str(home))
    with pytest.raises(StoreError) as info:
        engine.load_model(checkpoints("encoder"), device="cpu")
    message = _one_line(info.value)
    assert str(home / "cache") in message and "is a file, not a folder" in message


def test_full_disk_while_caching_a_graph_is_a_store_error(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))

    def full(path, data, prefix=None):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(graph_cache, "atomic_write_bytes", full)
    with pytest.raises(StoreError) as info:
        engine.load_model(checkpoints("encoder"), device="cpu")
    assert "No space left" in _one_line(info.value)
    assert not list(graph_cache.paths.graph_cache_dir().glob("albert-*.onnx"))


def _sidecar_weights(model) -> list[str]:
    import json

    return json.loads(graph_cache.sidecar_path(model._backend.graph_path).read_text())["weights"]


def test_a_folder_outside_the_store_cannot_vouch_for_its_own_weights(checkpoints, tmp_path,
                                                                     monkeypatch):
    """An albert-lens.json that comes with a folder (not one the store wrote) could name another
    model's hashes and have its own graph cached under that model's key."""
    import hashlib
    import json

    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    folder = shutil.copytree(checkpoints("encoder"), tmp_path / "model")
    weights_file = folder / "model.safetensors"
    forged = hashlib.sha256(b"some other model's weights").hexdigest()
    meta = folder / "albert-lens.json"
    meta.write_text(json.dumps({"format": 1, "files": {
        "model.safetensors": {"size": weights_file.stat().st_size, "sha256": forged}}}))
    future = 4_000_000_000 * 10**9
    os.utime(meta, ns=(future, future))
    model = engine.load_model(folder, device="cpu")
    assert _sidecar_weights(model) == [hashlib.sha256(weights_file.read_bytes()).hexdigest()]


def test_a_deeply_nested_albert_lens_json_is_ignored(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    folder = shutil.copytree(checkpoints("encoder"), tmp_path / "model")
    (folder / "albert-lens.json").write_text("[" * 100_000 + "]" * 100_000)
    assert graph_cache.recorded_hashes(folder) == {}
    engine.load_model(folder, device="cpu")
