"""Read `pytorch_model.bin` files into numpy arrays without torch and without running pickled code.

Unpickling a file from the internet with `pickle` can run any Python it names. Three things keep
this reader from doing that:

* `find_class` answers only a short list (`collections.OrderedDict`, torch's
  `_rebuild_tensor_v2` and `_rebuild_parameter`, the storage types below), each answer this
  module's own function or description; any other global is UnsafeModelFileError (torch's other
  tensor rebuilds and storage types: UnsupportedModelError). BUILD only ever lands on a dict and
  the opcodes that instantiate classes are refused: the pure-Python unpickler allows both in its
  dispatch table, and its memo is a dict (memo slot 2**32 costs nothing; the C one allocates it).
* `persistent_load` only describes a storage (key, dtype, element count) and adds its bytes to
  the budget `max_bytes`; nothing is read yet.
* A tensor's offset, shape and strides must stay inside its storage before it is built; the
  storage's bytes must then be exactly the declared size (zip members read in bounded steps by
  engine.documents._archive, stored and deflate only).

Formats: torch.save's zip archive (torch >= 1.6) and the older single stream, which 2020-era Hub
checkpoints still use. dtypes: float32, float16, bfloat16 (returned as float32), float64, int64.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import zipfile
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from engine.documents import _archive
from engine.errors import (
    AlbertLensError,
    CorruptModelFileError,
    ModelError,
    ModelNotFoundError,
    UnsafeModelFileError,
    UnsupportedModelError,
)

__all__ = ["load_torch_checkpoint"]

_MAX_PICKLE_BYTES = 4 << 20  # a real state-dict pickle is a few kB, ~150 bytes a tensor
_MAX_TENSOR_BYTES = 32 << 30  # when the caller gives no tighter budget
_MAX_COUNT = 1 << 62
_MAX_NDIM = 32
_MAX_DEPTH = 16
_MAX_ZIP_ENTRIES = 100_000  # torch.save writes ~6 records and one per storage
_MAX_ZIP_DIRECTORY_BYTES = 16 << 20
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _DType(NamedTuple):
    name: str
    code: str  # numpy type without byte order; bfloat16 is read as its uint16 bits


_STORAGES = {
    "FloatStorage": _DType("float32", "f4"), "HalfStorage": _DType("float16", "f2"),
    "BFloat16Storage": _DType("bfloat16", "u2"), "DoubleStorage": _DType("float64", "f8"),
    "LongStorage": _DType("int64", "i8"),
}


class _Storage(NamedTuple):
    key: str
    dtype: _DType
    numel: int


class _Tensor(NamedTuple):
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple


class _Bad(Exception):
    """A malformed file; becomes CorruptModelFileError naming the file."""


class _Unsupported(Exception):
    """A tensor kind this reader lacks; becomes UnsupportedModelError naming the file."""


def _unsafe(name: str, what: str) -> UnsafeModelFileError:
    return UnsafeModelFileError(
        f"{name} wants to {what} while loading; refusing. "
        "Use a .safetensors file or a trusted source.")


def _unsupported(name: str, what: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{name} holds {what}, which this reader does not support. "
        "Re-save the model as safetensors (save_pretrained(..., safe_serialization=True)).")


def _corrupt(name: str, what: str) -> CorruptModelFileError:
    return CorruptModelFileError(f"{name} is not a readable PyTorch checkpoint: {what}.")


def _shorten(text: str, limit: int = 120) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(value, what: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_COUNT:
        raise _Bad(f"{what} is not a count ({type(value).__name__})")
    return value


def _counts(value, what: str) -> tuple[int, ...]:
    if type(value) not in (tuple, list) or len(value) > _MAX_NDIM:
        raise _Bad(f"{what} is not a short tuple of integers")
    return tuple(_count(v, what) for v in value)


# --- what find_class hands out ------------------------------------------------------------------
def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    if not isinstance(storage, _Storage):
        raise _Bad("a tensor's storage is not a storage")
    if type(requires_grad) is not bool or not isinstance(hooks, dict):
        raise _Bad("a tensor has malformed requires_grad or hooks")
    offset = _count(offset, "a tensor offset")
    size, stride = _counts(size, "a tensor shape"), _counts(stride, "a tensor stride")
    if len(size) != len(stride):
        raise _Bad(f"a tensor has shape {size} but strides {stride}")
    # The bounds check: the last element the tensor can reach lies inside its storage.
    if math.prod(size) and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= storage.numel:
        raise _Bad(f"a tensor of shape {size} (strides {stride}, offset {offset}) reaches past "
                   f"its storage of {storage.numel} elements")
    for key, flag in (metadata or {}).items():  # neg/conj views and other tensor flags
        if flag:
            raise _Unsupported(f"tensors with the '{_shorten(str(key), 40)}' flag")
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, hooks):
    if not isinstance(data, _Tensor):
        raise _Bad("a parameter wraps something other than a tensor")
    return data


_GLOBALS = {
    ("collections", "OrderedDict"): lambda items=(): dict(items),
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{(module, name): dtype for module in ("torch", "torch.cuda")
       for name, dtype in _STORAGES.items()},
}


class _Unpickler(pickle._Unpickler):
    """The pickles of one file; `storages` collects what their persistent ids declare, within
    `max_bytes` in all."""

    def __init__(self, stream, name: str, max_bytes: int):
        super().__init__(stream)
        self.name = name
        self.max_bytes = max_bytes
        self.declared = 0
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        found = _GLOBALS.get((module, name))
        if found is not None:
            return found
        label = f"'{_shorten(f'{module}.{name}')}'"
        if module in ("torch._utils", "torch._tensor") and name.startswith("_rebuild"):
            raise _unsupported(self.name, f"a tensor kind rebuilt by {label}")
        if module in ("torch", "torch.cuda") and name.endswith("Storage"):
            raise _unsupported(self.name, f"tensors of the storage type {label}")
        raise _unsafe(self.name, f"run {label}")

    def persistent_load(self, pid) -> _Storage:
        # ('storage', type, key, location, numel), with a sixth field (None) in legacy files.
        if type(pid) is not tuple or len(pid) not in (5, 6) or pid[0] != "storage" \
                or pid[5:] not in ((), (None,)):
            raise _Bad("a persistent id that is not a plain storage")
        _, dtype, key, _location, numel = pid[:5]
        if not isinstance(dtype, _DType) or not isinstance(key, str):
            raise _Bad("a storage with a malformed type or key")
        storage = _Storage(key, dtype, _count(numel, "a storage size"))
        known = self.storages.setdefault(key, storage)
        if known is storage:
            self.declared += numel * np.dtype(dtype.code).itemsize
            if self.declared > self.max_bytes:
                raise CorruptModelFileError(
                    f"{self.name} declares more than {self.max_bytes} bytes of tensors; "
                    "refusing to read it.")
        elif known != storage:
            raise _Bad(f"storage {_shorten(key, 40)} is declared twice with different sizes")
        return storage

    def _load_build(self):
        self.stack.pop()
        if type(self.stack[-1]) is not dict:  # OrderedDict's `_metadata`: dropped
            raise _unsafe(self.name, f"change a {type(self.stack[-1]).__name__}")

    def _refuse(self, opcode: str):
        raise _unsafe(self.name, f"use the {opcode} opcode (objects torch never saves)")

    dispatch: ClassVar[dict] = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: _load_build, **{
        getattr(pickle, op)[0]: lambda self, op=op: self._refuse(op)
        for op in ("INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4")}}


def _tensors(obj, max_bytes: int) -> list[tuple[str, _Tensor]]:
    """(name, tensor) pairs of a state dict; nested dicts give dotted names, other values drop.
    What they take once built is capped too: stride-0 views can span far more than a storage."""
    if not isinstance(obj, dict):
        raise _Bad(f"the pickle holds a {type(obj).__name__}, not a dictionary of tensors")
    out, seen = [], set()

    def walk(node: dict, prefix: str, depth: int) -> None:
        if depth > _MAX_DEPTH or id(node) in seen:  # each dict once: no cycles, no blow-up
            raise _Bad("the dictionary of tensors nests too deeply or refers to itself")
        seen.add(id(node))
        for key, value in node.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise _Bad(f"a tensor name is a {type(key).__name__}, not a string")
            if isinstance(value, _Tensor):
                out.append((f"{prefix}{key}", value))
            elif isinstance(value, dict):
                walk(value, f"{prefix}{key}.", depth + 1)

    walk(obj, "", 0)
    if not out:
        raise _Bad("it holds no tensors")
    if len({name for name, _ in out}) != len(out):
        raise _Bad("two tensors have the same name")
    if sum(math.prod(t.size) * (4 if t.storage.dtype.name == "bfloat16" else
                                np.dtype(t.storage.dtype.code).itemsize) for _, t in out) > max_bytes:
        raise _Bad(f"its tensors would take more than {max_bytes} bytes")
    return out


def _arrays(pairs, read_storage, order: str) -> dict[str, np.ndarray]:
    """Every tensor as a C-ordered native array; one storage's bytes in memory at a time."""
    by_storage: dict[str, list[tuple[str, _Tensor]]] = {}
    for name, tensor in pairs:
        by_storage.setdefault(tensor.storage.key, []).append((name, tensor))
    out = {}
    for group in by_storage.values():
        storage = group[0][1].storage
        src = np.dtype(order + storage.dtype.code)
        buffer = read_storage(storage, storage.numel * src.itemsize)
        flat = np.frombuffer(buffer, dtype=src, count=storage.numel)
        for name, t in group:
            if not math.prod(t.size):
                raw = np.empty(t.size, dtype=src)
            else:
                raw = np.lib.stride_tricks.as_strided(
                    flat[t.offset:], t.size, [s * src.itemsize for s in t.stride],
                    writeable=False)
            if storage.dtype.name == "bfloat16":  # the top half of a float32
                out[name] = (raw.astype(np.uint32, order="C") << 16).view(np.float32)
            else:
                out[name] = raw.astype(src.newbyteorder("="), order="C")
    return {name: out[name] for name, _ in pairs}


