"""Converted ONNX graphs cached on disk, keyed by what they were built from.

The key hashes the weights' content, the config, the head, the precision and the graph builder's
version, so a changed checkpoint or a new builder never reuses a stale graph. A weight file's
content hash is the sha256 the store recorded in `albert-lens.json` when the file has not been
touched since (mtime and ctime no newer than that record), else the file's own sha256, memoised
by (path, inode, size, mtime, ctime): rewriting a file in place changes its ctime even when its
size and mtime are put back.

Each graph `albert-<key>-<precision>.onnx` has a sidecar `<graph>.json` holding its own sha256
and size, the weight hashes it was built from and the file identity it was last verified under,
written atomically after the graph. A graph is used only when it matches its sidecar (re-hashed
whenever its identity moved); a damaged, truncated, tampered or unrecorded one is rebuilt. Conversions hold a lock per key and write under temporary names `.tmp-<key>-...` in the
cache folder; a temporary file whose key nobody holds is what a dead conversion left, and is
deleted the next time a conversion starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine import paths
from engine.errors import ModelError, ModelFileUnreadableError

_HASH_CHUNK = 4 * 1024 * 1024
SIDECAR_SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"
LOCK_PREFIX = ".lock-"
STORE_METADATA = "albert-lens.json"
SIDECAR_FORMAT = 1
# Leftovers of the older layout (mkstemp next to the graph, TemporaryDirectory for int8), which
# carry no key to lock: removed once this old.
LEGACY_TEMP_SECONDS = 3600
_MAX_METADATA_BYTES = 4 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GRAPH_NAME = re.compile(r"albert-([0-9a-f]+)-(fp32|int8)\.onnx")


# --- content hashes of the weights ---------------------------------------------------------------
def file_sha256(path: Path, remember: bool = True) -> str:
    """SHA-256 of a file, remembered while the file is untouched, so large weights hash once.
    `remember=False` uses what is remembered but adds nothing (the store's small files)."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    memo_path = paths.cache_dir() / "file-hashes.json"
    memo_key = (f"{path}|{stat.st_dev}:{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|"
                f"{stat.st_ctime_ns}")
    memo = _read_json(memo_path)
    if memo_key in memo:
        return memo[memo_key]
    try:
        memo[memo_key] = file_digest(path)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if not remember:
        return memo[memo_key]
    # Keep the memo small: drop entries for other versions of the same file.
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{path}|") or k == memo_key}
    try:
        atomic_write_bytes(memo_path, json.dumps(memo, indent=0).encode())
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return memo[memo_key]


def _unreadable(path: Path, exc: OSError) -> ModelFileUnreadableError:
    from engine.albert.weights import unreadable

    return unreadable(path, exc)


def recorded_hashes(model_dir: Path) -> dict[str, str]:
    """sha256 by file name from the store's `albert-lens.json`, for the files untouched since.

    Only a folder of the store counts: one opened from elsewhere may bring an albert-lens.json
    naming another model's hashes (and a future mtime), which would file its graph under that
    model's key."""
    from engine.albert.config import read_json_object
    from engine.errors import ModelError

    model_dir = Path(model_dir)
    try:
        if model_dir.resolve().parent != paths.models_dir().resolve():
            return {}
    except OSError:
        return {}
    meta = model_dir / STORE_METADATA
    try:
        meta_stat = meta.stat()
        files = read_json_object(meta, max_bytes=_MAX_METADATA_BYTES).get("files")
    except (OSError, ModelError):
        return {}
    if not isinstance(files, dict):
        return {}
    found = {}
    for name, info in files.items():
        if not isinstance(info, dict) or not isinstance(name, str):
            continue
        sha = info.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            continue
        try:
            stat = (Path(model_dir) / name).stat()
        except OSError:
            continue
        # Written, renamed or changed after the record was made: the record may not describe it.
        if (stat.st_size == info.get("size") and stat.st_mtime_ns <= meta_stat.st_mtime_ns
                and stat.st_ctime_ns <= meta_stat.st_mtime_ns):
            found[name] = sha
    return found


def weight_hashes(model_dir: Path, files: list[Path]) -> list[str]:
    """The content hash of each weight file: the store's record when valid, else hashed."""
    recorded = recorded_hashes(model_dir)
    hashes = []
    for path in files:
        try:
            name = Path(path).resolve().relative_to(Path(model_dir).resolve()).as_posix()
        except ValueError:
            name = None
        hashes.append(recorded.get(name) if name in recorded else file_sha256(path))
    return hashes


def graph_key(weight_hashes: list[str], config_json: Path, head: str, precision: str,
              builder_version: int, extra: str = "") -> str:
    digest = hashlib.sha256()
    for part in (f"v{builder_version}", head, precision, extra):
        digest.update(part.encode() + b"\0")
    digest.update(Path(config_json).read_bytes())
    for sha in weight_hashes:
        digest.update(sha.encode())
    return digest.hexdigest()[:32]


# --- graphs and their sidecars --------------------------------------------------------------------
def cached_graph_path(key: str, precision: str) -> Path:
    return paths.graph_cache_dir() / f"albert-{key}-{precision}.onnx"


def sidecar_path(graph: Path) -> Path:
    return Path(graph).with_name(Path(graph).name + SIDECAR_SUFFIX)


def verified_graph(key: str, precision: str) -> Path | None:
    """The cached graph when it is exactly the one written (sha256 and size of its sidecar).

    Hashing a 0.9 GB graph takes seconds, so the sidecar also keeps the file's identity (inode,
    size, mtime, ctime) as last verified: while that is unchanged the file has not been written
    to since (any write, rename or utime moves ctime) and the hash is not recomputed."""
    graph = cached_graph_path(key, precision)
    sidecar = sidecar_path(graph)
    record = _read_json(sidecar)
    try:
        stat = graph.stat()
        if record.get("format") != SIDECAR_FORMAT or stat.st_size != record.get("size"):
            return None
        if record.get("identity") == _identity(stat):
            return graph
        if file_digest(graph) != record.get("sha256"):
            return None
    except OSError:
        return None
    # The right bytes under a new identity (a restored or copied cache): remember it.
    record["identity"] = _identity(stat)
    with contextlib.suppress(OSError):
        atomic_write_bytes(sidecar, json.dumps(record, indent=1).encode(),
                           prefix=f"{TEMP_PREFIX}{key}-")
    return graph


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def store_graph(key: str, precision: str, data: bytes | Path, weights: list[str]) -> Path:
    """Put a graph (bytes, or a file of ours to move in) into the cache with its sidecar.

    The old sidecar goes first and the new one is written last, so a crash in between leaves a
    graph without a record: rebuilt next time, never trusted."""
    graph = cached_graph_path(key, precision)
    graph.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sidecar_path(graph))
    if isinstance(data, (bytes, bytearray, memoryview)):
        sha = hashlib.sha256(data).hexdigest()
        size = len(data)
        atomic_write_bytes(graph, data, prefix=f"{TEMP_PREFIX}{key}-")
    else:
        sha, size = file_digest(Path(data)), Path(data).stat().st_size
        os.replace(data, graph)
    record = {"format": SIDECAR_FORMAT, "sha256": sha, "size": size, "precision": precision,
              "weights": list(weights), "created": int(time.time()),
              "identity": _identity(graph.stat())}
    atomic_write_bytes(sidecar_path(graph), json.dumps(record, indent=1).encode(),
                       prefix=f"{TEMP_PREFIX}{key}-")
    return graph


