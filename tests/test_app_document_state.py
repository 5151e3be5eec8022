"""The document's state without Qt: results, task states, entity groups, notifications, and the
exports made from it alone (no window, no session widget)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from app.document_state import (
    DONE,
    FAILED,
    IDLE,
    NO_MODEL,
    RUNNING,
    DocumentState,
    QuestionResult,
    answer_context,
)
from app.export import entities_csv, html_report, results_dict, write_json
from engine.report import results_report, to_json
from engine.tasks import registry
from engine.tasks.results import Answer, Entity, SentenceSentiment, Sentiment, Span, Summary

REPO = Path(__file__).resolve().parents[1]
TEXT = ("😀 Ada Lovelace met Charles Babbage in London.\n\n"
        "=CMD Ada Lovelace wrote the notes. London was rainy.")


def span(word: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(word, start + 1)
    return start, start + len(word)


def entity(label: str, word: str, nth: int = 0, score: float = 0.9) -> Entity:
    start, end = span(word, nth)
    return Entity(label, start, end, word, score)


@pytest.fixture
def state(tmp_path) -> DocumentState:
    path = tmp_path / "notes.txt"
    path.write_text(TEXT, encoding="utf-8")
    return DocumentState(engine.load_document(path))


@pytest.fixture
def entities() -> list[Entity]:
    return [entity("B-PER", "Ada Lovelace"), entity("I-PER", "Charles Babbage", score=0.5),
            entity("LOC", "London"), entity("MISC", "=CMD"),
            entity("B-PER", "Ada Lovelace", 1, 0.75), entity("LOC", "London", 1)]


def test_a_new_state_has_every_registry_task_idle(state):
    assert list(state.tasks) == list(registry.TASK_NAMES)
    assert all(state.state(task) == IDLE for task in registry.TASK_NAMES)
    assert state.entities is None and state.summary is None and state.sentiment is None
    assert state.questions == [] and state.current_question is None
    assert state.document.text == TEXT


def test_listeners_hear_each_task_state_change_until_they_unsubscribe(state):
    heard, also = [], []
    unsubscribe = state.subscribe(heard.append)
    state.subscribe(also.append)
    state.set_task_state("ner", RUNNING, job="job-1")
    assert state.tasks["ner"].job == "job-1"
    state.set_task_state("sentiment", NO_MODEL, "No sentiment model is installed.")
    assert heard == ["ner", "sentiment"] == also
    assert state.tasks["sentiment"].message == "No sentiment model is installed."
    unsubscribe()
    unsubscribe()  # a second call is harmless
    state.set_task_state("ner", DONE)
    assert heard == ["ner", "sentiment"]
    assert also == ["ner", "sentiment", "ner"]


def test_a_result_lands_with_one_notification_its_done_state(state, entities):
    heard = []
    state.subscribe(heard.append)
    state.set_entities(entities)
    state.summary = Summary([Span(*span("Ada Lovelace met"), "Ada Lovelace met", 1.0)])
    assert heard == []
    state.set_task_state("ner", DONE)
    assert heard == ["ner"]


def test_entity_groups_by_type_and_text_most_mentioned_first(state, entities):
    assert state.groups() == []
    state.set_entities(entities)
    groups = state.groups()
    # B-PER and I-PER are one type, PER: the results carry it.
    assert [(kind, text, [(m.start, m.end) for m in mentions]) for kind, text, mentions
            in groups] == [
        ("PER", "Ada Lovelace", [span("Ada Lovelace"), span("Ada Lovelace", 1)]),
        ("LOC", "London", [span("London"), span("London", 1)]),
        ("MISC", "=CMD", [span("=CMD")]),
        ("PER", "Charles Babbage", [span("Charles Babbage")]),
    ]
    assert state.groups() is groups  # worked out once per result
    state.mention_cursor[("PER", "Ada Lovelace")] = 1
    state.set_entities(entities[:1])
    assert state.mention_cursor == {}
    assert [text for _, text, _ in state.groups()] == ["Ada Lovelace"]


def test_hidden_types(state):
    state.set_type_hidden("LOC", True)
    state.set_type_hidden("PER", True)
    state.set_type_hidden("PER", False)
    assert state.hidden_types == {"LOC"}


def test_answers_move_their_question_to_the_top(state):
    first, second = QuestionResult("Who met Babbage?"), QuestionResult("Where?")
    start, end = span("Ada Lovelace")
    ada = Answer("Ada Lovelace", start, end, 0.8, context_start=start - 2,
                 context_end=span("London.")[1])
    state.add_answers(first, [ada])
    state.add_answers(second, [Answer("", 0, 0, 0.7, no_answer=True)])
    again = QuestionResult("Who met Babbage?")
    state.add_answers(again, [ada])
    assert [q.question for q in state.questions] == ["Who met Babbage?", "Where?"]
    assert state.questions[0] is again and again.answered and not again.no_answer
    assert state.questions[1].no_answer
    state.current_question = second
    assert state.shown_answer() is None
    state.current_question = again
    assert state.shown_answer() is ada
    assert answer_context(ada) == (start - 2, span("London.")[1])
    # An answer without a context (an old result) is its own context.
    assert answer_context(Answer("London", *span("London"), 0.5)) == span("London")


def _filled(state: DocumentState, entities: list[Entity]) -> DocumentState:
    state.set_entities(entities)
    question = QuestionResult("Where did they meet?")
    start, end = span("London")
    state.add_answers(question, [Answer("London", start, end, 0.6, context_start=span("Ada")[0],
                                        context_end=span("London.")[1])])
    state.current_question = question
    first = span("😀 Ada Lovelace met Charles Babbage in London.")
    state.summary = Summary([Span(*first, TEXT[slice(*first)], 1.0)])
    sentence = SentenceSentiment(*first, TEXT[slice(*first)], "positive", 0.8,
                                 {"positive": 0.8, "negative": 0.2})
    state.sentiment = Sentiment("positive", 0.7, {"positive": 0.7, "negative": 0.3}, [sentence])
    state.set_task_state("summarization", DONE)
    state.set_task_state("question-answering", FAILED, "The model's weights are truncated.")
    state.set_task_state("sentiment", NO_MODEL, "No sentiment model is installed.")
    return state


def test_json_export_is_the_engines_report_of_the_state(state, entities, tmp_path):
    state = _filled(state, entities)
    expected = results_report(
        state.document, entities=entities, questions=state.questions, summary=state.summary,
        sentiment=state.sentiment,
        tasks={"qa": {"status": "failed", "error": "The model's weights are truncated."},
               "sentiment": {"status": "skipped", "error": "No sentiment model is installed."}})
    assert results_dict(state) == expected
    write_json(tmp_path / "r.json", state)
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == to_json(expected) + "\n"
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [e["type"] for e in data["entities"]] == ["PER", "PER", "LOC", "MISC", "PER", "LOC"]


def test_csv_export_from_the_state(state, entities):
    rows = list(csv.reader(io.StringIO(entities_csv(_filled(state, entities)))))
    assert rows[0] == ["type", "type_name", "label", "text", "start", "end", "score", "page"]
    ada, babbage = span("Ada Lovelace"), span("Charles Babbage")
    assert rows[1] == ["PER", "Person", "B-PER", "Ada Lovelace", str(ada[0]), str(ada[1]),
                       "0.9000", ""]
    assert rows[2] == ["PER", "Person", "I-PER", "Charles Babbage", str(babbage[0]),
                       str(babbage[1]), "0.5000", ""]
    assert rows[4][:4] == ["MISC", "Miscellaneous", "MISC", "'=CMD"]  # a formula is defused
    assert len(rows) == 1 + len(entities)


def test_html_export_from_the_state(state, entities):
    state = _filled(state, entities)
    state.set_type_hidden("LOC", True)
    report = html_report(state)
    assert '<mark class="e-PER" title="Person · confidence 90%">Ada Lovelace</mark>' in report
    assert 'class="e-LOC"' not in report  # hidden in the state, left out of the report
    assert '<mark class="answer" title="Answer">London</mark>' in report
    assert "<h2>Summary</h2>" in report and "<h2>Sentiment</h2><p>positive · 70%" in report
    assert "<b>Where did they meet?</b> — London (60%)" in report
    assert 'class="e-LOC"' in html_report(state, hidden_types=set())


def test_the_state_and_the_exports_import_no_qt(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None\n"  # any Qt import fails
        "from app.document_state import DocumentState, DONE\n"
        "from engine.documents import Document\n"
        "state = DocumentState(Document.from_text('Ada met Babbage.'))\n"
        "heard = []\n"
        "state.subscribe(heard.append)\n"
        "state.set_task_state('ner', DONE)\n"
        "assert heard == ['ner'], heard\n"
        "assert not any(m.startswith('PySide6.') for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_the_apps_task_order_lists_every_registry_task_once():
    from app.settings import MODEL_KIND_ORDER, TASK_ORDER, model_kind_name, task_name

    assert sorted(TASK_ORDER) == sorted(registry.TASK_NAMES)
    assert sorted(MODEL_KIND_ORDER) == sorted(registry.MODEL_KIND_NAMES)
    assert [task_name(t) for t in TASK_ORDER] == [registry.task_spec(t).display_name
                                                  for t in TASK_ORDER]
    assert model_kind_name("embeddings") == registry.task_spec("summarization").display_name
