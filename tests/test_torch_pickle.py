"""The torch-free, code-free reader of `pytorch_model.bin` files (engine.albert.torch_pickle)."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import random
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.albert.torch_pickle import load_torch_checkpoint
from engine.errors import (
    CorruptModelFileError,
    ModelError,
    ModelNotFoundError,
    UnsafeModelFileError,
    UnsupportedModelError,
)

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = os.system.__module__  # 'posix' on Linux and macOS, 'nt' on Windows


# --- helpers ------------------------------------------------------------------------------------
def expected(t) -> np.ndarray:
    """What the loader should return for tensor `t`."""
    t = t.detach().resolve_conj().resolve_neg()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def assert_same(got: dict, tensors: dict) -> None:
    assert set(got) == set(tensors)
    for name, t in tensors.items():
        want = expected(t)
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)


def save(tmp_path: Path, obj, legacy: bool = False, name: str = "pytorch_model.bin") -> Path:
    path = tmp_path / name
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


# A tiny pickle writer, so tests can build exactly the opcodes an attacker would.
class G:
    """A global reference: GLOBAL 'module name'."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name


class Call:
    """fn(*args) through REDUCE."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args


class PID:
    """A persistent id (BINPERSID) with these fields."""

    def __init__(self, *fields):
        self.fields = fields


class Build:
    """BUILD: set `state` on `obj`."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


class Raw:
    def __init__(self, data: bytes):
        self.data = data


