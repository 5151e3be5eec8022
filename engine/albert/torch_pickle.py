"""Read `pytorch_model.bin` files into numpy arrays without torch and without running pickled code.

A PyTorch checkpoint is a pickle, and unpickling a file from the internet with the standard
`pickle` module can run any Python it names. This reader never does that:

* Before anything is unpickled, every opcode of the pickle is scanned (`pickletools.genops` only
  decodes, it builds nothing). Opcodes torch never writes for weights (INST, OBJ, NEWOBJ,
  NEWOBJ_EX, the copyreg extension codes, out-of-band buffers, text persistent ids) are refused,
  and so is every GLOBAL naming something outside the short list below.
* The unpickler's `find_class` answers only that list, and each answer is a stand-in object made
  by this module for this one load: never the real torch function, never an importable callable.
  The stand-ins check their arguments and refuse to have their state changed (BUILD).
* Tensors come back as descriptions (storage, offset, shape, strides); the bytes are read from
  the archive afterwards, bounds-checked, and turned into numpy arrays.

Allowed globals: `collections.OrderedDict`, `torch._utils._rebuild_tensor`,
`_rebuild_tensor_v2`, `_rebuild_tensor_v3`, `_rebuild_parameter`,
`_rebuild_parameter_with_state`, the typed storage names (`torch.FloatStorage` ...),
`torch.UntypedStorage`, the dtype names `torch.float32` ... (used by `_rebuild_tensor_v3`) and
`_codecs.encode` (how protocol 2 spells a bytes object). Other torch tensor kinds (quantized,
sparse, float8, tensor subclasses) raise UnsupportedModelError; every other global raises
UnsafeModelFileError.

Every byte is read under a budget: the tensors a pickle declares are capped (`max_bytes`), zip
members are read in bounded chunks up to their declared size only, and only stored and deflate
members are accepted (zipfile inflates bzip2 and LZMA members in one call, however big).

Formats: the zip archive written by `torch.save` since torch 1.6 (byteorder record honoured) and
the older single-stream format (`_use_new_zipfile_serialization=False`, always little-endian).
The pre-1.0 tar format and TorchScript archives raise UnsupportedModelError.

bfloat16 tensors come back as float32 (numpy has no bfloat16); every other dtype keeps its type.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from engine.errors import (
    AlbertLensError,
    CorruptModelFileError,
    ModelError,
    ModelNotFoundError,
    UnsafeModelFileError,
    UnsupportedModelError,
)

__all__ = ["load_torch_checkpoint"]

_MAX_PICKLE_BYTES = 256 << 20  # real state-dict pickles are well under 1 MiB
_MAX_NDIM = 32
_MAX_DEPTH = 16
_MAX_COUNT = 1 << 62
_MAX_INFLATE_RATIO = 1100  # deflate cannot do better than about 1032:1
# Tensor bytes one checkpoint may declare when the caller gives no tighter budget.
_MAX_TENSOR_BYTES = 32 << 30
# torch.save writes stored members; deflate is what zip tools re-compress with. Python's zipfile
# inflates bzip2 and LZMA members in one call per read, whatever size is asked for (1.8 kB of
# bzip2 became 4 GB), so those methods are refused rather than read.
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
# torch.save writes 5-6 records and one per storage (a few hundred for real checkpoints).
_MAX_ZIP_ENTRIES = 100_000
_MAX_ZIP_DIRECTORY_BYTES = 16 << 20
_ZIP_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "deflate64"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_CHUNK = 16 << 20
_STORAGE_KEY = re.compile(r"[A-Za-z0-9_]{1,128}")


# --- dtypes -------------------------------------------------------------------------------------
class _DType:
    """A torch dtype this reader can turn into numpy: `code` is the numpy type without byte order."""

    __slots__ = ("code", "itemsize", "name")

    def __init__(self, name: str, code: str):
        self.name = name
        self.code = code
        self.itemsize = np.dtype(code).itemsize

    def __setstate__(self, state):  # BUILD on a dtype stand-in
        raise _Tamper("a dtype")

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_DTYPES = {
    name: _DType(name, code)
    for name, code in (
        ("float64", "f8"), ("float32", "f4"), ("float16", "f2"), ("bfloat16", "u2"),
        ("int64", "i8"), ("int32", "i4"), ("int16", "i2"), ("int8", "i1"), ("uint8", "u1"),
        ("bool", "u1"), ("complex64", "c8"), ("complex128", "c16"),
        ("uint16", "u2"), ("uint32", "u4"), ("uint64", "u8"),
    )
}
_DTYPE_ALIASES = {
    "double": "float64", "float": "float32", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
}
_STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
# torch dtype names with no numpy counterpart: refused as unsupported rather than unsafe.
_EXOTIC_DTYPE = re.compile(
    r"(float8_\w+|float4_\w+|bits\w+|q?u?int[1-7]|q?u?int\d+x\d+|qu?int\d+|complex32|chalf)"
)
# Real torch rebuild functions for tensor kinds this reader does not handle.
_UNSUPPORTED_REBUILDS = {
    ("torch._utils", name)
    for name in (
        "_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_nested_tensor",
        "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor",
        "_rebuild_xla_tensor", "_rebuild_mtia_tensor", "_rebuild_sparse_csr_tensor",
    )
} | {("torch._tensor", "_rebuild_from_type"), ("torch._tensor", "_rebuild_from_type_v2")}


# --- errors raised from inside the unpickler ----------------------------------------------------
class _Tamper(Exception):
    """Raised by stand-ins whose state a pickle tries to set; turned into UnsafeModelFileError."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class _Bad(Exception):
    """A malformed tensor description; turned into CorruptModelFileError with the file name."""