# --- the two container formats ------------------------------------------------------------------
def _check_directory(path: Path, name: str) -> None:
    """zipfile builds an object per entry before anything can be checked: a directory of
    millions of entries is refused from the end records first."""
    with open(path, "rb") as fh:
        size = fh.seek(0, io.SEEK_END)
        fh.seek(max(0, size - 65557))
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return  # zipfile says what is wrong
        entries, cd_bytes = struct.unpack_from("<HI", tail, at + 10)
        if at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":  # zip64 locator
            fh.seek(min(struct.unpack_from("<Q", tail, at - 12)[0], size))
            record = fh.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, cd_bytes = struct.unpack_from("<QQ", record, 32)
    if entries > _MAX_ZIP_ENTRIES or cd_bytes > _MAX_ZIP_DIRECTORY_BYTES:
        raise _corrupt(name, f"its zip directory lists {entries:,} entries in {cd_bytes:,} "
                             "bytes, far more than a checkpoint has")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, nbytes: int,
                 what: str) -> bytes:
    """Exactly `nbytes`, which the member must declare, read in bounded steps."""
    if info is None or info.file_size != nbytes:
        raise _Bad(f"{what} is missing" if info is None else
                   f"{what} holds {info.file_size:,} bytes where {nbytes:,} are needed")
    data = _archive.read_member(zf, info, nbytes)
    if len(data) != nbytes:
        raise _Bad(f"{what} is truncated")
    return data


