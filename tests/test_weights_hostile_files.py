"""Hostile and damaged weight files: refused on one line, within a budget, never a traceback."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.albert.config import AlbertConfig
from engine.albert.torch_pickle import load_torch_checkpoint
from engine.albert.weights import load_weights, read_state_dict, weight_budget
from engine.errors import CorruptModelFileError, UnsafeModelFileError
from tests import checkpoint_factory as factory

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def rezip(src: Path, dst: Path, method: int, members=("data/",), declare=None) -> Path:
    """A copy of a torch.save archive with the members whose names contain one of `members`
    compressed with `method`; `declare` maps a member to the file size its header claims."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            out.compress_type = (
                method if any(m in info.filename for m in members) else zipfile.ZIP_STORED
            )
            zout.writestr(out, data)
    return dst


def torch_bin(tmp_path: Path, tensors: dict, name: str = "pytorch_model.bin") -> Path:
    path = tmp_path / name
    torch.save(tensors, path)
    return path


# --- 1. zip members that zipfile would inflate in one call -----------------------------------------
@pytest.mark.parametrize("method,label", [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
@pytest.mark.parametrize("member", ["data/", "data.pkl", "byteorder"])
def test_bzip2_and_lzma_members_are_refused(tmp_path, method, label, member):
    src = torch_bin(tmp_path, {"w": torch.arange(6, dtype=torch.float32)}, "src.bin")
    path = rezip(src, tmp_path / "pytorch_model.bin", method, members=(member,))
    with pytest.raises(UnsafeModelFileError) as info:
        load_torch_checkpoint(path)
    message = one_line(info.value)
    assert "pytorch_model.bin" in message and label in message


def test_a_small_bzip2_bomb_is_refused_before_inflating(tmp_path):
    # A real 64 MiB storage is a few hundred bytes of bzip2; its declared size is the true one,
    # so no ratio check can catch it, and zipfile would inflate it in one call.
    src = torch_bin(tmp_path, {"w": torch.zeros(16 << 20)}, "src.bin")
    path = rezip(src, tmp_path / "bomb.bin", zipfile.ZIP_BZIP2)
    src.unlink()
    assert path.stat().st_size < 64 << 10
    with pytest.raises(UnsafeModelFileError, match="bomb.bin.*bzip2"):
        load_torch_checkpoint(path)


def test_deflate_members_still_load(tmp_path):
    tensors = {"w": torch.randn(5, 3), "b": torch.arange(4, dtype=torch.int64)}
    src = torch_bin(tmp_path, tensors, "src.bin")
    path = rezip(src, tmp_path / "deflated.bin", zipfile.ZIP_DEFLATED, members=("",))
    got = load_torch_checkpoint(path)
    for name, t in tensors.items():
        np.testing.assert_array_equal(got[name], t.numpy())


def with_member_stream(src: Path, dst: Path, member: str, stream: bytes) -> Path:
    """A copy of a stored-only archive whose `member` holds the raw deflate `stream`, while both
    its headers keep the declared size and CRC of the original bytes."""
    body = src.read_bytes()
    with zipfile.ZipFile(src) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member))
    start = info.header_offset
    name_len, extra_len = struct.unpack("<HH", body[start + 26:start + 30])
    data_at = start + 30 + name_len + extra_len
    local = bytearray(body[start:data_at])
    struct.pack_into("<H", local, 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", local, 18, len(stream))
    shift = len(stream) - info.compress_size
    new = bytearray(body[:start] + local + stream + body[data_at + info.compress_size:])
    # The central directory: patch this entry, move the offsets behind it.
    eocd = new.rfind(b"PK\x05\x06")
    (cd_off,) = struct.unpack("<I", new[eocd + 16:eocd + 20])
    struct.pack_into("<I", new, eocd + 16, cd_off + shift)
    pos = cd_off + shift
    while new[pos:pos + 4] == b"PK\x01\x02":
        n, e, c = struct.unpack("<HHH", new[pos + 28:pos + 34])
        (offset,) = struct.unpack("<I", new[pos + 42:pos + 46])
        if new[pos + 46:pos + 46 + n].decode() == info.filename:
            struct.pack_into("<H", new, pos + 10, zipfile.ZIP_DEFLATED)
            struct.pack_into("<I", new, pos + 20, len(stream))
        elif offset > start:
            struct.pack_into("<I", new, pos + 42, offset + shift)
        pos += 46 + n + e + c
    dst.write_bytes(bytes(new))
    return dst


@pytest.mark.parametrize("member", ["data.pkl", "data/0"])
def test_a_member_inflating_past_its_declared_size_is_read_only_that_far(tmp_path, member):
    # The headers declare the real bytes (and their CRC); the deflate stream goes on for 64 MiB.
    # Only the declared bytes may ever be inflated: reading must stay within a few MiB.
    import tracemalloc

    src = torch_bin(tmp_path, {"w": torch.zeros(4)}, "src.bin")
    stored = rezip(src, tmp_path / "stored.bin", zipfile.ZIP_STORED)
    with zipfile.ZipFile(stored) as zf:
        real = zf.read(next(n for n in zf.namelist() if n.endswith(member)))
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = packer.compress(real + bytes(64 << 20)) + packer.flush()
    path = with_member_stream(stored, tmp_path / "liar.bin", member, stream)
    assert path.stat().st_size < 1 << 20
    with zipfile.ZipFile(path) as zf:  # a well-formed archive that lies about one member
        assert zf.getinfo(next(n for n in zf.namelist() if n.endswith(member))).file_size == len(real)
    tracemalloc.start()
    try:
        got = load_torch_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got["w"], np.zeros(4, dtype=np.float32))
    assert peak < 8 << 20