class _Unsupported(Exception):
    """A tensor feature this reader lacks; turned into UnsupportedModelError with the file name."""


def _unsafe(name: str, what: str) -> UnsafeModelFileError:
    return UnsafeModelFileError(
        f"{name} wants to run {what} while loading; refusing. "
        "Use a .safetensors file or a trusted source."
    )


def _unsupported(name: str, what: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{name} holds {what}, which this reader does not support. "
        "Re-save the model as safetensors (save_pretrained(..., safe_serialization=True))."
    )


def _corrupt(name: str, what: str) -> CorruptModelFileError:
    return CorruptModelFileError(f"{name} is not a readable PyTorch checkpoint: {what}.")


def _shorten(text: str, limit: int = 120) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- stand-ins ----------------------------------------------------------------------------------
class _Gate:
    """What `find_class` hands out for an allowed callable: calls our checker, accepts no state."""

    __slots__ = ("_fn", "_label")

    def __init__(self, label: str, fn):
        self._label = label
        self._fn = fn

    def __call__(self, *args):
        return self._fn(*args)

    def __setstate__(self, state):
        raise _Tamper(self._label)


class _StorageType:
    """Stand-in for `torch.FloatStorage` and friends: names a dtype, nothing else."""

    __slots__ = ("dtype", "label", "untyped")

    def __init__(self, dtype: _DType, untyped: bool, label: str):
        self.dtype = dtype
        self.untyped = untyped
        self.label = label

    def __setstate__(self, state):
        raise _Tamper(self.label)


class _Storage:
    """One storage record of the checkpoint: its key, element type and element count."""

    __slots__ = ("key", "nbytes", "numel", "stype")

    def __init__(self, key: str, stype: _StorageType, numel: int):
        self.key = key
        self.stype = stype
        self.numel = numel
        self.nbytes = numel * stype.dtype.itemsize

    def __setstate__(self, state):
        raise _Tamper("a storage")


class _StorageView:
    """A storage as seen by a tensor: `offset`/`numel` in elements (legacy files had views)."""

    __slots__ = ("numel", "offset", "root")

    def __init__(self, root: _Storage, offset: int, numel: int):
        self.root = root
        self.offset = offset
        self.numel = numel

    def __setstate__(self, state):
        raise _Tamper("a storage")


class _TensorRef:
    """A tensor described by the pickle; made into a numpy array once the pickle is read."""

    __slots__ = ("conjugate", "dtype", "negate", "offset", "size", "stride", "view")

    def __init__(self, view, dtype, offset, size, stride, negate=False, conjugate=False):
        self.view = view
        self.dtype = dtype
        self.offset = offset  # in elements of `dtype`, from the start of the view
        self.size = size
        self.stride = stride
        self.negate = negate
        self.conjugate = conjugate

    def __setstate__(self, state):
        raise _Tamper("a tensor")


