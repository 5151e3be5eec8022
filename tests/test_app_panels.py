"""The task panels with fake pipelines that keep the engine's contract (code-point spans)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication

from app.document_state import DONE, NO_MODEL
from app.panels.ask import NO_ANSWER_TEXT
from app.panels.sentiment import chart_points
from tests.app_support import (
    FakeNER,
    fake_factory,
    make_window,
    open_document,
    sentence_ranges,
    text_file,
    wait_idle,
)


@pytest.fixture
def window(qtbot, home):
    return make_window(qtbot, fake_factory(), size=(1200, 800))


@pytest.fixture
def session(qtbot, window, tmp_path):
    return open_document(qtbot, window, text_file(tmp_path))


def spans_of(text: str, word: str) -> list[tuple[int, int]]:
    out, i = [], text.find(word)
    while i >= 0:
        out.append((i, i + len(word)))
        i = text.find(word, i + 1)
    return out


# --- entities ------------------------------------------------------------------------------------
def test_entities_found_in_background_and_highlighted_exactly(window, session):
    text = session.document.text
    assert text.startswith("😀 𝔘")  # astral characters before every entity
    assert session.state("ner") == DONE
    shown = session.view.highlights("entities")
    expected = sorted(spans_of(text, "Marie Curie") + spans_of(text, "Warsaw")
                      + spans_of(text, "Paris") + spans_of(text, "Sorbonne"))
    assert [(h.start, h.end) for h in shown] == expected
    for h in shown:
        assert session.view.qt_text(h.start, h.end) == text[h.start:h.end]
    # One colour per type, and the legend lists each type with its count.
    colours = {h.data.label: QColor(h.background).name() for h in shown}
    assert len(set(colours.values())) == 3
    panel = window.entities_panel
    assert set(panel.type_boxes) == {"PER", "LOC", "ORG"}
    assert panel.type_boxes["LOC"].text() == "Location (4)"


def test_hover_shows_type_and_confidence(window, session, qtbot):
    text = session.document.text
    start = text.index("Sorbonne")
    assert session.view.tooltip_at(start + 2) == "Organization (ORG) · confidence 90%"
    # The real hover path: a point on the word, through Qt's layout.
    view = session.view
    rect = view.cursorRect(view.cursor_for(start + 2, start + 2))
    assert view.char_at(QPoint(rect.center().x() + 1, rect.center().y())) in (start + 2, start + 1)


def test_toggle_entity_types(window, session):
    panel = window.entities_panel
    panel.type_boxes["LOC"].setChecked(False)
    labels = {h.data.label for h in session.view.highlights("entities")}
    assert labels == {"PER", "ORG"}
    assert sorted(text for text, _, _ in panel.rows()) == ["Marie Curie", "Sorbonne"]
    panel.type_boxes["LOC"].setChecked(True)
    assert {h.data.label for h in session.view.highlights("entities")} == {"PER", "ORG", "LOC"}


def test_entity_list_groups_by_text_and_cycles_mentions(window, session, qtbot):
    panel = window.entities_panel
    rows = panel.rows()
    assert {t: n for t, _, n in rows} == {"Marie Curie": 2, "Warsaw": 2, "Paris": 2,
                                          "Sorbonne": 1}
    assert rows[-1] == ("Sorbonne", "Organization", 1)  # most mentioned first
    # The filter box narrows the list; sorting by a header click is the model's.
    panel.filter.setText("war")
    assert [t for t, _, _ in panel.rows()] == ["Warsaw"]
    panel.filter.clear()
    panel.tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert [t for t, _, _ in panel.rows()] == ["Marie Curie", "Paris", "Sorbonne", "Warsaw"]
    row = panel.row_for("Paris")
    text = session.document.text
    paris = spans_of(text, "Paris")
    seen = []
    for _ in range(3):
        panel.tree.activated.emit(panel.model.index(row, 0))
        mark = session.view.highlights("mention")[0]
        seen.append((mark.start, mark.end))
        caret = session.view.offsets.to_code_point(session.view.textCursor().position())
        assert caret == mark.start
    assert seen == [paris[0], paris[1], paris[0]]
    assert panel.mention_label.text() == "“Paris”: mention 1 of 2"
    panel.next_button.click()
    assert (session.view.highlights("mention")[0].start,) == (paris[1][0],)


def test_missing_model_is_a_notice_not_an_error(qtbot, tmp_path, home):
    w = make_window(qtbot, fake_factory(missing={"ner"}))
    path = text_file(tmp_path, name="doc.txt")
    session = open_document(qtbot, w, path)
    assert session.state("ner") == NO_MODEL
    assert w.error_log == []
    notice = w.entities_panel.notice
    assert notice.isVisibleTo(w.entities_panel)
    assert "No entity model is installed" in notice.label.text()
    assert notice.button.text() == "Models…"
    # Reading still works: text shown, find works.
    assert session.view.toPlainText() == session.document.text


# --- ask -----------------------------------------------------------------------------------------
def test_ask_lists_answers_and_jumps_to_them(window, session, qtbot):
    panel = window.ask_panel
    window.actions["ask"].trigger()
    assert panel.question_box.hasFocus() or window.panels.currentWidget() is panel
    qtbot.keyClicks(panel.question_box.lineEdit(), "Where was she born?")
    qtbot.keyClick(panel.question_box.lineEdit(), Qt.Key.Key_Return)
    wait_idle(qtbot, window)
    entry = session.document_state.current_question
    assert [a.text for a in entry.answers] == ["Warsaw", "Paris"]
    assert len(panel.answer_labels) == 2
    assert "score 90%" in panel.answer_labels[0].text()
    text = session.document.text
    # The first answer is marked with its sentence, and the view went there.
    mark = session.view.highlights("answer")[0]
    assert text[mark.start:mark.end] == "Warsaw"
    assert session.view.qt_text(mark.start, mark.end) == "Warsaw"
    context = session.view.highlights("answer-context")[0]
    assert text[context.start:context.end].endswith("was born in Warsaw.")
    # The second answer's link jumps to it.
    panel.answer_labels[1].linkActivated.emit("answer:1")
    mark = session.view.highlights("answer")[0]
    assert text[mark.start:mark.end] == "Paris"
    assert text[mark.start - 13:mark.start] == "She moved to "
    context = session.view.highlights("answer-context")[0]
    assert text[context.start:context.end] == "She moved to Paris in 1891."
    # The question is in the history (box and per-document list) and persists.
    assert panel.history.count() == 1
    assert window.settings.questions[0] == "Where was she born?"
    assert panel.question_box.itemText(0) == "Where was she born?"


def test_no_answer_is_said_plainly(window, session, qtbot):
    window.ask_panel.ask("What is the capital of Mars?")
    wait_idle(qtbot, window)
    assert session.document_state.current_question.no_answer
    labels = window.ask_panel.answer_labels
    assert len(labels) == 1 and labels[0].text() == NO_ANSWER_TEXT
    assert session.view.highlights("answer") == []


def test_answer_text_is_escaped_in_the_card(qtbot, tmp_path, monkeypatch):
    from app.panels.ask import answer_card_html
    from engine.tasks.results import Answer

    text = "Say <b>hi</b> & <script>x</script> now."
    start = text.index("<b>")
    html = answer_card_html(0, Answer("<b>hi</b>", start, start + 9, 0.5, context_start=0,
                                      context_end=len(text)), text, page=3)
    assert "<b>hi</b>" not in html and "&lt;b&gt;hi&lt;/b&gt;" in html
    assert "<script>" not in html and "page 3" in html


# --- summary -------------------------------------------------------------------------------------
def test_summary_lists_and_marks_sentences_and_copies(window, session, qtbot):
    panel = window.summary_panel
    panel.set_length("sentences", 2)
    window.actions["summarize"].trigger()
    wait_idle(qtbot, window)
    summary = session.document_state.summary
    assert len(summary.sentences) == 2
    assert window.analysis._pipelines  # pipelines cached
    pipe = next(p for k, p in window.analysis._pipelines.items() if k[0] == "summarization")
    assert pipe.options == {"max_sentences": 2, "ratio": None}
    marks = session.view.highlights("summary")
    assert [(m.start, m.end) for m in marks] == [(s.start, s.end) for s in summary.sentences]
    for m in marks:
        assert session.view.qt_text(m.start, m.end) == session.document.text[m.start:m.end]
    assert panel.list.count() == 2
    panel.list.itemActivated.emit(panel.list.item(1))
    assert session.view.highlights("mention")[0].start == summary.sentences[1].start
    panel.copy()
    assert QGuiApplication.clipboard().text() == "\n".join(s.text for s in summary.sentences)
    panel.mark_box.setChecked(False)
    assert not session.view.layer_visible("summary")
    # Percent mode asks the engine for a ratio.
    panel.set_length("percent", 50)
    panel.start(session)
    wait_idle(qtbot, window)
    assert pipe.options == {"max_sentences": None, "ratio": 0.5}
    assert window.settings.summary_length == ("percent", 50)


# --- sentiment -----------------------------------------------------------------------------------
def test_sentiment_label_chart_and_tint(window, session, qtbot):
    panel = window.sentiment_panel
    window.actions["sentiment"].trigger()
    wait_idle(qtbot, window)
    sentiment = session.document_state.sentiment
    assert panel.label.text().startswith(sentiment.label.capitalize())
    text = session.document.text
    points = panel.chart.points
    assert len(points) == len(sentence_ranges(text)) == len(sentiment.sentences)
    # x runs through the document in order; y is P(positive) - P(negative).
    assert [p.x for p in points] == sorted(p.x for p in points)
    for p, s in zip(points, sentiment.sentences, strict=True):
        assert p.value == pytest.approx(s.scores["positive"] - s.scores["negative"])
        assert p.x == pytest.approx((s.start + s.end) / 2 / len(text))
    good = next(i for i, s in enumerate(sentiment.sentences) if "great" in s.text)
    bad = next(i for i, s in enumerate(sentiment.sentences) if "bad" in s.text)
    assert points[good].value > 0 > points[bad].value
    # Clicking the chart at a sentence's x jumps there.
    panel.chart.resize(400, 200)
    target = panel.chart.to_screen(points[bad].x, points[bad].value)
    qtbot.mouseClick(panel.chart, Qt.MouseButton.LeftButton, pos=target.toPoint())
    mark = session.view.highlights("mention")[0]
    assert text[mark.start:mark.end] == sentiment.sentences[bad].text
    # Tinting the sentences in the text is optional and remembered.
    panel.tint_box.setChecked(True)
    assert session.view.layer_visible("sentiment")
    assert len(session.view.highlights("sentiment")) == len(sentiment.sentences)
    assert window.settings.sentiment_tint is True
    panel.tint_box.setChecked(False)
    assert not session.view.layer_visible("sentiment")


def test_the_chart_plots_the_polarity_the_results_carry():
    from engine.tasks.results import SentenceSentiment, Sentiment

    # Polarities the labels alone would not give: the chart must not guess from the names.
    items = [SentenceSentiment(0, 4, "Good", "LABEL_7", 0.9, {"LABEL_7": 0.9}, polarity=-0.5),
                 SentenceSentiment(5, 8, "Bad", "LABEL_2", 0.8, {"LABEL_2": 0.8}, polarity=0.25)]
    points = chart_points(Sentiment("LABEL_7", 0.9, {}, items, polarity=0.1), 8)
    assert [(p.x, p.value, p.index) for p in points] == [(0.25, -0.5, 0), (0.8125, 0.25, 1)]


def test_chart_points_empty_document():
    from engine.tasks.results import Sentiment

    assert chart_points(Sentiment("positive", 0.5), 0) == []


def test_rerun_entities_uses_new_results(window, session, qtbot):
    ner = next(p for k, p in window.analysis._pipelines.items() if k[0] == "ner")
    assert isinstance(ner, FakeNER)
    ner.names = {"Warsaw": "LOC"}
    window.entities_panel.rerun_button.click()
    wait_idle(qtbot, window)
    assert [h.data.text for h in session.view.highlights("entities")] == ["Warsaw", "Warsaw"]


def test_document_markup_is_never_rendered_in_labels_or_tooltips(qtbot, tmp_path, home):
    from app.text_format import as_rich_text

    assert as_rich_text("<b>x</b> & y\nz") == (
        "<p style='white-space:pre-wrap'>&lt;b&gt;x&lt;/b&gt; &amp; y<br>z</p>")
    w = make_window(qtbot, fake_factory({
        "ner": FakeNER({"<b>Bold</b>": "PER"})}))
    path = tmp_path / "markup.txt"
    path.write_text("Say <b>Bold</b> twice: <b>Bold</b>. It was good.", encoding="utf-8")
    session = open_document(qtbot, w, path)
    panel = w.entities_panel
    assert panel.rows() == [("<b>Bold</b>", "Person", 2)]
    panel.activate_row(0)
    assert panel.mention_label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>Bold</b>" in panel.mention_label.text()
    w.sentiment_panel.start(session)
    wait_idle(qtbot, w)
    w.sentiment_panel.jump_to_sentence(0)
    assert w.sentiment_panel.sentence_label.textFormat() == Qt.TextFormat.PlainText
    assert "<b>Bold</b>" in w.sentiment_panel.sentence_label.text()
