"""The app's one door into the engine's tasks: pipelines loaded lazily, run as background jobs.

Nothing here tokenizes or touches logits: a pipeline is whatever `engine.pipeline` returns, called
with the document text. Loaded pipelines are kept per (task, model, device, precision, look-alike
folding), so the first analysis pays for loading a model and later ones do not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.settings import Settings
from app.workers import (
    Job,
    JobManager,
    Progress,
    call_at_background_priority,
    settle_long_lived_objects,
)
from engine.errors import Cancelled
from engine.tasks import registry
from engine.tasks.protocol import Pipeline

# (task, model, device, precision, fold_lookalikes=...) -> a pipeline
PipelineFactory = Callable[..., Pipeline]


def engine_pipeline(task: str, model: str | None, device: str, precision: str,
                    fold_lookalikes: bool = True):
    import engine

    return engine.pipeline(task, model=model, device=device, precision=precision,
                           fold_lookalikes=fold_lookalikes)


@dataclass(frozen=True)
class ModelInfo:
    """What the status bar says about a loaded pipeline."""

    task: str
    name: str
    device: str
    is_gpu: bool = False
    fallback_reason: str | None = None


def explain_device(described: str, is_gpu: bool, reason: str | None, setting: str) -> str:
    """What the status bar says: the GPU's name, or "CPU" and why it is not a GPU."""
    if is_gpu or reason:
        return described  # a fallback reason is already part of the description
    if setting == "cpu":
        return f"{described} (chosen in Settings)"
    return f"{described} (no GPU available to ONNX Runtime)"


def describe_pipeline(task: str, pipe: Pipeline) -> ModelInfo:
    device = pipe.device
    return ModelInfo(task, pipe.model_name, device.describe(), bool(device.is_gpu),
                     device.fallback_reason)


class AnalysisService(QObject):
    """Runs engine tasks on the job manager and remembers which models and device are in use."""

    models_changed = Signal()
    device_changed = Signal(str)

    def __init__(self, settings: Settings, jobs: JobManager,
                 pipeline_factory: PipelineFactory | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.jobs = jobs
        self._factory = pipeline_factory or engine_pipeline
        self._pipelines: dict[tuple, Any] = {}
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self.models_in_use: dict[str, ModelInfo] = {}
        self.device_text: str | None = None

    # --- pipelines (worker threads) --------------------------------------------------------------
    def _key(self, task: str) -> tuple:
        s = self.settings
        return (task, s.model_for(task), s.device, s.precision, s.fold_lookalikes)

    def _pipeline(self, key: tuple, progress: Progress | None = None):
        with self._lock:
            if key in self._pipelines:
                return self._pipelines[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # One load per key even when two jobs ask at once; other keys load in parallel.
        with key_lock:
            with self._lock:
                if key in self._pipelines:
                    return self._pipelines[key]
            if progress is not None:
                progress.note(f"loading the {registry.task_spec(key[0]).model_role} model")
            task, model, device, precision, fold = key
            pipe = call_at_background_priority(
                lambda: self._factory(task, model, device, precision, fold_lookalikes=fold))
            settle_long_lived_objects()  # a loaded pipeline lives until the settings change
            with self._lock:
                self._pipelines[key] = pipe
            return pipe

    def reset(self) -> None:
        """Forget loaded pipelines (device, precision, look-alike folding or model choice
        changed)."""
        with self._lock:
            self._pipelines.clear()
            self._key_locks.clear()
        self.models_in_use.clear()
        self.device_text = None
        self.models_changed.emit()

    def loaded(self, task: str) -> bool:
        with self._lock:
            return self._key(task) in self._pipelines

    # --- jobs (UI thread) ------------------------------------------------------------------------
    def run(self, task: str, call: Callable[[Any, Progress, Callable[[], bool]], Any], *,
            on_success: Callable[[Any], None], on_error: Callable[[Exception], None],
            on_cancel: Callable[[], None] | None = None, owner: object = None,
            title: str | None = None) -> Job:
        """Run `call(pipeline, progress, cancel)` in the background; callbacks on the UI thread."""
        key = self._key(task)

        def work(progress: Progress, cancel: Callable[[], bool]):
            pipe = self._pipeline(key, progress)
            if cancel():
                raise Cancelled("The analysis was cancelled.")
            progress.note("")
            info = describe_pipeline(task, pipe)
            return call(pipe, progress, cancel), info

        def done(payload) -> None:
            result, info = payload
            self._note_model(info)
            on_success(result)

        return self.jobs.submit(title or registry.task_spec(task).verb, work, on_success=done,
                                on_error=on_error, on_cancel=on_cancel, owner=owner,
                                lane="analysis")

    def _note_model(self, info: ModelInfo) -> None:
        if self.models_in_use.get(info.task) != info:
            self.models_in_use[info.task] = info
            self.models_changed.emit()
        text = explain_device(info.device, info.is_gpu, info.fallback_reason,
                              self.settings.device)
        if text != self.device_text:
            self.device_text = text
            self.device_changed.emit(text)

    def models_summary(self) -> str:
        """One short line for the status bar: the models' names without their owners."""
        return ", ".join(dict.fromkeys(i.name.rsplit("/", 1)[-1]
                                       for i in self.models_in_use.values()))

    def predict_device(self) -> None:
        """Say which device the engine will pick, before any model is loaded (in background)."""
        device = self.settings.device

        def work(progress, cancel):
            import engine

            choice = engine.choose_device(device)
            return explain_device(choice.describe(), choice.is_gpu, choice.fallback_reason,
                                  device)

        def done(text: str) -> None:
            if self.device_text is None:
                self.device_text = text
                self.device_changed.emit(text)

        self.jobs.submit("Checking the device", work, on_success=done, on_error=lambda e: None,
                         cancellable=False, visible=False)