class _StateDict(dict):
    """Stand-in for `collections.OrderedDict`: a plain dict that takes `_metadata` state."""

    __slots__ = ()

    def __setstate__(self, state):
        # OrderedDict pickles its instance __dict__ ({'_metadata': ...} for a module state dict).
        if state is not None and not isinstance(state, dict):
            raise _Bad("an OrderedDict with a malformed state")


# --- argument checks ----------------------------------------------------------------------------
def _count(value, what: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_COUNT:
        raise _Bad(f"{what} is {_shorten(repr(value), 40)}, not a non-negative integer")
    return value


def _counts(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > _MAX_NDIM:
        raise _Bad(f"{what} is {_shorten(repr(value), 60)}, not a short tuple of integers")
    return tuple(_count(v, what) for v in value)


def _ascii(value, what: str) -> str:
    if isinstance(value, bytes):  # Python 2 era pickles
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _Bad(f"{what} is not ASCII") from exc
    if not isinstance(value, str):
        raise _Bad(f"{what} is {_shorten(repr(value), 40)}, not a string")
    return value


def _make_tensor(view, offset, size, stride, dtype=None, metadata=None) -> _TensorRef:
    if not isinstance(view, _StorageView):
        raise _Bad(f"a tensor's storage is {_shorten(repr(view), 40)}")
    offset = _count(offset, "a tensor offset")
    size = _counts(size, "a tensor shape")
    stride = _counts(stride, "a tensor stride")
    if len(size) != len(stride):
        raise _Bad(f"a tensor has shape {size} but strides {stride}")
    stype = view.root.stype
    if dtype is None:
        dtype = stype.dtype
    elif dtype is not stype.dtype and not stype.untyped:
        raise _Bad(f"a {dtype} tensor sits on a {stype.dtype} storage")
    # Bounds: the last element the tensor can reach must lie inside its view of the storage.
    if math.prod(size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        view_bytes = view.numel * stype.dtype.itemsize
        if (last + 1) * dtype.itemsize > view_bytes:
            raise _Bad(
                f"a tensor of shape {size} (strides {stride}, offset {offset}) reaches past "
                f"its {view_bytes}-byte storage"
            )
    negate = conjugate = False
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _Bad("a tensor has malformed metadata")
        for key, flag in metadata.items():
            if key == "neg":
                negate = bool(flag)
            elif key == "conj":
                conjugate = bool(flag)
            elif flag:
                raise _Unsupported(f"tensors with the '{_shorten(str(key), 40)}' flag")
    return _TensorRef(view, dtype, offset, size, stride, negate, conjugate)


def _check_flag(value, what: str) -> None:
    if type(value) is not bool:
        raise _Bad(f"{what} is {_shorten(repr(value), 40)}, not True/False")


def _check_hooks(value) -> None:
    if not isinstance(value, dict):
        raise _Bad("a tensor's backward hooks are not a dictionary")


def _arity(args: tuple, low: int, high: int, what: str) -> None:
    if not low <= len(args) <= high:
        raise _Bad(f"{what} called with {len(args)} arguments")


def _rebuild_tensor(*args):
    _arity(args, 4, 4, "_rebuild_tensor")
    return _make_tensor(*args)


def _rebuild_tensor_v2(*args):
    _arity(args, 6, 7, "_rebuild_tensor_v2")
    view, offset, size, stride, requires_grad, hooks = args[:6]
    _check_flag(requires_grad, "requires_grad")
    _check_hooks(hooks)
    metadata = args[6] if len(args) == 7 else None
    return _make_tensor(view, offset, size, stride, metadata=metadata)


def _rebuild_tensor_v3(*args):
    _arity(args, 7, 8, "_rebuild_tensor_v3")
    view, offset, size, stride, requires_grad, hooks, dtype = args[:7]
    _check_flag(requires_grad, "requires_grad")
    _check_hooks(hooks)
    if not isinstance(dtype, _DType):
        raise _Bad(f"_rebuild_tensor_v3 got dtype {_shorten(repr(dtype), 40)}")
    metadata = args[7] if len(args) == 8 else None
    return _make_tensor(view, offset, size, stride, dtype=dtype, metadata=metadata)


def _rebuild_parameter(*args):
    _arity(args, 3, 3, "_rebuild_parameter")
    data, requires_grad, hooks = args
    if not isinstance(data, _TensorRef):
        raise _Bad("a parameter wraps something other than a tensor")
    _check_flag(requires_grad, "requires_grad")
    _check_hooks(hooks)
    return data


def _rebuild_parameter_with_state(*args):
    _arity(args, 4, 4, "_rebuild_parameter_with_state")
    # The Python attributes (state) of the parameter are dropped: only the numbers matter.
    return _rebuild_parameter(*args[:3])


def _ordered_dict(*args):
    if not args:
        return _StateDict()
    if len(args) == 1 and isinstance(args[0], (list, tuple, dict)):
        try:
            return _StateDict(args[0])
        except (TypeError, ValueError) as exc:
            raise _Bad("an OrderedDict built from malformed items") from exc
    raise _Bad("OrderedDict called with unexpected arguments")


def _codecs_encode(*args):
    # Protocol 2 writes bytes b'..' as _codecs.encode('..', 'latin1').
    if (
        len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1")
    ):
        try:
            return args[0].encode("latin-1")
        except UnicodeEncodeError as exc:
            raise _Bad("a bytes value that is not latin-1") from exc
    raise _Bad("_codecs.encode called with unexpected arguments")


_CALLABLES = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("_codecs", "encode"): _codecs_encode,
}

# Opcodes that create instances of arbitrary classes or reach outside the pickle: torch never
# writes them for a state dict.
_REFUSED_OPCODES = {
    "INST": "create an instance of a class",
    "OBJ": "create an instance of a class",
    "NEWOBJ": "create an instance of a class",
    "NEWOBJ_EX": "create an instance of a class",
    "EXT1": "load a registered extension object",
    "EXT2": "load a registered extension object",
    "EXT4": "load a registered extension object",
    "PERSID": "load a text persistent object",
    "NEXT_BUFFER": "load an out-of-band buffer",
    "READONLY_BUFFER": "load an out-of-band buffer",
}
_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}


# --- the restricted unpickler -------------------------------------------------------------------
class _Loader:
    """State of one load: the file's name, its stand-ins and the storages its pickle declared."""

    def __init__(self, name: str, max_bytes: int | None):
        self.name = name
        self.max_bytes = max_bytes
        self.storages: dict[str, _Storage] = {}
        self.declared_bytes = 0
        self.views: dict[tuple, _StorageView] = {}
        # Fresh stand-ins for every load, so no pickle can leave anything behind for the next.
        self.globals: dict[tuple[str, str], object] = {
            key: _Gate(f"{key[0]}.{key[1]}", fn) for key, fn in _CALLABLES.items()
        }
        for module in ("torch", "torch.cuda"):
            for sname, dname in _STORAGE_DTYPES.items():
                self.globals[(module, sname)] = _StorageType(
                    _DTYPES[dname], False, f"{module}.{sname}"
                )
        for key in (("torch", "UntypedStorage"), ("torch.storage", "UntypedStorage")):
            self.globals[key] = _StorageType(_DTYPES["uint8"], True, ".".join(key))
        for dname, dtype in _DTYPES.items():
            self.globals[("torch", dname)] = dtype
        for alias, dname in _DTYPE_ALIASES.items():
            self.globals[("torch", alias)] = _DTYPES[dname]

    # Every global goes through here, both from the static scan and from the unpickler.
    def resolve(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            raise _unsafe(self.name, "a global with a non-text name")
        found = self.globals.get((module, name))
        if found is not None:
            return found
        label = _shorten(f"{module}.{name}")
        if (module, name) in _UNSUPPORTED_REBUILDS:
            raise _unsupported(self.name, f"a tensor kind rebuilt by '{label}'")
        if module in ("torch", "torch.cuda") and name.endswith("Storage"):
            raise _unsupported(self.name, f"tensors of the storage type '{label}'")
        if module == "torch" and _EXOTIC_DTYPE.fullmatch(name):
            raise _unsupported(self.name, f"tensors of dtype '{label}'")
        raise _unsafe(self.name, f"'{label}'")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise _Bad("a persistent id that is not a tuple")
        kind = _ascii(pid[0], "a persistent id type")
        if kind != "storage":
            raise _Bad(f"a persistent id of type {_shorten(repr(kind), 40)}")
        if len(pid) not in (5, 6):
            raise _Bad(f"a storage id with {len(pid)} fields")
        stype, key, location, numel = pid[1:5]
        if not isinstance(stype, _StorageType):
            raise _Bad(f"a storage of type {_shorten(repr(stype), 40)}")
        key = _ascii(key, "a storage key")
        if not _STORAGE_KEY.fullmatch(key):
            raise _Bad(f"the storage key {_shorten(repr(key), 40)}")
        _ascii(location, "a storage location")
        numel = _count(numel, "a storage size")
        root = self.storages.get(key)
        if root is None:
            root = _Storage(key, stype, numel)
            self.declared_bytes += root.nbytes
            if self.max_bytes is not None and self.declared_bytes > self.max_bytes:
                raise CorruptModelFileError(
                    f"{self.name} declares more than {self.max_bytes} bytes of tensors; "
                    "refusing to read it."
                )
            self.storages[key] = root
        elif root.stype.dtype is not stype.dtype or root.numel != numel:
            raise _Bad(f"storage {key} is declared twice with different types or sizes")
        view_meta = pid[5] if len(pid) == 6 else None
        if view_meta is None:
            vkey = (key, 0, root.numel)
        else:
            # Legacy format: (view_key, offset, size) in elements of the root storage.
            if not isinstance(view_meta, tuple) or len(view_meta) != 3:
                raise _Bad("a malformed storage view")
            offset = _count(view_meta[1], "a storage view offset")
            size = _count(view_meta[2], "a storage view size")
            if offset + size > root.numel:
                raise _Bad(f"a storage view reaches past storage {key}")
            vkey = (key, offset, size)
        view = self.views.get(vkey)
        if view is None:
            view = self.views[vkey] = _StorageView(root, vkey[1], vkey[2])
        return view

    def scan(self, data) -> None:
        """Check every opcode before anything is built. `data` is bytes or a file at the start."""
        for ops, (op, arg, _pos) in enumerate(pickletools.genops(data), start=1):
            name = op.name
            if name in _REFUSED_OPCODES:
                raise _unsafe(self.name, f"the {name} opcode ({_REFUSED_OPCODES[name]})")
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                self.resolve(module, attr)
            # A huge memo index would make the C unpickler allocate a huge table.
            elif name in _MEMO_OPS and (not isinstance(arg, int) or not 0 <= arg <= ops):
                raise _Bad(f"the memo index {arg!r}")

    def unpickle(self, stream):
        return _Unpickler(stream, self).load()


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream, loader: _Loader):
        super().__init__(stream)
        self._loader = loader

    def find_class(self, module, name):
        return self._loader.resolve(module, name)

    def persistent_load(self, pid):
        return self._loader.persistent_load(pid)


# --- reading the tensors ------------------------------------------------------------------------
def _collect(obj, loader: _Loader) -> list[tuple[str, _TensorRef]]:
    """(name, tensor) pairs of a state dict; nested dicts give dotted names, other values drop."""
    if not isinstance(obj, dict):
        raise _Bad(f"the pickle holds a {type(obj).__name__}, not a dictionary of tensors")
    out: list[tuple[str, _TensorRef]] = []
    seen_names: set[str] = set()
    on_path: set[int] = set()

    def walk(node: dict, prefix: str, depth: int) -> None:
        if depth > _MAX_DEPTH or id(node) in on_path:
            raise _Bad("the dictionary of tensors nests too deeply or refers to itself")
        on_path.add(id(node))
        for key, value in node.items():
            if isinstance(key, bytes):
                key = _ascii(key, "a tensor name")
            if type(key) is int:
                key = str(key)
            if not isinstance(key, str):
                raise _Bad(f"a tensor name is {_shorten(repr(key), 40)}, not a string")
            full = prefix + key
            if isinstance(value, _TensorRef):
                if full in seen_names:
                    raise _Bad(f"two tensors are named {_shorten(full, 80)!r}")
                seen_names.add(full)
                out.append((full, value))
            elif isinstance(value, dict):
                walk(value, full + ".", depth + 1)
        on_path.discard(id(node))

    walk(obj, "", 0)
    return out


def _to_array(ref: _TensorRef, buffer, little: bool, may_view: bool) -> np.ndarray:
    """The tensor `ref` as a numpy array, read from the bytes of its root storage."""
    view, dtype = ref.view, ref.dtype
    storage_itemsize = view.root.stype.dtype.itemsize
    start = view.offset * storage_itemsize + ref.offset * dtype.itemsize  # in bytes
    order = "<" if little else ">"
    src = np.dtype(order + dtype.code) if dtype.itemsize > 1 else np.dtype(dtype.code)
    numel = math.prod(ref.size)
    if numel == 0:
        raw = np.empty(ref.size, dtype=src)
    else:
        span = (ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) + 1)
        flat = np.frombuffer(buffer, dtype=src, count=span - ref.offset, offset=start)
        contiguous = _is_contiguous(ref.size, ref.stride)
        if contiguous and may_view and src.isnative and dtype.name not in ("bool", "bfloat16"):
            arr = flat[:numel].reshape(ref.size)
            return _apply_flags(arr, ref)
        if contiguous:
            raw = flat[:numel].reshape(ref.size)
        else:
            raw = np.lib.stride_tricks.as_strided(
                flat, shape=ref.size,
                strides=tuple(s * dtype.itemsize for s in ref.stride), writeable=False,
            )
    if dtype.name == "bfloat16":
        # bfloat16 is the top half of a float32: widen the bits and shift them into place.
        bits = raw.astype(np.uint32).reshape(-1)
        arr = (bits << 16).view(np.float32).reshape(raw.shape)
    elif dtype.name == "bool":
        arr = np.not_equal(raw, 0).reshape(raw.shape)
    else:
        arr = raw.astype(src.newbyteorder("="), order="C", copy=True)
    return _apply_flags(arr, ref)


