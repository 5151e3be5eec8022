"""A pytorch_model.bin is read once (issue 14): import and download install its tensors as
model.safetensors, and no later load of the installed model opens a pickle."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import paths
from engine.albert import torch_pickle, weights
from engine.errors import ModelError
from engine.models import store
from engine.models.importer import import_model
from tests import checkpoint_factory as factory
from tests.test_models_download import fetch, home, hub, online  # noqa: F401  (fixtures)

torch = pytest.importorskip("torch")

TEXT = "Alice Smith met Bob Jones in Paris on Monday."


class Reads(list):
    """Names of the pickles read; after `forbid()` any read fails the test."""

    allowed = True

    def forbid(self) -> None:
        self.allowed = False


@pytest.fixture
def pickle_reads(monkeypatch) -> Reads:
    reads = Reads()
    real = torch_pickle.load_torch_checkpoint

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        assert reads.allowed, f"{path} was read again after the model was installed"
        return real(path, *args, **kwargs)

    monkeypatch.setattr(torch_pickle, "load_torch_checkpoint", counted)
    if hasattr(weights, "load_torch_checkpoint"):  # should weights.py import it at the top
        monkeypatch.setattr(weights, "load_torch_checkpoint", counted)
    return reads


def reference_logits(source: Path, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return factory.hf_model(source)(torch.from_numpy(ids)).logits.numpy()


def assert_installed_as_safetensors(model, source_bin: Path) -> None:
    names = {p.name for p in model.path.iterdir()}
    assert "model.safetensors" in names
    assert not {n for n in names if "pytorch_model" in n or n.endswith(".part")}
    data = (model.path / "model.safetensors").read_bytes()
    assert model.files["model.safetensors"] == {
        "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not any("pytorch_model" in n for n in model.files)
    # The same tensors under the checkpoint's own names, dtypes kept.
    from safetensors.numpy import load_file

    got = load_file(str(model.path / "model.safetensors"))
    want = torch.load(source_bin, weights_only=True)
    assert set(got) == set(want)
    for name, tensor in want.items():
        assert got[name].dtype == tensor.numpy().dtype, name
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


def forget_graphs() -> None:
    """So the next load builds its graph from the installed weights."""
    shutil.rmtree(paths.graph_cache_dir(), ignore_errors=True)


def test_import_reads_the_pickle_once(checkpoints, pickle_reads):
    source = checkpoints("token", safe=False)
    ids = np.array([[2, 15, 16, 17, 3]])
    want = reference_logits(source, ids)
    twin = engine.pipeline("ner", model=checkpoints("token", safe=True), device="cpu")(TEXT)

    model = import_model(source, "ner", model_id="local/ner")

    assert pickle_reads == ["pytorch_model.bin"]  # the check's read, then never again
    assert_installed_as_safetensors(model, source / "pytorch_model.bin")
    pickle_reads.forbid()
    forget_graphs()
    loaded = engine.load_model("local/ner", device="cpu")
    np.testing.assert_allclose(loaded(ids)["logits"], want, atol=1e-4, rtol=1e-4)
    # The pipeline on the installed model finds what it finds on the safetensors twin (the
    # factory saves the same seeded weights in both formats).
    assert engine.pipeline("ner", model="local/ner", device="cpu")(TEXT) == twin
    assert pickle_reads == ["pytorch_model.bin"]


def test_download_reads_the_pickle_once(hub, checkpoints, pickle_reads, home):  # noqa: F811
    source = checkpoints("qa", safe=False)
    hub.add_repo("tester/tiny-qa-bin", source)
    ids = np.array([[2, 10, 11, 12, 3]])
    with torch.no_grad():
        want = factory.hf_model(source)(torch.from_numpy(ids)).start_logits.numpy()

    model = fetch("tester/tiny-qa-bin", convert=True)

    assert pickle_reads == ["pytorch_model.bin"]
    assert_installed_as_safetensors(model, source / "pytorch_model.bin")
    leftovers = [p.name for p in store.downloads_dir().iterdir() if p.suffix != ".lock"]
    assert leftovers == []  # the pickle went back to staging, and staging is gone
    pickle_reads.forbid()
    forget_graphs()
    loaded = engine.load_model("tester/tiny-qa-bin", device="cpu")
    np.testing.assert_allclose(loaded(ids)["start_logits"], want, atol=1e-4, rtol=1e-4)


def test_a_download_that_fails_to_convert_keeps_the_pickle_for_the_next_try(
        hub, checkpoints, home, monkeypatch):  # noqa: F811
    hub.add_repo("tester/tiny-qa-bin", checkpoints("qa", safe=False))
    import engine.runtime.onnx_backend as backend

    real = backend.converted_graph

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backend, "converted_graph", disk_full)
    with pytest.raises(ModelError, match="space"):
        fetch("tester/tiny-qa-bin", convert=True)
    assert store.list_installed() == []
    staged = [p.name for p in store.downloads_dir().rglob("*") if p.is_file()]
    assert "pytorch_model.bin" in staged and "model.safetensors" not in staged
    monkeypatch.setattr(backend, "converted_graph", real)
    model = fetch("tester/tiny-qa-bin", convert=True)
    assert len(hub.file_requests("pytorch_model.bin")) == 1  # not downloaded again
    assert "model.safetensors" in model.files and "pytorch_model.bin" not in model.files


def test_a_sharded_pickle_becomes_one_safetensors_file(checkpoints, tmp_path, pickle_reads):
    source = factory.copy_checkpoint(checkpoints("encoder", safe=False), tmp_path / "sharded")
    state = torch.load(source / "pytorch_model.bin", weights_only=True)
    (source / "pytorch_model.bin").unlink()
    names = sorted(state)
    halves = {"pytorch_model-00001-of-00002.bin": names[::2],
              "pytorch_model-00002-of-00002.bin": names[1::2]}
    for shard, keys in halves.items():
        torch.save({k: state[k] for k in keys}, source / shard)
    (source / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: s for s, keys in halves.items() for k in keys}}))

    model = import_model(source, "embeddings", model_id="local/sharded", convert=False)

    assert sorted(pickle_reads) == sorted(halves)
    assert {p.name for p in model.path.iterdir()} >= {"model.safetensors", "config.json"}
    assert not [p for p in model.path.iterdir() if "pytorch_model" in p.name]
    from safetensors.numpy import load_file

    got = load_file(str(model.path / "model.safetensors"))
    assert sorted(got) == names
    for name in names:
        np.testing.assert_array_equal(got[name], state[name].numpy(), err_msg=name)


def test_safetensors_is_preferred_when_both_are_there(checkpoints, tmp_path, pickle_reads):
    folder = factory.copy_checkpoint(checkpoints("qa"), tmp_path / "both")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02cposix\nsystem\n.")  # never opened
    pickle_reads.forbid()
    assert weights.weight_files(folder) == [folder / "model.safetensors"]
    assert set(weights.read_state_dict(folder)) == set(
        weights.read_state_dict(checkpoints("qa")))


def test_a_full_disk_while_writing_the_safetensors_installs_nothing(checkpoints, monkeypatch):
    import safetensors.numpy

    def full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    with pytest.raises(ModelError) as info:
        import_model(checkpoints("token", safe=False), "ner", model_id="local/ner",
                     convert=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("Not enough disk space in ")
    assert store.list_installed() == []
    assert not list(paths.models_dir().glob(".tmp-*"))


@pytest.mark.parametrize("shard", ["model 1.safetensors", ".model.safetensors", "m\u00e9.safetensors"])
def test_one_shard_index_rule_for_import_download_and_load(checkpoints, tmp_path, shard):
    # The importer, the download and the weights loader read an index with one function, with
    # the strictest rules each had: plain ASCII file names, no dot files, inside the folder.
    from engine.errors import UnsafeModelFileError
    from engine.models import download, importer

    assert importer.shard_names is weights.shard_names is download.shard_names
    folder = factory.copy_checkpoint(checkpoints("encoder"), tmp_path / "m")
    keys = list(weights.read_state_dict(folder))
    os.replace(folder / "model.safetensors", folder / shard)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": dict.fromkeys(keys, shard)}))
    with pytest.raises(UnsafeModelFileError, match="odd shard file"):
        weights.weight_files(folder)
    with pytest.raises(UnsafeModelFileError, match="odd shard file"):
        import_model(folder, "embeddings", model_id="local/odd", convert=False)