def emit(v) -> bytes:
    if isinstance(v, Raw):
        return v.data
    if v is None:
        return b"N"
    if v is True:
        return b"\x88"
    if v is False:
        return b"\x89"
    if isinstance(v, int):
        if -(2**31) <= v < 2**31:
            return b"J" + struct.pack("<i", v)
        raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
        data = v.encode("utf-8")
        return b"X" + struct.pack("<I", len(data)) + data
    if isinstance(v, tuple):
        return b"(" + b"".join(emit(x) for x in v) + b"t"
    if isinstance(v, list):
        return b"](" + b"".join(emit(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"}(" + b"".join(emit(k) + emit(x) for k, x in v.items()) + b"u"
    if isinstance(v, G):
        return b"c" + v.module.encode() + b"\n" + v.name.encode() + b"\n"
    if isinstance(v, Call):
        return emit(v.fn) + emit(tuple(v.args)) + b"R"
    if isinstance(v, PID):
        return emit(tuple(v.fields)) + b"Q"
    if isinstance(v, Build):
        return emit(v.obj) + emit(v.state) + b"b"
    raise TypeError(v)


def dumps(v) -> bytes:
    return b"\x80\x02" + emit(v) + b"."


def tensor_v2(key="0", storage="FloatStorage", numel=4, offset=0, size=(4,), stride=(1,)):
    return Call(
        G("torch._utils", "_rebuild_tensor_v2"),
        PID("storage", G("torch", storage), key, "cpu", numel),
        offset, size, stride, False, Call(G("collections", "OrderedDict")),
    )


def torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None,
              byteorder: bytes | None = b"little", prefix: str = "archive") -> Path:
    """A zip laid out like torch.save's."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder is not None:
            zf.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", data)
        zf.writestr(f"{prefix}/version", b"3\n")
    return path


FOUR_FLOATS = np.arange(4, dtype="<f4").tobytes()


def plain_pickle_runs_it(data: bytes, tmp_path: Path, marker: Path) -> bool:
    """Whether the standard unpickler, fed `data`, creates `marker` (checked in a subprocess)."""
    blob = tmp_path / "payload.pkl"
    blob.write_bytes(data)
    code = "import pickle, sys\ntry:\n    pickle.loads(open(sys.argv[1], 'rb').read())\n" \
           "except Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code, str(blob)], cwd=tmp_path, check=True,
                   timeout=60)
    made = marker.exists()
    if made:
        marker.unlink()
    return made


def touch_cmd(marker: Path) -> str:
    return f'{sys.executable} -c "open(r\'{marker}\', \'w\').close()"'


# --- round trips with real torch.save -----------------------------------------------------------
# What ALBERT checkpoints hold: float32/float16/bfloat16 weights (float64 when re-exported),
# int64 position_ids buffers. Other dtypes are refused as unsupported.
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64]
OTHER_DTYPES = [torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64]


def sample(dtype, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype)
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 100).to(dtype)
    info = torch.iinfo(dtype)
    return torch.randint(max(info.min, -1000), min(info.max, 1000), shape, generator=g,
                         dtype=dtype)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_dtype_and_shape(tmp_path, legacy):
    tensors = {}
    for i, dtype in enumerate(DTYPES):
        for shape in [(), (0,), (5,), (2, 3, 4), (1, 0, 3)]:
            tensors[f"{dtype}-{shape}"] = sample(dtype, shape, seed=i)
    got = load_torch_checkpoint(save(tmp_path, tensors, legacy))
    assert_same(got, tensors)
    assert got["torch.bfloat16-(2, 3, 4)"].dtype == np.float32
    assert got["torch.int64-()"].shape == ()


def test_bfloat16_bits_exact(tmp_path):
    t = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.0e38, 1.0e-38, float("inf"), float("-inf")],
                     dtype=torch.bfloat16)
    got = load_torch_checkpoint(save(tmp_path, {"t": t}))["t"]
    np.testing.assert_array_equal(got, t.float().numpy())
    assert np.signbit(got[1])
    nan = load_torch_checkpoint(save(tmp_path, {"n": torch.tensor([float("nan")]).bfloat16()}))
    assert np.isnan(nan["n"]).all()


@pytest.mark.parametrize("dtype", OTHER_DTYPES, ids=str)
def test_other_dtypes_are_unsupported(tmp_path, dtype):
    path = save(tmp_path, {"w": torch.zeros(3, dtype=dtype), "ok": torch.zeros(2)})
    with pytest.raises(UnsupportedModelError, match="pytorch_model.bin.*storage type"):
        load_torch_checkpoint(path)


def test_rebuild_tensor_v3_is_unsupported(tmp_path):
    # uint16 has no typed storage: torch writes _rebuild_tensor_v3 on an UntypedStorage.
    path = save(tmp_path, {"u16": torch.arange(4).to(torch.uint16)})
    with pytest.raises(UnsupportedModelError, match="_rebuild_tensor_v3.*safetensors"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_views_offsets_and_shared_storage(tmp_path, legacy):
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    half = torch.arange(24, dtype=torch.float16).reshape(4, 6)
    tensors = {
        "base": base,
        "transposed": base.transpose(0, 2),
        "permuted": base.permute(1, 2, 0),
        "slice_with_offset": base[1:, 2:, 1:4],
        "strided": base[:, ::2, 1::3],
        "row": base[2, 3],
        "element": base[1, 2, 3],
        "flat_tail": base.view(-1)[17:],
        "expanded": torch.arange(3.0).expand(4, 3),
        "half_t": half.t(),
        "half_cols": half[:, 3:],
        "empty_view": base[:, 2:2],
    }
    got = load_torch_checkpoint(save(tmp_path, tensors, legacy))
    assert_same(got, tensors)
    # Arrays sharing one storage are independent copies.
    got["base"][0, 0, 0] = 1234.0
    assert got["transposed"][0, 0, 0] == 0.0
    assert all(a.flags.c_contiguous for a in got.values())


def test_tied_weights_module_state_dict(tmp_path):
    model = torch.nn.Sequential(torch.nn.Embedding(11, 4), torch.nn.Linear(4, 11))
    model[1].weight = model[0].weight  # tie, as language-model heads do
    state = model.state_dict()  # an OrderedDict carrying `_metadata` (pickled with BUILD)
    assert hasattr(state, "_metadata")
    got = load_torch_checkpoint(save(tmp_path, state))
    assert_same(got, dict(state))
    np.testing.assert_array_equal(got["0.weight"], got["1.weight"])
    got["0.weight"][0, 0] += 1.0
    assert got["0.weight"][0, 0] != got["1.weight"][0, 0]


def test_parameters_nested_dicts_and_extras(tmp_path):
    p = torch.nn.Parameter(torch.randn(3, 2))
    q = torch.nn.Parameter(torch.randn(2))
    ckpt = {
        "model": {"p": p, "q": q, "inner": {"b": torch.ones(2, dtype=torch.int64)}},
        "epoch": 7, "name": "run-1", "lr": [0.1, 0.01],
    }
    got = load_torch_checkpoint(save(tmp_path, ckpt))
    assert set(got) == {"model.p", "model.q", "model.inner.b"}
    np.testing.assert_array_equal(got["model.p"], p.detach().numpy())
    np.testing.assert_array_equal(got["model.q"], q.detach().numpy())


def test_neg_view_is_unsupported(tmp_path):
    path = save(tmp_path, {"neg": torch._neg_view(torch.tensor([1.0, -2.0]))})
    with pytest.raises(UnsupportedModelError, match="'neg' flag"):
        load_torch_checkpoint(path)


def test_big_endian_archive(tmp_path):
    tensors = {
        "f": torch.randn(3, 4), "h": torch.randn(5).half(), "b": torch.randn(6).bfloat16(),
        "l": torch.arange(-3, 3), "d": torch.randn(2, dtype=torch.float64),
        "ft": torch.randn(4, 3).t(),
    }
    src = save(tmp_path, tensors, name="little.bin")
    assert_same(load_torch_checkpoint(src), tensors)
    # Rewrite it the way a big-endian machine would have saved it.
    item = {"f": ">f4", "h": ">f2", "b": ">u2", "l": ">i8", "d": ">f8", "ft": ">f4"}
    with zipfile.ZipFile(src) as zin:
        prefix = next(n for n in zin.namelist() if n.endswith("data.pkl"))[: -len("data.pkl")]
        data_pkl = zin.read(prefix + "data.pkl")
        # Storage keys in save order: one storage per tensor, in dict order.
        keys = [arg for op, arg, _ in pickletools.genops(data_pkl)
                if op.name == "BINUNICODE" and arg.isdigit()]
        swapped = {}
        for key, name in zip(keys, tensors, strict=True):
            raw = zin.read(f"{prefix}data/{key}")
            little = np.frombuffer(raw, dtype=item[name].replace(">", "<"))
            swapped[key] = little.astype(item[name]).tobytes()
    big = torch_zip(tmp_path / "big.bin", data_pkl, swapped, byteorder=b"big")
    assert_same(load_torch_checkpoint(big), tensors)
    # No byteorder record (torch < 1.12 files): little-endian is assumed.
    with zipfile.ZipFile(src) as zin:
        stores = {k: zin.read(f"{prefix}data/{k}") for k in keys}
    old = torch_zip(tmp_path / "old.bin", data_pkl, stores, byteorder=None)
    assert_same(load_torch_checkpoint(old), tensors)


def test_large_contiguous_tensor_is_not_copied_twice(tmp_path):
    t = torch.randn(256, 128)
    got = load_torch_checkpoint(save(tmp_path, {"w": t}))["w"]
    assert got.flags.writeable and got.flags.c_contiguous and got.dtype.isnative
    np.testing.assert_array_equal(got, t.numpy())


def test_max_bytes(tmp_path):
    path = save(tmp_path, {"a": torch.zeros(100), "b": torch.zeros(50, dtype=torch.float64)})
    assert set(load_torch_checkpoint(path, max_bytes=800)) == {"a", "b"}
    with pytest.raises(CorruptModelFileError, match="more than 799 bytes"):
        load_torch_checkpoint(path, max_bytes=799)
    legacy = save(tmp_path, {"a": torch.zeros(100)}, legacy=True, name="legacy.bin")
    with pytest.raises(CorruptModelFileError, match="legacy.bin"):
        load_torch_checkpoint(legacy, max_bytes=100)


def test_does_not_import_torch(tmp_path):
    path = save(tmp_path, {"w": torch.randn(3, 3)})
    code = (
        "import sys\n"
        "from engine.albert.torch_pickle import load_torch_checkpoint\n"
        f"d = load_torch_checkpoint({str(path)!r})\n"
        "assert d['w'].shape == (3, 3)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'PySide6')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


# --- a real transformers checkpoint -------------------------------------------------------------
def test_transformers_checkpoint_matches_safetensors_twin(checkpoints):
    from safetensors.numpy import load_file

    bin_dir = checkpoints("qa", "plain", safe=False)
    st_dir = checkpoints("qa", "plain", safe=True)
    got = load_torch_checkpoint(bin_dir / "pytorch_model.bin")
    ref = load_file(str(st_dir / "model.safetensors"))
    # ALBERT QA has no tied weights, so both formats hold exactly the same tensors.
    assert set(got) == set(ref)
    assert len(got) > 20
    for name, want in ref.items():
        assert got[name].dtype == want.dtype, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)


def test_transformers_checkpoint_matches_torch_load(checkpoints):
    path = checkpoints("qa", "plain", safe=False) / "pytorch_model.bin"
    ref = torch.load(path, weights_only=True)
    assert_same(load_torch_checkpoint(path), ref)


# --- malicious files ----------------------------------------------------------------------------
class SystemCall:
    """The classic: an object whose __reduce__ makes plain pickle call os.system."""

    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def check_refused(tmp_path, payload: bytes, marker: Path, *, zipped=True, storages=None):
    """Plain pickle runs `payload`; our loader refuses it and creates nothing."""
    assert plain_pickle_runs_it(payload, tmp_path, marker), "payload does not run under pickle"
    if zipped:
        path = torch_zip(tmp_path / "pytorch_model.bin", payload, storages)
    else:
        path = tmp_path / "pytorch_model.bin"
        path.write_bytes(payload)
    with pytest.raises(UnsafeModelFileError) as info:
        load_torch_checkpoint(path)
    assert not marker.exists()
    message = str(info.value)
    assert "pytorch_model.bin" in message and "refusing" in message
    return message


def test_refuses_os_system_reduce_class(tmp_path):
    marker = tmp_path / "MARKER"
    payload = pickle.dumps({"w": SystemCall(touch_cmd(marker))}, protocol=2)
    message = check_refused(tmp_path, payload, marker)
    assert f"'{SYSTEM}.system'" in message


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_refuses_os_system_any_protocol(tmp_path, protocol):
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(SystemCall(touch_cmd(marker)), protocol=protocol)
    assert f"{SYSTEM}.system" in check_refused(tmp_path, payload, marker)


def test_refuses_os_system_hand_written_global_reduce(tmp_path):
    marker = tmp_path / "MARKER"
    # The call comes first: plain pickle would stop at the persistent id that follows.
    payload = dumps({"x": Call(G(SYSTEM, "system"), touch_cmd(marker)), "w": tensor_v2()})
    check_refused(tmp_path, payload, marker, storages={"0": FOUR_FLOATS})


def test_refuses_stack_global(tmp_path):
    # STACK_GLOBAL takes its names from the stack, so only find_class can stop it.
    marker = tmp_path / "MARKER"
    payload = (
        b"\x80\x04" + emit(SYSTEM) + emit("system") + b"\x93"
        + emit((touch_cmd(marker),)) + b"R."
    )
    assert f"{SYSTEM}.system" in check_refused(tmp_path, payload, marker)


def test_refuses_builtins_eval(tmp_path):
    marker = tmp_path / "MARKER"
    payload = dumps(Call(G("builtins", "eval"), f"open(r'{marker}', 'w').close()"))
    assert "'builtins.eval'" in check_refused(tmp_path, payload, marker)


def test_refuses_dunder_import(tmp_path):
    marker = tmp_path / "MARKER"
    payload = (
        b"\x80\x02" + emit(Call(G("builtins", "__import__"), "os")) + b"p0\n0"  # PUT 0, POP
        + emit(G("builtins", "getattr")) + b"(g0\n" + emit("system") + b"tR"
        + emit((touch_cmd(marker),)) + b"R."
    )
    assert "'builtins.__import__'" in check_refused(tmp_path, payload, marker)


def test_refuses_foreign_global_in_persistent_id(tmp_path):
    marker = tmp_path / "MARKER"
    pid = PID("storage", Call(G(SYSTEM, "system"), touch_cmd(marker)), "0", "cpu", 4)
    rebuild = Call(G("torch._utils", "_rebuild_tensor_v2"), pid, 0, (4,), (1,), False, {})
    payload = dumps({"w": rebuild})
    check_refused(tmp_path, payload, marker, storages={"0": FOUR_FLOATS})
    # Even an uncalled foreign class as the storage type is refused.
    path = torch_zip(tmp_path / "b.bin", dumps({"w": Call(
        G("torch._utils", "_rebuild_tensor_v2"),
        PID("storage", G(SYSTEM, "system"), "0", "cpu", 4), 0, (4,), (1,), False, {},
    )}), {"0": FOUR_FLOATS})
    with pytest.raises(UnsafeModelFileError, match=f"{SYSTEM}.system"):
        load_torch_checkpoint(path)


def test_refuses_legacy_plain_pickle(tmp_path):
    marker = tmp_path / "MARKER"
    payload = pickle.dumps({"w": SystemCall(touch_cmd(marker))}, protocol=2)
    check_refused(tmp_path, payload, marker, zipped=False)


def test_refuses_payload_inside_legacy_stream(tmp_path):
    # A real legacy file whose state-dict pickle (the 4th one) is swapped for an evil one.
    marker = tmp_path / "MARKER"
    head = b"".join(pickle.dumps(v, protocol=2) for v in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    evil = pickle.dumps({"w": SystemCall(touch_cmd(marker))}, protocol=2)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(head + evil + pickle.dumps([], protocol=2))
    assert plain_pickle_runs_it(evil, tmp_path, marker)
    with pytest.raises(UnsafeModelFileError, match=f"{SYSTEM}.system"):
        load_torch_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("opcode", [b"i", b"o"], ids=["INST", "OBJ"])
def test_refuses_instance_creation_opcodes(tmp_path, opcode):
    marker = tmp_path / "MARKER"
    cmd = emit(touch_cmd(marker))
    if opcode == b"i":  # INST: MARK args 'i module\nname\n' -> calls module.name(*args)
        payload = b"\x80\x02(" + cmd + b"i" + SYSTEM.encode() + b"\nsystem\n."
    else:  # OBJ: MARK callable args 'o'
        payload = b"\x80\x02(" + emit(G(SYSTEM, "system")) + cmd + b"o."
    check_refused(tmp_path, payload, marker)
    # With an allowed callable the opcode itself is refused.
    allowed = b"\x80\x02(" + emit(G("collections", "OrderedDict")) + b"o."
    with pytest.raises(UnsafeModelFileError, match="OBJ opcode"):
        load_torch_checkpoint(torch_zip(tmp_path / "x.bin", allowed))


def test_refuses_newobj(tmp_path):
    payload = pickle.dumps({"w": Path("x")}, protocol=2)  # a class built with NEWOBJ/REDUCE
    with pytest.raises(UnsafeModelFileError):
        load_torch_checkpoint(torch_zip(tmp_path / "x.bin", payload))
    newobj = b"\x80\x02" + emit(G("collections", "OrderedDict")) + b")\x81."
    with pytest.raises(UnsafeModelFileError, match="NEWOBJ opcode"):
        load_torch_checkpoint(torch_zip(tmp_path / "y.bin", newobj))


def test_refuses_numpy_reconstruct(tmp_path):
    payload = pickle.dumps({"w": np.arange(3)}, protocol=2)
    with pytest.raises(UnsafeModelFileError, match="numpy"):
        load_torch_checkpoint(torch_zip(tmp_path / "x.bin", payload))


@pytest.mark.parametrize("target", ["tensor", "gate", "gate_slots", "storage_type", "dtype"])
def test_refuses_build_on_loader_objects(tmp_path, target):
    obj = {
        "tensor": tensor_v2(),
        "gate": G("torch._utils", "_rebuild_tensor_v2"),
        "gate_slots": G("collections", "OrderedDict"),
        "storage_type": G("torch", "FloatStorage"),
        "dtype": G("torch", "float32"),
    }[target]
    state = (None, {"__defaults__": (1, 2)}) if target == "gate_slots" else {"x": 1}
    path = torch_zip(tmp_path / "x.bin", dumps({"w": Build(obj, state)}), {"0": FOUR_FLOATS})
    with pytest.raises(UnsafeModelFileError, match="x.bin"):
        load_torch_checkpoint(path)
    # Nothing was changed for the next load.
    good = torch_zip(tmp_path / "good.bin", dumps({"w": tensor_v2()}), {"0": FOUR_FLOATS})
    np.testing.assert_array_equal(load_torch_checkpoint(good)["w"], np.arange(4, dtype="f4"))


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch deprecates quantized tensors
def test_unsupported_tensor_kinds(tmp_path):
    q = torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)
    with pytest.raises(UnsupportedModelError, match="safetensors"):
        load_torch_checkpoint(save(tmp_path, {"q": q}, name="q.bin"))
    f8 = torch.zeros(2).to(torch.float8_e4m3fn)  # written with _rebuild_tensor_v3
    with pytest.raises(UnsupportedModelError, match="_rebuild_tensor_v3"):
        load_torch_checkpoint(save(tmp_path, {"f": f8}, name="f8.bin"))
    sparse = torch.eye(3).to_sparse()
    with pytest.raises(UnsupportedModelError):
        load_torch_checkpoint(save(tmp_path, {"s": sparse}, name="s.bin"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated
def test_unsupported_containers(tmp_path):
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    ts = tmp_path / "ts.bin"
    torch.jit.save(scripted, str(ts))
    with pytest.raises(UnsupportedModelError, match="TorchScript"):
        load_torch_checkpoint(ts)
    tar_path = tmp_path / "old.bin"
    with tarfile.open(tar_path, "w") as tar:
        info = tarfile.TarInfo("pickle")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(UnsupportedModelError, match="tar"):
        load_torch_checkpoint(tar_path)


# --- crafted tensor descriptions: never a crash, never an out-of-bounds read --------------------
BOGUS = {
    "offset_past_end": {"offset": 4},
    "size_too_big": {"size": (5,)},
    "stride_too_big": {"size": (2,), "stride": (4,)},
    "2d_reaches_past": {"size": (2, 3), "stride": (3, 1)},
    "negative_stride": {"stride": (-1,)},
    "negative_offset": {"offset": -1},
    "negative_size": {"size": (-4,)},
    "rank_mismatch": {"size": (2, 2), "stride": (1,)},
    "float_offset": {"offset": 0.5},
    "bool_offset": {"offset": True},
    "string_size": {"size": "4"},
    "int_size": {"size": 4},
    "too_many_dims": {"size": (1,) * 40, "stride": (1,) * 40},
    "huge_numel": {"numel": 2**70},
    "huge_size": {"size": (2**40, 2**40), "stride": (1, 1)},
    "record_too_small": {"numel": 5},
    "record_missing": {"key": "7"},
    "path_key": {"key": "../0"},
    "int_key": {"key": 0},
    "unknown_storage": {"storage": "Foo"},
}


@pytest.mark.parametrize("case", sorted(BOGUS))
def test_bogus_rebuild_args(tmp_path, case):
    kwargs = BOGUS[case]
    storage = kwargs.get("storage", "FloatStorage")
    pkl = dumps({"w": tensor_v2(**kwargs)})
    path = torch_zip(tmp_path / "pytorch_model.bin", pkl, {"0": FOUR_FLOATS})
    # 'torch.Foo' is no storage type at all, so it is just a foreign global.
    expected_error = UnsafeModelFileError if storage == "Foo" else CorruptModelFileError
    with pytest.raises(expected_error, match="pytorch_model.bin"):
        load_torch_checkpoint(path)


BOGUS_CALLS = {
    "storage_is_a_string": Call(G("torch._utils", "_rebuild_tensor_v2"), "0", 0, (4,), (1,),
                                False, {}),
    "too_few_args": Call(G("torch._utils", "_rebuild_tensor_v2"),
                         PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4), 0),
    "too_many_args": Call(G("torch._utils", "_rebuild_tensor_v2"),
                          PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4),
                          0, (4,), (1,), False, {}, None, None),
    "requires_grad_not_bool": Call(G("torch._utils", "_rebuild_tensor_v2"),
                                   PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4),
                                   0, (4,), (1,), "yes", {}),
    "parameter_of_int": Call(G("torch._utils", "_rebuild_parameter"), 3, False, {}),
    "pid_not_tuple": Call(G("torch._utils", "_rebuild_tensor_v2"), Raw(emit("x") + b"Q"),
                          0, (4,), (1,), False, {}),
    "pid_short": Call(G("torch._utils", "_rebuild_tensor_v2"), PID("storage", "0"),
                      0, (4,), (1,), False, {}),
    "pid_module": Call(G("torch._utils", "_rebuild_tensor_v2"),
                       PID("module", None, None, None), 0, (4,), (1,), False, {}),
    "pid_type_not_storage": Call(G("torch._utils", "_rebuild_tensor_v2"),
                                 PID("storage", G("collections", "OrderedDict"), "0", "cpu", 4),
                                 0, (4,), (1,), False, {}),
    "same_key_two_types": Call(G("torch._utils", "_rebuild_tensor_v2"),
                               PID("storage", G("torch", "LongStorage"), "0", "cpu", 4),
                               0, (4,), (1,), False, {}),
    "same_key_two_sizes": Call(G("torch._utils", "_rebuild_tensor_v2"),
                               PID("storage", G("torch", "FloatStorage"), "0", "cpu", 2),
                               0, (2,), (1,), False, {}),
    "pid_view_metadata": Call(G("torch._utils", "_rebuild_tensor_v2"),
                              PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4,
                                  ("1", 0, 2)), 0, (2,), (1,), False, {}),
    "hooks_not_a_dict": Call(G("torch._utils", "_rebuild_tensor_v2"),
                             PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4),
                             0, (4,), (1,), False, 5),
    "ordered_dict_args": Call(G("collections", "OrderedDict"), 1, 2),
    "metadata_not_a_dict": Call(G("torch._utils", "_rebuild_tensor_v2"),
                                      PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4),
                                      0, (4,), (1,), False, {}, "not a dict"),
}


@pytest.mark.parametrize("case", sorted(BOGUS_CALLS))
def test_bogus_calls(tmp_path, case):
    value = BOGUS_CALLS[case]
    state = {"w": value}
    if case.startswith("same_key"):
        state = {"v": tensor_v2(), "w": value}
    path = torch_zip(tmp_path / "pytorch_model.bin", dumps(state), {"0": FOUR_FLOATS})
    with pytest.raises(CorruptModelFileError, match="pytorch_model.bin"):
        load_torch_checkpoint(path)


def test_memo_bomb_costs_nothing(tmp_path):
    # LONG_BINPUT 0xfffffff0 would make the C unpickler allocate (and zero) a 32 GiB memo table;
    # the reader's memo is a dict, so the slot number costs nothing.
    import tracemalloc

    payload = b"\x80\x02}r\xf0\xff\xff\xff" + emit("w") + emit(tensor_v2()) + b"s."
    path = torch_zip(tmp_path / "x.bin", payload, {"0": FOUR_FLOATS})
    tracemalloc.start()
    try:
        got = load_torch_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got["w"], np.arange(4, dtype="f4"))
    assert peak < 4 << 20
    # A memo slot that was never filled is a broken file.
    missing = b"\x80\x02j\xf0\xff\xff\xff."  # LONG_BINGET
    with pytest.raises(CorruptModelFileError, match="y.bin"):
        load_torch_checkpoint(torch_zip(tmp_path / "y.bin", missing))
    # The same slot around an empty dict: no tensors at all.
    empty = b"\x80\x02}r\xf0\xff\xff\xff."
    with pytest.raises(CorruptModelFileError, match="no tensors"):
        load_torch_checkpoint(torch_zip(tmp_path / "z.bin", empty))


def test_self_referencing_dict(tmp_path):
    payload = b"\x80\x02}q\x00X\x01\x00\x00\x00ah\x00s."  # d = {}; d['a'] = d
    with pytest.raises(CorruptModelFileError, match="refers to itself"):
        load_torch_checkpoint(torch_zip(tmp_path / "x.bin", payload))


def test_metadata_flags(tmp_path):
    rebuild = Call(G("torch._utils", "_rebuild_tensor_v2"),
                   PID("storage", G("torch", "FloatStorage"), "0", "cpu", 4),
                   0, (4,), (1,), False, {}, {"zeta": True})
    path = torch_zip(tmp_path / "x.bin", dumps({"w": rebuild}), {"0": FOUR_FLOATS})
    with pytest.raises(UnsupportedModelError, match="zeta"):
        load_torch_checkpoint(path)


# --- broken files -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_torch_checkpoint(tmp_path / "nope.bin")
    with pytest.raises(ModelNotFoundError):
        load_torch_checkpoint(tmp_path)


@pytest.mark.parametrize("content", [
    b"", b"hello world\n", bytes(range(256)) * 4, b"PK\x03\x04garbage", b"\x80\x02garbage",
    b"\x80\x02K\x05.", b"{\"json\": true}",
], ids=["empty", "text", "binary", "fake_zip", "fake_pickle", "wrong_magic", "json"])
def test_garbage(tmp_path, content):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(content)
    with pytest.raises(CorruptModelFileError, match="pytorch_model.bin"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.02, 0.3, 0.6, 0.9, 0.999])
def test_truncated(tmp_path, legacy, keep):
    full = save(tmp_path, {"a": torch.randn(64, 16), "b": torch.arange(300)}, legacy,
                name="full.bin").read_bytes()
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(full[: max(1, int(len(full) * keep))])
    with pytest.raises(CorruptModelFileError, match="pytorch_model.bin"):
        load_torch_checkpoint(path)


def test_zip_without_data_pkl_or_with_non_dict(tmp_path):
    path = tmp_path / "x.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/other.pkl", b"")
    with pytest.raises(CorruptModelFileError, match="data.pkl"):
        load_torch_checkpoint(path)
    for value in ([1, 2], 5, tensor_v2()):
        bad = torch_zip(tmp_path / "y.bin", dumps(value), {"0": FOUR_FLOATS})
        with pytest.raises(CorruptModelFileError, match="dictionary of tensors"):
            load_torch_checkpoint(bad)


def test_corrupted_storage_bytes_fail_the_crc(tmp_path):
    path = save(tmp_path, {"a": torch.randn(1000)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the 4000-byte storage record
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelFileError):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_random_corruption_never_leaks_raw_errors(tmp_path, legacy):
    tensors = {"a": torch.randn(4, 5), "b": torch.arange(6).view(2, 3).t(), "c": torch.ones(3)}
    full = save(tmp_path, tensors, legacy, name="full.bin").read_bytes()
    rng = random.Random(1234)
    path = tmp_path / "pytorch_model.bin"
    outcomes = set()
    for _ in range(300):
        data = bytearray(full)
        for _ in range(rng.choice([1, 1, 2, 8])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            got = load_torch_checkpoint(path)
        except ModelError as exc:
            outcomes.add(type(exc).__name__)
            assert "pytorch_model.bin" in str(exc)
        else:
            outcomes.add("ok")
            assert all(isinstance(v, np.ndarray) for v in got.values())
    assert "CorruptModelFileError" in outcomes



def legacy_stream(state, keys, storages: list[bytes]) -> bytes:
    """A hand-made legacy torch.save stream (`storages` already carry their int64 counts)."""
    head = b"".join(pickle.dumps(v, protocol=2) for v in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    return head + dumps(state) + pickle.dumps(keys, protocol=2) + b"".join(storages)


def test_legacy_hand_made_stream(tmp_path):
    # torch 1.x wrote a sixth persistent-id field (a storage view, always None by then).
    def tensor(view=None):
        pid = PID("storage", G("torch", "FloatStorage"), "140", "cpu", 6, view)
        return Call(G("torch._utils", "_rebuild_tensor_v2"), pid, 1, (2,), (1,), False, {})

    data = struct.pack("<q", 6) + np.arange(6, dtype="<f4").tobytes()
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(legacy_stream({"w": tensor()}, ["140"], [data]))
    np.testing.assert_array_equal(load_torch_checkpoint(path)["w"], [1.0, 2.0])
    # Pre-1.0 storage views, a count header disagreeing with the pickle, a key list not
    # matching, a storage cut short.
    for state, keys, storages, message in [
        ({"w": tensor(("141", 2, 3))}, ["140"], [data], "persistent id"),
        ({"w": tensor()}, ["140"], [struct.pack("<q", 7) + data[8:]], "does not hold 6"),
        ({"w": tensor()}, ["999"], [data], "list of storages"),
        ({"w": tensor()}, ["140"], [data[:-1]], "truncated"),
    ]:
        path.write_bytes(legacy_stream(state, keys, storages))
        with pytest.raises(CorruptModelFileError, match=f"pytorch_model.bin.*{message}"):
            load_torch_checkpoint(path)


def test_refuses_codecs_encode(tmp_path):
    # How protocol 2 spells bytes; no state dict holds any, so it is one more foreign global.
    payload = pickle.dumps({"blob": b"\x00\xff", "w": 1}, protocol=2)
    with pytest.raises(UnsafeModelFileError, match="'_codecs.encode'"):
        load_torch_checkpoint(torch_zip(tmp_path / "x.bin", payload))


def test_rezipped_archive_over_16_mib_loads(tmp_path):
    # A zip tool writes no zip64 end record for it: the directory's size must be read from the
    # plain end record (the offset of the directory, 24 MB here, is not its size).
    src = save(tmp_path, {"w": torch.arange(6_000_000, dtype=torch.float32)}, name="src.bin")
    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    with open(path, "rb") as fh:
        fh.seek(-22, os.SEEK_END)
        assert fh.read(4) == b"PK\x05\x06"  # no zip64 records before it
    np.testing.assert_array_equal(load_torch_checkpoint(path)["w"], np.arange(6_000_000, dtype="f4"))


def test_a_broadcast_view_cannot_outgrow_the_budget(tmp_path):
    # Stride 0 keeps every element inside a one-float storage, yet the array would be 4 TB.
    huge = tensor_v2(numel=1, size=(2**20, 2**20), stride=(0, 0))
    path = torch_zip(tmp_path / "pytorch_model.bin", dumps({"w": huge}), {"0": FOUR_FLOATS[:4]})
    with pytest.raises(CorruptModelFileError, match="would take more than 1000000 bytes"):
        load_torch_checkpoint(path, max_bytes=1_000_000)
    small = tensor_v2(numel=1, size=(2, 3), stride=(0, 0))  # a real expand() is still read
    path = torch_zip(tmp_path / "ok.bin", dumps({"w": small}), {"0": FOUR_FLOATS[4:8]})
    np.testing.assert_array_equal(load_torch_checkpoint(path)["w"], np.ones((2, 3), "f4"))
