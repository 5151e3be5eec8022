"""Where the app finds resources/ (icons, themes): next to the source tree or in a frozen app."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and (Path(frozen) / "resources").is_dir():
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def resource(*parts: str) -> Path | None:
    path = resources_dir().joinpath(*parts)
    return path if path.exists() else None