def _load_zip(path: Path, name: str, max_bytes: int) -> dict[str, np.ndarray]:
    _check_directory(path, name)
    with zipfile.ZipFile(path) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        if any(n.endswith("constants.pkl") for n in infos):
            raise _unsupported(name, "a TorchScript program (torch.jit.save)")
        pickles = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise _Bad("the archive has no single data.pkl record")
        prefix = pickles[0][: -len("data.pkl")]
        data = infos[pickles[0]]
        if data.file_size > _MAX_PICKLE_BYTES:
            raise _Bad(f"its data.pkl is {data.file_size:,} bytes, far too large")
        data = _read_member(zf, data, data.file_size, "data.pkl")
        pairs = _tensors(_Unpickler(io.BytesIO(data), name, max_bytes).load(), max_bytes)
        order = "<"  # no byteorder record: torch < 1.12, little-endian
        if (record := infos.get(prefix + "byteorder")) is not None:
            mark = _read_member(zf, record, min(record.file_size, 16), "byteorder")
            if mark.strip() not in (b"little", b"big"):
                raise _Bad("its byteorder record is malformed")
            order = "<" if mark.strip() == b"little" else ">"

        def read_storage(storage: _Storage, nbytes: int) -> bytes:
            return _read_member(zf, infos.get(f"{prefix}data/{storage.key}"), nbytes,
                                f"the data of storage {_shorten(storage.key, 40)}")

        return _arrays(pairs, read_storage, order)


