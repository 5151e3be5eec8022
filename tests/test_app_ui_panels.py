"""The task panels as a new user met them (issue 12): asking without a model, one Summarize
button, one name for the model manager, answers that can be told apart."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from app.document_state import IDLE, NO_MODEL
from app.panels.ask import NO_ANSWER_TEXT
from engine.tasks.results import Answer
from tests.app_support import (
    FakeQA,
    FakeSummarizer,
    fake_factory,
    make_window,
    open_document,
    text_file,
    wait_idle,
)

QA = "question-answering"


def _visible_buttons(widget) -> list[str]:
    return [b.text() for b in widget.findChildren(QPushButton) if b.isVisibleTo(widget)]


def test_asking_without_a_model_does_not_pretend_to_have_searched(qtbot, home):
    missing = {QA}
    factory = fake_factory(missing=missing)
    w = make_window(qtbot, factory)
    session = open_document(qtbot, w, text_file(home))
    w.show_panel(1)
    panel = w.ask_panel
    panel.ask("Where was she born?")
    wait_idle(qtbot, w)
    assert session.state(QA) == NO_MODEL
    assert not panel.heading.text().startswith("Q:")
    assert [lb.text() for lb in panel.answer_labels] == []
    assert NO_ANSWER_TEXT not in [lb.text() for lb in panel.answer_labels]
    assert panel.notice.isVisible()
    assert "No question-answering model" in panel.notice.label.text()

    # A model arrives (imported in the model manager): the notice goes, and the waiting
    # question is answered without asking again.
    missing.clear()
    w.models_changed()
    wait_idle(qtbot, w)
    assert session.state(QA) != NO_MODEL
    assert not panel.notice.isVisible()
    assert panel.heading.text() == "Q: Where was she born?"
    assert [a.text for a in session.document_state.current_question.answers] == ["Warsaw", "Paris"]


def test_no_model_notice_goes_for_summary_and_sentiment_when_models_change(qtbot, home):
    missing = {"summarization", "sentiment"}
    w = make_window(qtbot, fake_factory(missing=missing))
    session = open_document(qtbot, w, text_file(home))
    w.summary_panel.start(session)
    w.sentiment_panel.start(session)
    wait_idle(qtbot, w)
    assert session.state("summarization") == NO_MODEL == session.state("sentiment")
    missing.clear()
    w.models_changed()
    assert session.state("summarization") == IDLE == session.state("sentiment")
    w.show_panel(2)
    assert "No summary" not in w.summary_panel.notice.label.text()


def test_summary_panel_has_one_summarize_button(qtbot, home):
    w = make_window(qtbot, fake_factory())
    open_document(qtbot, w, text_file(home))
    w.show_panel(2)
    assert _visible_buttons(w.summary_panel).count("Summarize") == 1
    w.show_panel(3)
    assert _visible_buttons(w.sentiment_panel).count("Analyse") == 1


def test_model_actions_have_one_name(qtbot, home):
    w = make_window(qtbot, fake_factory(missing={"ner"}))
    names = {w.actions["models"].text().replace("&", "")}
    w.refresh_models_info()
    names.add(w.welcome.manage_button.text())
    session = open_document(qtbot, w, text_file(home))
    assert session.state("ner") == NO_MODEL
    names.add(w.entities_panel.notice.button.text())
    w.welcome.set_models([], 2, str(home))
    names.add(w.welcome.manage_button.text())
    assert names == {"Models…"}


def test_identical_answers_are_told_apart_and_exact_duplicates_merged(qtbot, home):
    text = "Paris is big.\n\nParis is old.\n\nLyon is small."
    second = text.index("Paris", 1)

    class TwiceQA(FakeQA):
        def __call__(self, question, context, *, progress=None, cancel=None, **options):
            top_k = options.get("top_k", 1)
            return [Answer("Paris", 0, 5, 0.6), Answer("Paris", 0, 5, 0.5),
                    Answer("Paris", second, second + 5, 0.4)][:top_k + 1]

    w = make_window(qtbot, fake_factory({QA: TwiceQA({}),
                                         "summarization": FakeSummarizer()}))
    session = open_document(qtbot, w, text_file(home, text, "cities.txt"))
    w.ask_panel.ask("Which city?")
    wait_idle(qtbot, w)
    answers = session.document_state.current_question.answers
    assert [(a.start, a.end) for a in answers] == [(0, 5), (second, second + 5)]
    cards = [lb.text() for lb in w.ask_panel.answer_labels]
    assert len(cards) == 2
    assert "paragraph&nbsp;1" in cards[0] and "paragraph&nbsp;2" in cards[1]
    assert cards[0] != cards[1]


def test_showing_answers_again_leaves_one_card_per_answer(qtbot, home):
    from PySide6.QtWidgets import QLabel

    w = make_window(qtbot, fake_factory())
    open_document(qtbot, w, text_file(home))
    panel = w.ask_panel
    panel.ask("Where was she born?")
    wait_idle(qtbot, w)
    # Refreshes come in bursts (results, state changes) before the event loop deletes anything.
    panel.refresh()
    panel.refresh()
    shown = [lb for lb in panel.answers_box.findChildren(QLabel)
             if lb.isVisibleTo(panel.answers_box)]
    assert len(shown) == 2


def test_no_mention_stepping_without_entities(qtbot, home):
    w = make_window(qtbot, fake_factory(missing={"ner"}))
    open_document(qtbot, w, text_file(home))
    panel = w.entities_panel
    assert panel.notice.isVisible()
    assert not panel.prev_button.isVisible() and not panel.next_button.isVisible()
    w2 = make_window(qtbot, fake_factory())
    open_document(qtbot, w2, text_file(home, name="again.txt"))
    assert w2.entities_panel.prev_button.isVisible()