# --- 2. files larger than the config's parameters can fill ----------------------------------------
def sparse_safetensors(path: Path, numel: int) -> Path:
    """A valid safetensors file of one float32 tensor of `numel` zeros, sparse on disk."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [numel], "data_offsets": [0, 4 * numel]}})
    header = header.encode() + b" " * (-len(header) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + 4 * numel)
    return path


def test_budget_follows_the_config(checkpoints):
    config = AlbertConfig.from_pretrained(checkpoints("qa"))
    state = read_state_dict(checkpoints("qa"))
    # Every real tensor fits, in float64 too; the budget is a few times the real size, not more.
    real = sum(v.size for v in state.values())
    assert 8 * real <= weight_budget(config) <= 8 * 4 * real


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_a_huge_sparse_weights_file_is_refused_unread(checkpoints, tmp_path, fmt, monkeypatch):
    model_dir = factory.copy_checkpoint(checkpoints("qa"), tmp_path / "m")
    (model_dir / "model.safetensors").unlink()
    if fmt == "safetensors":
        path = sparse_safetensors(model_dir / "model.safetensors", 64 << 20)  # 256 MiB
    else:
        path = model_dir / "pytorch_model.bin"
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04")
            fh.truncate(256 << 20)
    assert path.stat().st_blocks * 512 < 1 << 20  # sparse: nothing to fill the disk
    config = AlbertConfig.from_pretrained(model_dir)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    for load in (lambda: read_state_dict(model_dir), lambda: load_weights(model_dir, config),
                 lambda: engine.load_model(model_dir, device="cpu")):
        with pytest.raises(CorruptModelFileError) as info:
            load()
        message = one_line(info.value)
        assert path.name in message and "larger than a checkpoint of this config" in message
    assert str(path) not in opened  # neither read nor hashed


def test_a_pickle_declaring_more_than_the_config_allows_is_refused(checkpoints, tmp_path):
    # 64 MiB of zeros deflates to 64 kB: the file is small, what it declares is not.
    model_dir = factory.copy_checkpoint(checkpoints("qa", safe=False), tmp_path / "m")
    src = torch_bin(tmp_path, {"w": torch.zeros(16 << 20)}, "src.bin")
    rezip(src, model_dir / "pytorch_model.bin", zipfile.ZIP_DEFLATED)
    assert (model_dir / "pytorch_model.bin").stat().st_size < 1 << 20
    with pytest.raises(CorruptModelFileError, match="pytorch_model.bin declares more than"):
        read_state_dict(model_dir)


def test_hard_cap_without_a_config(tmp_path):
    sparse_safetensors(tmp_path / "model.safetensors", 1 << 20)
    assert read_state_dict(tmp_path)["w"].shape == (1 << 20,)  # no config.json: the hard cap only


def test_memory_error_while_reading_is_one_line(checkpoints, tmp_path):
    # Under a 1 GiB address-space limit a 4 GiB sparse tensor that passes the budget (here: no
    # config, so only the 8 GiB cap) meets MemoryError inside safetensors: one line, no traceback.
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is Linux-only")
    sparse_safetensors(tmp_path / "model.safetensors", 1 << 30)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from engine.albert.weights import read_state_dict\n"
        "from engine.errors import CorruptModelFileError\n"
        "try:\n"
        f"    read_state_dict({str(tmp_path)!r})\n"
        "except CorruptModelFileError as exc:\n"
        "    print('refused:', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("refused: model.safetensors")
    assert result.stdout.count("\n") == 1


# --- 4. NaN and infinite weights --------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_non_finite_weights_are_refused_at_conversion(checkpoints, tmp_path, value, fmt):
    from safetensors.numpy import load_file, save_file

    src = checkpoints("qa")
    model_dir = factory.copy_checkpoint(src, tmp_path / "m")
    tensors = load_file(str(model_dir / "model.safetensors"))
    name = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"
    tensors[name] = tensors[name].astype(np.float64)
    tensors[name][3, 5] = value
    (model_dir / "model.safetensors").unlink()
    if fmt == "safetensors":
        save_file(tensors, str(model_dir / "model.safetensors"))
        filename = "model.safetensors"
    else:
        torch.save({k: torch.from_numpy(v) for k, v in tensors.items()},
                   model_dir / "pytorch_model.bin")
        filename = "pytorch_model.bin"
    config = AlbertConfig.from_pretrained(model_dir)
    for load in (lambda: load_weights(model_dir, config),
                 lambda: engine.load_model(model_dir, device="cpu")):
        with pytest.raises(CorruptModelFileError) as info:
            load()
        message = one_line(info.value)
        assert message.startswith(f"{filename}: the tensor '{name}' holds NaN or infinite")


def test_all_nan_checkpoint_never_reaches_json(checkpoints, tmp_path, capsys):
    from safetensors.numpy import load_file, save_file

    from engine.cli import main

    model_dir = factory.copy_checkpoint(checkpoints("sequence"), tmp_path / "m")
    tensors = load_file(str(model_dir / "model.safetensors"))
    save_file({k: np.full_like(v, np.nan) for k, v in tensors.items()},
              str(model_dir / "model.safetensors"))
    doc = tmp_path / "doc.txt"
    doc.write_text("A calm and pleasant day.\n", encoding="utf-8")
    code = main(["analyze", str(doc), "--task", "sentiment", "--model", str(model_dir),
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code != 0 and "NaN" not in out
    assert "model.safetensors" in err and "NaN or infinite" in err
    assert err.strip().count("\n") == 0


def test_a_zip_directory_of_millions_of_entries_is_refused_from_its_end_record(tmp_path):
    # 300,000 empty entries: a 30 MB file that would make zipfile build 300,000 ZipInfo objects.
    src = torch_bin(tmp_path, {"w": torch.arange(4, dtype=torch.float32)}, "src.bin")
    path = tmp_path / "crowded.bin"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        for i in range(300_000):
            zout.writestr(f"archive/x/{i}", b"")
    with pytest.raises(CorruptModelFileError) as info:
        load_torch_checkpoint(path)
    assert one_line(info.value).startswith("crowded.bin is not a readable PyTorch checkpoint: its "
                                           "zip directory lists 300,00")


def test_zip64_end_records_are_read(tmp_path):
    tensors = {"w": torch.arange(6, dtype=torch.float32)}
    src = torch_bin(tmp_path, tensors, "src.bin")
    path = tmp_path / "zip64.bin"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            with zout.open(out, "w", force_zip64=True) as fh:
                fh.write(zin.read(info))
    np.testing.assert_array_equal(load_torch_checkpoint(path)["w"], tensors["w"].numpy())