def _apply_flags(arr: np.ndarray, ref: _TensorRef) -> np.ndarray:
    if ref.conjugate and np.iscomplexobj(arr):
        arr = np.conjugate(arr)
    if ref.negate:
        arr = np.negative(arr)
    # ufuncs turn 0-d arrays into numpy scalars; callers always get C-ordered ndarrays.
    arr = np.asarray(arr)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _is_contiguous(size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for n, s in zip(reversed(size), reversed(stride)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _materialize(pairs, read_storage, little: bool) -> dict[str, np.ndarray]:
    users: dict[str, int] = {}
    for _, ref in pairs:
        users[ref.view.root.key] = users.get(ref.view.root.key, 0) + 1
    buffers: dict[str, bytearray] = {}
    out: dict[str, np.ndarray] = {}
    for name, ref in pairs:
        root = ref.view.root
        if root.key not in buffers:
            buffers[root.key] = read_storage(root)
        # A tensor that alone uses its whole storage is returned as a view of the bytes read;
        # any sharing (tied weights, slices) gets copies, so no two arrays alias.
        may_view = (
            users[root.key] == 1 and ref.offset == 0 and ref.view.offset == 0
            and math.prod(ref.size) * ref.dtype.itemsize == root.nbytes
        )
        out[name] = _to_array(ref, buffers[root.key], little, may_view)
        users[root.key] -= 1
        if users[root.key] == 0:
            del buffers[root.key]
    return out


def _read_exactly(stream, nbytes: int, what: str) -> bytearray:
    buf = bytearray(nbytes)
    view = memoryview(buf)
    done = 0
    while done < nbytes:
        chunk = stream.read(min(_CHUNK, nbytes - done))
        if not chunk:
            raise _Bad(f"{what} is truncated ({done} of {nbytes} bytes)")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    return buf


# --- the two container formats ------------------------------------------------------------------
def _central_directory(path: Path) -> tuple[int, int] | None:
    """(entries, bytes) of the zip's central directory from its end records, or None when they
    cannot be found (zipfile then says what is wrong)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, io.SEEK_END)
        tail_at = max(0, size - (1 << 16) - 22)
        fh.seek(tail_at)
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        entries, cd_bytes = struct.unpack("<H4xI", tail[at + 10:at + 20])
        locator = at - 20
        if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
            (record_at,) = struct.unpack("<Q", tail[locator + 8:locator + 16])
            fh.seek(min(record_at, size))
            record = fh.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, cd_bytes = struct.unpack("<QQ", record[32:48])
        return entries, cd_bytes


def _load_zip(path: Path, loader: _Loader) -> dict[str, np.ndarray]:
    name = loader.name
    archive_size = path.stat().st_size
    # zipfile builds one ZipInfo (~0.5 kB) per entry before anything can be checked: a central
    # directory of millions of tiny entries is refused from its end record first.
    directory = _central_directory(path)
    if directory is not None and (directory[0] > _MAX_ZIP_ENTRIES
                                  or directory[1] > _MAX_ZIP_DIRECTORY_BYTES):
        raise _corrupt(name, f"its zip directory lists {directory[0]:,} entries in "
                             f"{directory[1]:,} bytes, far more than a checkpoint has")
    with zipfile.ZipFile(path) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        for info in infos.values():
            if info.compress_type not in _ZIP_METHODS:
                method = _ZIP_METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
                raise UnsafeModelFileError(
                    f"{name} compresses {_shorten(info.filename, 60)} with {method}, which "
                    "torch.save never writes and which cannot be read under a size budget; "
                    "refusing. Use a .safetensors file or a trusted source."
                )
        pickles = [
            n for n in infos
            if n == "data.pkl" or (n.endswith("/data.pkl") and n.count("/") == 1)
        ]
        if any(n.endswith("constants.pkl") for n in infos):
            raise _unsupported(name, "a TorchScript program (torch.jit.save)")
        if len(pickles) != 1:
            raise _corrupt(name, "the archive has no single data.pkl record")
        prefix = pickles[0][: -len("data.pkl")]
        info = infos[pickles[0]]
        _check_entry(info, archive_size, name)
        if info.file_size > _MAX_PICKLE_BYTES:
            raise _corrupt(name, f"its data.pkl is {info.file_size} bytes, far too large")
        data = bytes(_read_member(zf, info, "data.pkl"))

        little = True
        order = infos.get(prefix + "byteorder")
        if order is not None:
            if order.file_size > 16:
                raise _corrupt(name, "its byteorder record is malformed")
            mark = bytes(_read_member(zf, order, "the byteorder record")).strip()
            if mark not in (b"little", b"big"):
                raise _corrupt(name, f"unknown byte order {_shorten(repr(mark), 30)}")
            little = mark == b"little"

        loader.scan(data)
        pairs = _collect(loader.unpickle(io.BytesIO(data)), loader)

        def read_storage(root: _Storage) -> bytearray:
            record = infos.get(f"{prefix}data/{root.key}")
            if record is None:
                raise _Bad(f"the data of storage {root.key} is missing")
            if record.file_size != root.nbytes:
                raise _Bad(
                    f"storage {root.key} holds {record.file_size} bytes, "
                    f"its tensors need {root.nbytes}"
                )
            _check_entry(record, archive_size, name)
            return _read_member(zf, record, f"storage {root.key}")

        return _materialize(pairs, read_storage, little)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytearray:
    """Exactly the member's declared bytes, read in bounded chunks (stored or deflate only).

    zipfile stops at the declared size and checks the CRC there, so a member that inflates to
    more than it declares fails instead of growing; no read asks for more than _CHUNK bytes.
    """
    with zf.open(info) as fh:
        return _read_exactly(fh, info.file_size, what)


def _check_entry(info: zipfile.ZipInfo, archive_size: int, name: str) -> None:
    if info.compress_size > archive_size:
        raise _corrupt(name, f"the record {info.filename} is larger than the file")
    if info.file_size > _MAX_INFLATE_RATIO * info.compress_size + 1024:
        raise _corrupt(name, f"the record {info.filename} claims an impossible size")


def _load_legacy(path: Path, loader: _Loader) -> dict[str, np.ndarray]:
    """The pre-1.6 stream: magic, protocol, sys_info, the state dict, storage keys, raw storages."""
    name = loader.name
    file_size = path.stat().st_size

    with open(path, "rb") as fh:
        if fh.read(1) != b"\x80":  # every torch.save stream starts with a PROTO opcode
            raise _corrupt(name, "it is neither a zip archive nor a torch.save stream")
        fh.seek(0)

        def next_pickle():
            start = fh.tell()
            loader.scan(_Bounded(fh, min(file_size - start, _MAX_PICKLE_BYTES)))
            end = fh.tell()
            fh.seek(start)
            return loader.unpickle(io.BytesIO(fh.read(end - start)))

        magic = next_pickle()
        if type(magic) is not int or magic != _LEGACY_MAGIC:
            raise _corrupt(name, "it is neither a zip archive nor a torch.save stream")
        protocol = next_pickle()
        if protocol != _LEGACY_PROTOCOL:
            raise _unsupported(name, f"the legacy serialization protocol {protocol!r}")
        sys_info = next_pickle()
        if not isinstance(sys_info, dict):
            raise _corrupt(name, "its system information record is malformed")
        pairs = _collect(next_pickle(), loader)
        keys = next_pickle()
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _corrupt(name, "its list of storages is malformed")
        if len(set(keys)) != len(keys) or set(keys) != set(loader.storages):
            raise _corrupt(name, "its list of storages does not match the tensors")

        # Storages follow in the order of `keys`, each as a little-endian int64 element count
        # and then the raw little-endian bytes.
        buffers: dict[str, bytearray] = {}
        for key in keys:
            root = loader.storages[key]
            header = fh.read(8)
            if len(header) != 8:
                raise _Bad(f"storage {key} is truncated")
            (count,) = struct.unpack("<q", header)
            if count != root.numel:
                raise _Bad(f"storage {key} holds {count} elements, its tensors need {root.numel}")
            if root.nbytes > file_size - fh.tell():
                raise _Bad(f"storage {key} is truncated")
            buffers[key] = _read_exactly(fh, root.nbytes, f"storage {key}")

    return _materialize(pairs, lambda root: buffers.pop(root.key), True)


class _Bounded:
    """A read-only view of at most `budget` more bytes of `fh`, for scanning a pickle in place:
    a length field claiming gigabytes then meets a short read instead of a huge allocation."""

    def __init__(self, fh, budget: int):
        self._fh = fh
        self._left = max(budget, 0)

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self._fh.readline(min(self._left, 1 << 20))
        self._left -= len(data)
        return data

    def tell(self) -> int:
        return self._fh.tell()


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


# --- entry point --------------------------------------------------------------------------------
def load_torch_checkpoint(path, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Every tensor of a `torch.save` checkpoint (a state dict), by name, as numpy arrays.

    No pickled code runs and torch is not imported. `max_bytes` caps the total size of the
    tensors the file declares (32 GiB when None). Raises UnsafeModelFileError when the file names anything but
    tensors, UnsupportedModelError for tensor kinds or formats this reader does not know, and
    CorruptModelFileError for truncated or malformed files. bfloat16 tensors come back as float32.
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
    if not head:
        raise _corrupt(name, "the file is empty")

    loader = _Loader(name, _MAX_TENSOR_BYTES if max_bytes is None else max_bytes)
    try:
        if head.startswith(b"PK"):
            return _load_zip(path, loader)
        if _is_tar(head):
            raise _unsupported(name, "the pre-1.0 tar serialization format")
        return _load_legacy(path, loader)
    except AlbertLensError:
        raise
    except _Tamper as exc:
        raise UnsafeModelFileError(
            f"{name} tries to change the internals of {exc.what} while loading; refusing. "
            "Use a .safetensors file or a trusted source."
        ) from None
    except _Unsupported as exc:
        raise _unsupported(name, str(exc)) from None
    except _Bad as exc:
        raise _corrupt(name, str(exc)) from None
    except MemoryError:
        raise _corrupt(name, "it needs more memory than is available") from None
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise ModelError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
        raise _corrupt(name, _shorten(str(exc) or type(exc).__name__)) from exc
    except Exception as exc:  # zipfile, pickle, struct, zlib, EOF ...: all mean a broken file
        detail = _shorten(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise _corrupt(name, f"it is damaged or truncated ({detail})") from exc