def _load_legacy(path: Path, name: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Five pickles (magic, protocol, system info, the state dict, the storage keys), then each
    storage as a little-endian int64 element count and its bytes."""
    with open(path, "rb") as fh:
        if fh.read(1) != b"\x80":  # every torch.save stream starts with a PROTO opcode
            raise _Bad("it is neither a zip archive nor a torch.save stream")
        fh.seek(0)
        head = io.BytesIO(fh.read(_MAX_PICKLE_BYTES))  # reads past its end come back short
        unpickler = _Unpickler(head, name, max_bytes)
        if unpickler.load() != _LEGACY_MAGIC:
            raise _Bad("it is neither a zip archive nor a torch.save stream")
        if unpickler.load() != _LEGACY_PROTOCOL:
            raise _unsupported(name, "a legacy serialization protocol other than 1001")
        info = unpickler.load()
        if not isinstance(info, dict) or info.get("little_endian", True) is not True:
            raise _unsupported(name, "a big-endian legacy checkpoint")
        pairs = _tensors(unpickler.load(), max_bytes)
        keys = unpickler.load()
        if type(keys) is not list or not all(type(k) is str for k in keys) \
                or sorted(keys) != sorted(unpickler.storages):
            raise _Bad("its list of storages does not match the tensors")
        size = fh.seek(0, io.SEEK_END)
        fh.seek(head.tell())
        buffers = {}
        for key in keys:
            storage = unpickler.storages[key]
            if struct.unpack("<q", fh.read(8).ljust(8, b"\xff"))[0] != storage.numel:
                raise _Bad(f"storage {_shorten(key, 40)} does not hold {storage.numel} elements")
            nbytes = storage.numel * np.dtype(storage.dtype.code).itemsize
            if nbytes > size - fh.tell() or len(data := fh.read(nbytes)) != nbytes:
                raise _Bad(f"storage {_shorten(key, 40)} is truncated")
            buffers[key] = data
    return _arrays(pairs, lambda storage, _n: buffers.pop(storage.key), "<")


# --- entry point --------------------------------------------------------------------------------
def load_torch_checkpoint(path, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Every tensor of a `torch.save` checkpoint (a state dict), by name, as numpy arrays.

    No pickled code runs and torch is not imported. `max_bytes` caps the tensor bytes the file
    declares (32 GiB when None). Raises UnsafeModelFileError when the pickle names anything but
    tensors, UnsupportedModelError for tensor kinds or formats this reader does not know, and
    CorruptModelFileError for truncated or malformed files.
    """
    path = Path(path)
    name = path.name or str(path)
    if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 0):
        raise ValueError("max_bytes must be a non-negative integer or None")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ModelNotFoundError(f"No PyTorch checkpoint at {path}.") from exc
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    max_bytes = _MAX_TENSOR_BYTES if max_bytes is None else max_bytes
    try:
        if not head:
            raise _Bad("the file is empty")
        if head.startswith(b"PK"):
            return _load_zip(path, name, max_bytes)
        if head[257:262] == b"ustar":
            raise _unsupported(name, "the pre-1.0 tar serialization format")
        return _load_legacy(path, name, max_bytes)
    except AlbertLensError:
        raise
    except _archive.UnsafeCompressionError as exc:
        raise UnsafeModelFileError(
            f"{name} packs {_shorten(exc.member, 60)} with {_archive.method_name(exc.method)}, "
            "which torch.save never writes and which cannot be read under a size budget; "
            "refusing. Use a .safetensors file or a trusted source.") from None
    except _Unsupported as exc:
        raise _unsupported(name, str(exc)) from None
    except _Bad as exc:
        raise _corrupt(name, str(exc)) from None
    except MemoryError:
        raise _corrupt(name, "it needs more memory than is available") from None
    except Exception as exc:  # zipfile, pickle, struct, zlib, EOF ...: all mean a broken file
        detail = _shorten(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise _corrupt(name, f"it is damaged or truncated ({detail})") from exc
