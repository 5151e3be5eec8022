"""Where Albert Lens keeps models, caches and settings.

`ALBERT_LENS_HOME` moves everything under one folder (tests, portable installs); otherwise the
platform's conventional user folders are used.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from engine.errors import StoreError

APP_NAME = "albert-lens"


def _home() -> Path | None:
    value = os.environ.get("ALBERT_LENS_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """The local model store: one folder per installed model."""
    return data_dir() / "models"


def graph_cache_dir() -> Path:
    """Converted ONNX graphs, keyed by the weights' hash."""
    return cache_dir() / "graphs"


def ensure_dir(path: Path) -> Path:
    """Create the folder `path` if needed; a `StoreError` that says what is in the way if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            return path
        problem = None
    except OSError as exc:
        problem = exc
    raise StoreError(_unusable(path, problem))


def unusable_message(path: Path, exc: OSError | None) -> str:
    """One line on why `path` (a folder of ours) cannot be written, and what to do."""
    return _unusable(Path(path), exc)


def _unusable(path: Path, exc: OSError | None) -> str:
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    home = _home()
    hint = (f" Set ALBERT_LENS_HOME (now {home}) to a folder you can write to."
            if home is not None else " Set ALBERT_LENS_HOME to a folder you can write to.")
    if blocker is not None:
        return f"{path} cannot be created: {blocker} is a file, not a folder.{hint}"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"No space left on the disk of {path}. Free some space.{hint}"
    if code == errno.EROFS:
        return f"{path} is on a read-only file system.{hint}"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path} cannot be written: permission denied.{hint}"
    reason = (exc.strerror or str(exc)).lower() if exc is not None else "not a folder"
    return f"{path} cannot be used: {reason}.{hint}"
