"""Where Albert Lens keeps models, caches and settings.

`ALBERT_LENS_HOME` moves everything under one folder (tests, portable installs); otherwise the
platform's conventional user folders are used.
"""

from __future__ import annotations

import os
from pathlib import Path

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
