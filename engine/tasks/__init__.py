"""The analysis tasks: question answering, entities, sentiment and extractive summaries.

``engine.pipeline(task, model=None, device="auto", **options)`` builds one of them. ``model`` is a
model folder or the id of an installed model; None takes the installed default for the task.
Every pipeline call accepts ``progress=callable(done, total)`` and ``cancel=callable() -> bool``
(which raises `engine.errors.Cancelled`), and every span it returns satisfies
``text == document_text[start:end]`` with no surrounding whitespace. A `Document` can be passed
wherever a text is expected (its paragraphs then guide sentences and passages).

Common options: ``backend="onnx"|"torch"``, ``precision="fp32"|"int8"``, ``fold_lookalikes=True``
(the model reads words written with look-alike letters of other scripts, "AᏞBERT", as the words
they spell; spans keep the text as written, at the same offsets; False reads them as written).
"""

from __future__ import annotations

from typing import Any

from engine.tasks.registry import TASK_NAMES as TASKS
from engine.tasks.registry import TaskSpec, task_spec
from engine.tasks.results import (
    Answer,
    Attribution,
    Classification,
    ClassifiedPart,
    Entity,
    SentenceSentiment,
    Sentiment,
    Span,
    Summary,
    to_dict,
)


def pipeline_task_name(task: str) -> str:
    """The pipeline behind a task name ("qa" -> "question-answering"); ValueError if unknown.

    Not engine.models.catalog.canonical_task, which names the kind of model a task needs
    ("summarization" -> "embeddings").
    """
    return task_spec(task).name


def pipeline(task: str, model=None, device: str = "auto", **options: Any):
    """A task runner, loaded once and called many times."""
    return task_spec(task).pipeline_class()(model, device, **options)


__all__ = [
    "TASKS",
    "Answer",
    "Attribution",
    "Classification",
    "ClassifiedPart",
    "Entity",
    "SentenceSentiment",
    "Sentiment",
    "Span",
    "Summary",
    "TaskSpec",
    "pipeline",
    "pipeline_task_name",
    "task_spec",
    "to_dict",
]