def discard(graph: Path) -> None:
    """Drop a cached graph (and its record) that turned out to be unusable."""
    for path in (sidecar_path(graph), Path(graph)):
        with contextlib.suppress(OSError):
            os.unlink(path)


def forget_model(weight_hashes: Iterable[str]) -> int:
    """Delete every cached graph built from any of these weight files (their sha256, as the
    store records them): what `albert-lens models remove` calls. Returns how many were deleted.

    A graph being converted right now is left alone; one shared with another model that has the
    same weights is rebuilt when that model next loads."""
    doomed = {h for h in weight_hashes if isinstance(h, str)}
    root = paths.graph_cache_dir()
    if not doomed or not root.is_dir():
        return 0
    removed = 0
    for sidecar in root.glob(f"albert-*.onnx{SIDECAR_SUFFIX}"):
        graph = sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])
        match = _GRAPH_NAME.fullmatch(graph.name)
        weights = _read_json(sidecar).get("weights")
        if match is None or not isinstance(weights, list) or not doomed & set(map(str, weights)):
            continue
        lock = _try_lock(match.group(1))
        if lock is None:
            continue
        try:
            discard(graph)
            removed += 1
        finally:
            lock.release()
    return removed


# --- conversions: one at a time per key, temporary files cleaned up --------------------------------
@contextlib.contextmanager
def conversion(key: str) -> Iterator[None]:
    """Hold the key's lock for a conversion, after removing what dead conversions left."""
    from filelock import FileLock

    root = paths.graph_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / f"{LOCK_PREFIX}{key}"))
    try:
        lock.acquire()
    except (OSError, NotImplementedError):
        # A file system without locks (some network shares): convert unlocked, clean nothing;
        # the atomic renames still keep every graph whole.
        yield
        return
    try:
        clean_stale_temps(own_key=key)
        yield
    finally:
        lock.release()


