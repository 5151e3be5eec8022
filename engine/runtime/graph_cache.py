"""Converted ONNX graphs cached on disk, keyed by what they were built from.

The key hashes the weights' bytes, the config, the head, the precision and the graph builder's
version, so a changed checkpoint or a new builder never reuses a stale graph. Files are written to
a temporary name and renamed, so a crash never leaves a half-written graph under a valid name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from engine import paths

_HASH_CHUNK = 4 * 1024 * 1024


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered by (size, mtime) so large weights are hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_path = paths.cache_dir() / "file-hashes.json"
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = _read_json(memo_path)
    if memo_key in memo:
        return memo[memo_key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    memo[memo_key] = digest.hexdigest()
    # Keep the memo small: drop entries for other versions of the same file.
    memo = {k: v for k, v in memo.items() if not k.startswith(f"{path}|") or k == memo_key}
    try:
        atomic_write_bytes(memo_path, json.dumps(memo, indent=0).encode())
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return memo[memo_key]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def graph_key(weight_files: list[Path], config_json: Path, head: str, precision: str,
              builder_version: int, extra: str = "") -> str:
    digest = hashlib.sha256()
    for part in (f"v{builder_version}", head, precision, extra):
        digest.update(part.encode() + b"\0")
    digest.update(Path(config_json).read_bytes())
    for path in weight_files:
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()[:32]


def cached_graph_path(key: str, precision: str) -> Path:
    return paths.graph_cache_dir() / f"albert-{key}-{precision}.onnx"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
