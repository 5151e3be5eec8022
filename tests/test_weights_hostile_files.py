"""Hostile and damaged weight files: refused on one line, within a budget, never a traceback."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.albert.torch_pickle import load_torch_checkpoint
from engine.errors import UnsafeModelFileError

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
