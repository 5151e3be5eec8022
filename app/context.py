"""What every panel needs from the window, passed as one object instead of a back-reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
