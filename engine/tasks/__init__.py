"""The analysis tasks: question answering, entities, sentiment and extractive summaries.

``engine.pipeline(task, model=None, device="auto", **options)`` builds one of them. ``model`` is a
model folder or the id of an installed model; None takes the installed default for the task.
Every pipeline call accepts ``progress=callable(done, total)`` and ``cancel=callable() -> bool``
(which raises `engine.errors.Cancelled`), and every span it returns satisfies
``text == document_text[start:end]`` with no surrounding whitespace. A `Document` can be passed
wherever a text is expected (its paragraphs then guide sentences and passages).

Common options: ``backend="onnx"|"torch"``, ``precision="fp32"|"int8"``.
"""

from __future__ import annotations

from typing import Any

from engine.tasks.results import (
    Answer,
    Entity,
    SentenceSentiment,
    Sentiment,
    Span,
    Summary,
    to_dict,
)

TASK_ALIASES = {
    "question-answering": "question-answering",
    "qa": "question-answering",
    "ner": "ner",
    "token-classification": "ner",
    "entities": "ner",
    "sentiment": "sentiment",
    "text-classification": "sentiment",
    "sentiment-analysis": "sentiment",
    "summarization": "summarization",
    "summary": "summarization",
}
TASKS = ("question-answering", "ner", "sentiment", "summarization")


def pipeline_task_name(task: str) -> str:
    """The pipeline behind a task name ("qa" -> "question-answering"); ValueError if unknown.

    Not engine.models.catalog.canonical_task, which names the kind of model a task needs
    ("summarization" -> "embeddings").
    """
    key = str(task).strip().lower().replace("_", "-")
    if key not in TASK_ALIASES:
        raise ValueError(
            f"Unknown task {task!r}. Tasks: question-answering (qa), ner "
            "(token-classification), sentiment (text-classification), summarization (summary)."
        )
    return TASK_ALIASES[key]


def pipeline(task: str, model=None, device: str = "auto", **options: Any):
    """A task runner, loaded once and called many times."""
    name = pipeline_task_name(task)
    if name == "question-answering":
        from engine.tasks.qa import QuestionAnsweringPipeline as cls
    elif name == "ner":
        from engine.tasks.ner import TokenClassificationPipeline as cls
    elif name == "sentiment":
        from engine.tasks.sentiment import TextClassificationPipeline as cls
    else:
        from engine.tasks.summarization import SummarizationPipeline as cls
    return cls(model, device, **options)


__all__ = [
    "TASKS",
    "Answer",
    "Entity",
    "SentenceSentiment",
    "Sentiment",
    "Span",
    "Summary",
    "pipeline",
    "pipeline_task_name",
    "to_dict",
]