def temp_dir(key: str) -> Path:
    """A fresh folder for a conversion of `key` (call inside `conversion(key)`)."""
    return Path(tempfile.mkdtemp(dir=paths.graph_cache_dir(), prefix=f"{TEMP_PREFIX}{key}-"))


def clean_stale_temps(own_key: str | None = None, now: float | None = None) -> int:
    """Remove temporary files of conversions that died: those whose key nobody holds (or our own
    key, which the caller holds), and keyless ones of the older layout once they are an hour old."""
    root = paths.graph_cache_dir()
    now = time.time() if now is None else now
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    by_key: dict[str, list[Path]] = {}
    removed = 0
    for entry in entries:
        name = entry.name
        if name.startswith(TEMP_PREFIX):
            by_key.setdefault(name[len(TEMP_PREFIX):].split("-", 1)[0], []).append(entry)
        elif (name.startswith(".albert-") and name.endswith(".tmp")) or (
                name.startswith("tmp") and entry.is_dir()):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > LEGACY_TEMP_SECONDS:
                    _remove(entry)
                    removed += 1
    for key, stale in by_key.items():
        lock = None if key == own_key else _try_lock(key)
        if key != own_key and lock is None:
            continue  # a live conversion is writing these
        try:
            for entry in stale:
                with contextlib.suppress(OSError):
                    _remove(entry)
                    removed += 1
        finally:
            if lock is not None:
                lock.release()
    return removed


def _try_lock(key: str):
    """The key's lock when nobody holds it (released by the caller), else None."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(paths.graph_cache_dir() / f"{LOCK_PREFIX}{key}"), timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return None
    return lock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


# --- files ------------------------------------------------------------------------------------------
def file_digest(path: Path, digest=None) -> str:
    """The hex digest (sha256 unless another hashlib object is given) of a file, read in chunks:
    the one file hasher of the engine (graphs, weights, the store's records, downloads)."""
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path: Path) -> dict:
    """The cache's own JSON (sidecars, the hash memo); {} when missing or damaged: it is remade."""
    from engine.albert.config import read_json_object

    try:
        return read_json_object(path)
    except ModelError:
        return {}


def atomic_write_bytes(path: Path, data: bytes, prefix: str | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
