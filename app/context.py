"""What every panel needs from the window, passed as one object instead of a back-reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.analysis import AnalysisService
from app.settings import Settings
from app.workers import JobManager


@dataclass
class AppContext:
    settings: Settings
    jobs: JobManager
    analysis: AnalysisService
    show_error: Callable[[str, BaseException], None]
    manage_models: Callable[[], None]
    # The Library's stored entities for a file (unchanged since indexed, same model), or None;
    # called off the UI thread.
    stored_entities: Callable[[Path], list | None] = lambda _path: None
