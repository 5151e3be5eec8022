"""The task registry is the one description of the tasks: everything else reads it."""

from __future__ import annotations

import pytest

from engine.cli import ANALYZE_TASKS, build_parser
from engine.models import catalog
from engine.models.cli import TASK_CHOICES
from engine.report import RESULT_KEYS, TASK_NAMES
from engine.tasks import registry
from engine.tasks._common import TaskPipeline


@pytest.mark.parametrize("spec", registry.TASKS, ids=lambda s: s.name)
def test_each_task_names_a_pipeline_a_model_kind_and_a_catalog_model(spec):
    cls = spec.pipeline_class()
    assert issubclass(cls, TaskPipeline) and cls.task == spec.name
    kind = registry.model_kind(spec.model_kind)
    assert spec.head == kind.head
    entry = catalog.catalog_entry(spec.suggested_model)
    assert entry is not None and entry.task == spec.model_kind, spec.suggested_model


@pytest.mark.parametrize(("name", "task", "kind"), [
    ("qa", "question-answering", "question-answering"),
    ("Question_Answering", "question-answering", "question-answering"),
    ("entities", "ner", "ner"),
    ("token-classification", "ner", "ner"),
    ("text-classification", "sentiment", "sentiment"),
    ("sentiment-analysis", "sentiment", "sentiment"),
    ("summary", "summarization", "embeddings"),
    ("summarization", "summarization", "embeddings"),
])
def test_every_name_leads_to_one_task_and_one_kind_of_model(name, task, kind):
    assert registry.task_spec(name).name == task
    assert registry.model_kind(name).name == kind
    assert catalog.canonical_task(name) == kind


def test_model_kinds_that_are_not_tasks_are_still_kinds():
    assert registry.model_kind("retrieval").name == "embeddings"
    assert registry.model_kind_for_head("token").name == "ner"
    with pytest.raises(ValueError, match="Unknown task 'retrieval'"):
        registry.task_spec("retrieval")
    with pytest.raises(ValueError, match="Unknown task 'translation'"):
        registry.model_kind("translation")


def test_the_cli_the_store_and_the_report_follow_the_registry():
    shorts = [spec.short for spec in registry.TASKS]
    assert list(ANALYZE_TASKS) == [*shorts, "all"]
    assert list(TASK_NAMES) == shorts
    assert RESULT_KEYS == {spec.short: spec.result_key for spec in registry.TASKS}
    assert set(TASK_CHOICES) >= {n for s in registry.TASKS for n in (s.name, s.short, *s.aliases)}
    assert catalog.TASKS == tuple(kind.name for kind in registry.MODEL_KINDS)
    args = build_parser().parse_args(["analyze", "x.txt", "--task", "summary"])
    assert args.task == "summary"


def test_every_kind_of_model_has_a_task_that_uses_it():
    for kind in registry.MODEL_KINDS:
        assert registry.tasks_using(kind.name), kind.name
