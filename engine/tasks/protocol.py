"""What a caller of `engine.pipeline` may rely on: the pipelines in engine/tasks implement these
protocols, and so must anything that stands in for them (the app tests' fakes). A test compares
the call signatures of the protocols, the real pipelines and the fakes, so none drifts alone.
`ModelsApi` is the part of `engine.models` the app calls, for the same check of its fakes.

Imports nothing heavy: the app may import it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

    from engine.documents import Document
    from engine.models import CatalogEntry, InstalledModel
    from engine.tasks.results import Answer, Attribution, Classification, Entity, Sentiment, Summary

Progress = Callable[[int, int], None] | None  # progress(done, total)
Cancel = Callable[[], bool] | None  # true once the caller wants the work stopped


@runtime_checkable
class DeviceInfo(Protocol):
    """Where a pipeline runs (`engine.runtime.providers.DeviceChoice`)."""

    fallback_reason: str | None  # why the CPU runs although a GPU was asked for, else None

    @property
    def is_gpu(self) -> bool: ...

    def describe(self) -> str: ...


@runtime_checkable
class Pipeline(Protocol):
    """What every task pipeline tells about itself."""

    @property
    def model_name(self) -> str: ...

    @property
    def device(self) -> DeviceInfo: ...


@runtime_checkable
class EntityPipeline(Pipeline, Protocol):
    def __call__(self, text: str | Document, *, aggregation: str | None = None,
                 progress: Progress = None, cancel: Cancel = None) -> list[Entity]: ...


@runtime_checkable
class AnswerPipeline(Pipeline, Protocol):
    """Options (`top_k`, `null_threshold`, `thorough`…) are keywords; an unknown one is a
    TypeError."""

    def __call__(self, question: str, context: str | Document, *, progress: Progress = None,
                 cancel: Cancel = None, **options: Any) -> list[Answer]: ...


@runtime_checkable
class SentimentPipeline(Pipeline, Protocol):
    def __call__(self, text: str | Document, *, sentences: bool | None = None,
                 document: str | None = None, progress: Progress = None,
                 cancel: Cancel = None) -> Sentiment: ...


@runtime_checkable
class SummaryPipeline(Pipeline, Protocol):
    """Options (`max_sentences`, `ratio`, `diversity`…) are keywords; an unknown one is a
    TypeError."""

    def __call__(self, text: str | Document, *, progress: Progress = None,
                 cancel: Cancel = None, **options: Any) -> Summary: ...


@runtime_checkable
class ClassificationPipeline(Pipeline, Protocol):
    """Zero-shot: `labels` a list or a comma-separated string."""

    def __call__(self, text: str | Document, labels: list[str] | str, *,
                 multi_label: bool | None = None, hypothesis_template: str | None = None,
                 paragraphs: bool | None = None, progress: Progress = None,
                 cancel: Cancel = None) -> Classification: ...

    def explain(self, text: str | Document, labels: list[str] | str, label: str | None = None,
                *, multi_label: bool | None = None, hypothesis_template: str | None = None,
                progress: Progress = None, cancel: Cancel = None) -> list[Attribution]: ...


# The protocol of each registry task's pipeline (engine.tasks.registry.TASKS).
PIPELINE_PROTOCOLS: dict[str, type[Pipeline]] = {
    "ner": EntityPipeline,
    "question-answering": AnswerPipeline,
    "sentiment": SentimentPipeline,
    "summarization": SummaryPipeline,
    "zero-shot-classification": ClassificationPipeline,
}


class ModelsApi(Protocol):
    """The calls the app makes on `engine.models` (and its store), each with the arguments it
    passes; the real functions take more (a test checks they take these alike)."""

    def store_dir(self) -> Path: ...

    def load_catalog(self) -> list[CatalogEntry]: ...

    def standard_pack(self) -> list[CatalogEntry]: ...

    def list_installed(self, task: str | None = None) -> list[InstalledModel]: ...

    def defaults(self) -> dict[str, str]: ...

    def download_model(self, repo_id: str, task: str | None = None, *,
                       progress: Callable[[int, int, str], None] | None = None,
                       cancel: Cancel = None,
                       stage: Callable[[str], None] | None = None) -> InstalledModel: ...

    def import_model(self, folder: str | Path, task: str | None = None) -> InstalledModel: ...

    def detect_task(self, model_dir: str | Path) -> str | None: ...

    def remove(self, id_or_name: str) -> InstalledModel: ...

    def set_default_model(self, task: str, model_id: str) -> InstalledModel: ...
