"""The Classify panel (labels of the user's own, scores as bars, paragraphs tinted by their top
label, stepping through a label's paragraphs) and "Why?" on a label, a sentence and an answer:
the explanation's tint on exactly the attributions' spans, in the document's own positions."""

from __future__ import annotations

import re
import time

import pytest

from engine.errors import Cancelled, InputTooLongError
from engine.tasks.results import Attribution, Classification, ClassifiedPart
from tests.app_support import (
    FakeClassifier,
    FakeQA,
    FakeSentiment,
    as_text,
    fake_factory,
    make_window,
    open_document,
    sentence_ranges,
    text_file,
    wait_idle,
)

TEXT = (
    "The invoice for March is attached. Please pay the invoice soon.\n\n"
    "I want to complain: the parcel came late and broken.\n\n"
    "A second invoice follows next week.\n\n"
    "The weather was lovely and the garden is great."
)
PARAGRAPHS = TEXT.split("\n\n")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", text)]


def stem(label: str) -> str:
    return label.lower()[:6]


class FakeZeroShot(FakeClassifier):
    """Zero-shot with parts: a paragraph's top label is the first whose first six letters it
    holds ("compla" finds "complain"), else the last label; the document's scores are the
    paragraphs' weighted by length. `explain`: +0.5 for a word holding the label's stem, -0.25
    for one holding another label's, 0 otherwise."""

    def __init__(self, cap: int | None = None, slow_label: str | None = None) -> None:
        super().__init__()
        self.cap = cap
        self.slow_label = slow_label  # explaining it waits (up to 5 s) to be cancelled
        self.calls: list[tuple] = []
        self.explained: list[tuple] = []
        self.cancelled: list[str] = []

    def _scores(self, text: str, labels: list[str]) -> list[float]:
        low = text.lower()
        hit = next((x for x in labels if stem(x) in low), labels[-1])
        raw = [3.0 if x == hit else 1.0 for x in labels]
        return [r / sum(raw) for r in raw]

    def __call__(self, text, labels, *, multi_label=None, hypothesis_template=None,
                 paragraphs=None, progress=None, cancel=None):
        text = as_text(text)
        labels = [x.strip() for x in (labels.split(",") if isinstance(labels, str) else labels)]
        self.calls.append((labels, multi_label))
        parts, total = [], [0.0] * len(labels)
        for a, b in paragraph_spans(text):
            scores = self._scores(text[a:b], labels)
            for i, s in enumerate(scores):
                total[i] += s * (b - a)
            ranked = sorted(zip(scores, labels), key=lambda t: -t[0])
            parts.append(ClassifiedPart(a, b, text[a:b], [x for _, x in ranked],
                                        [s for s, _ in ranked]))
        whole = sum(total)
        ranked = sorted(zip([t / whole for t in total], labels), key=lambda t: -t[0])
        return Classification([x for _, x in ranked], [s for s, _ in ranked], bool(multi_label),
                              parts)

    def explain(self, text, labels, label=None, *, multi_label=None, hypothesis_template=None,
                progress=None, cancel=None):
        text = as_text(text)
        self.explained.append((text, list(labels), label, multi_label))
        if label == self.slow_label:
            end = time.monotonic() + 5
            while time.monotonic() < end:
                if cancel is not None and cancel():
                    self.cancelled.append(label)
                    raise Cancelled("The analysis was cancelled.")
                time.sleep(0.01)
        if self.cap is not None and len(text) > self.cap:
            raise InputTooLongError("This text is too long to explain in one model window "
                                    "(600 tokens; 510 fit): explain a paragraph.")
        out = []
        for m in re.finditer(r"\S+", text):
            word = m.group().lower()
            weight = 0.5 if stem(label) in word else -0.25 if any(
                stem(x) in word for x in labels if x != label) else 0.0
            out.append(Attribution(m.start(), m.end(), m.group(), weight))
        return out


class FakeSentimentWhy(FakeSentiment):
    def __init__(self) -> None:
        super().__init__()
        self.explained: list[tuple] = []

    def explain(self, text, label=None, *, progress=None, cancel=None):
        self.explained.append((text, label))
        return [Attribution(m.start(), m.end(), m.group(),
                            0.4 if "great" in m.group() else -0.2 if "lovely" in m.group()
                            else 0.0)
                for m in re.finditer(r"\S+", text)]


class FakeQAWhy(FakeQA):
    """QA whose explain takes one window of at most `cap` characters of context."""

    def __init__(self, answers, cap: int | None = None) -> None:
        super().__init__(answers)
        self.cap = cap
        self.explained: list[tuple] = []

    def explain(self, question, context, answer, *, progress=None, cancel=None):
        context = as_text(context)
        self.explained.append((question, context, tuple(answer)))
        if self.cap is not None and len(context) > self.cap:
            raise InputTooLongError("The passage is too long to explain next to the question.")
        start, _end = answer
        return [Attribution(a, b, context[a:b], 0.7 if a <= start < b else -0.05)
                for a, b in sentence_ranges(context)]


@pytest.fixture
def zero_shot():
    return FakeZeroShot()


@pytest.fixture
def window(qtbot, home, zero_shot):
    return make_window(qtbot, fake_factory({"zero-shot-classification": zero_shot,
                                            "sentiment": FakeSentimentWhy()}))


@pytest.fixture
def session(window, qtbot, home):
    return open_document(qtbot, window, text_file(home, TEXT, "mail.txt"))


def classify(window, qtbot, labels: str):
    panel = window.classify_panel
    window.show_panel(window.all_panels.index(panel))
    panel.labels_box.setEditText(labels)
    panel.run_button.click()
    wait_idle(qtbot, window)
    return panel


# --- the panel -----------------------------------------------------------------------------------
def test_classify_is_the_fifth_panel_on_ctrl_5(window, session):
    from app.settings import TASK_ORDER

    assert TASK_ORDER[-1] == "zero-shot-classification"
    assert window.all_panels[4] is window.classify_panel
    assert window.actions["panel_classify"].shortcut().toString() == "Ctrl+5"
    window.actions["panel_classify"].trigger()
    assert window.panels.currentWidget() is window.classify_panel


def test_scores_are_bars_in_score_order_and_paragraphs_are_tinted_by_their_top_label(
        window, session, qtbot, zero_shot):
    panel = classify(window, qtbot, "invoice, complaint, other")
    assert zero_shot.calls == [(["invoice", "complaint", "other"], False)]
    result = session.document_state.classification
    assert [r[0] for r in panel.bars.rows] == result.labels
    assert [r[1] for r in panel.bars.rows] == result.scores
    assert panel.bars.isVisible() and panel.heading.text().startswith("invoice")
    # Paragraph counts per label, as the hover says.
    assert {r[0]: r[3] for r in panel.bars.rows} == {"invoice": 2, "complaint": 1, "other": 1}

    marks = session.view.highlights("classify")
    spans = [(m.start, m.end) for m in marks]
    starts = [TEXT.index(p) for p in PARAGRAPHS]
    assert spans == [(s, s + len(p)) for s, p in zip(starts, PARAGRAPHS)]
    for m, p in zip(marks, PARAGRAPHS):
        assert session.view.qt_text(m.start, m.end) == p
    # Each label keeps the colour of its place in the typed set: the legend's swatch is the tint.
    from app.palette import LABEL_COLOURS

    colour_of = {r[0]: r[2].name() for r in panel.bars.rows}
    assert colour_of == {"invoice": LABEL_COLOURS[0], "complaint": LABEL_COLOURS[1],
                         "other": LABEL_COLOURS[2]}
    assert [m.background.name() for m in marks] == [colour_of[x] for x in
                                                   ("invoice", "complaint", "invoice", "other")]
    assert marks[1].tooltip.splitlines()[0] == "complaint: 60%"
    panel.tint_box.setChecked(False)
    assert not session.view.layer_visible("classify")


def test_the_legend_swatches_are_the_colours_the_view_paints_in_the_dark_theme(window, session,
                                                                              qtbot):
    from PySide6.QtGui import QColor, QPalette

    from app.palette import LABEL_COLOURS

    panel = classify(window, qtbot, "invoice, complaint, other")
    palette = session.view.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor("#1c1d20"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    session.view.setPalette(palette)
    painted = session.view.mark_colour(QColor(LABEL_COLOURS[0]))
    assert painted.name() != LABEL_COLOURS[0]  # darkened for the light text
    image = panel.bars.grab().toImage()
    swatch = panel.bars.row_rect(0)
    pixel = image.pixelColor(int(swatch.left() + 12), int(swatch.center().y()))
    assert pixel.name() == painted.name()


def test_label_colours_keep_dark_text_readable():
    from PySide6.QtGui import QColor

    from app.palette import LABEL_COLOURS, MIN_CONTRAST, contrast_ratio, label_colour

    for i in range(len(LABEL_COLOURS) + 4):
        assert contrast_ratio(label_colour(i, f"label {i}"), QColor("#000000")) >= MIN_CONTRAST
        assert contrast_ratio(label_colour(i, f"label {i}"), QColor("#202020")) >= MIN_CONTRAST


def test_clicking_a_label_steps_through_its_paragraphs(window, session, qtbot):
    from PySide6.QtCore import QPoint, Qt

    panel = classify(window, qtbot, "invoice, complaint, other")
    first = (TEXT.index(PARAGRAPHS[0]), TEXT.index(PARAGRAPHS[0]) + len(PARAGRAPHS[0]))
    third = (TEXT.index(PARAGRAPHS[2]), TEXT.index(PARAGRAPHS[2]) + len(PARAGRAPHS[2]))
    row = panel.bars.row_rect(0)  # "invoice", the top label
    seen = []
    for _ in range(3):
        qtbot.mouseClick(panel.bars, Qt.MouseButton.LeftButton,
                         pos=QPoint(int(row.center().x()), int(row.center().y())))
        [mark] = session.view.highlights("mention")
        seen.append((mark.start, mark.end))
    assert seen == [first, third, first]
    assert panel.paragraph_label.text().startswith("“invoice”: paragraph 1 of 2")
    assert panel.bars.selected == 0
    assert panel.step_label("complaint").text == PARAGRAPHS[1]


def test_label_sets_are_saved_and_the_multi_label_switch_is_passed(window, session, qtbot,
                                                                    zero_shot):
    panel = window.classify_panel
    panel.multi_box.setChecked(True)
    classify(window, qtbot, " invoice ,complaint,, invoice")
    assert zero_shot.calls[-1] == (["invoice", "complaint"], True)
    classify(window, qtbot, "on topic, off topic")
    assert window.settings.label_sets == ["on topic, off topic", "invoice, complaint"]
    assert [panel.labels_box.itemText(i) for i in range(panel.labels_box.count())] == [
        "on topic, off topic", "invoice, complaint"]
    assert window.settings.multi_label is True
    assert "each label on its own" in panel.heading.text()
    panel.forget_button.click()
    assert window.settings.label_sets == ["invoice, complaint"]
    from app.settings import Settings

    assert Settings(window.settings.path).label_sets == ["invoice, complaint"]  # JSON in the INI


def test_no_labels_asks_for_them_and_runs_nothing(window, session, qtbot, zero_shot):
    classify(window, qtbot, " , ")
    assert zero_shot.calls == []
    assert "Type the labels" in window.classify_panel.notice.label.text()


def test_no_nli_model_shows_the_no_model_notice(qtbot, home):
    from engine.tasks import registry

    w = make_window(qtbot, fake_factory(missing={"zero-shot-classification"}))
    open_document(qtbot, w, text_file(home, TEXT, "mail.txt"))
    panel = classify(w, qtbot, "invoice, complaint")
    assert w.current_session().state("zero-shot-classification") == "no-model"
    text = panel.notice.label.text()
    assert text.startswith(f"No {registry.task_spec('zero-shot-classification').model_role} "
                           "model is installed yet.")
    assert panel.notice.button.text() == "Models…" and not panel.notice.button.isHidden()
    assert not panel.bars.isVisible()


# --- Why? ----------------------------------------------------------------------------------------
def word_spans(text: str, base: int = 0):
    return [(base + a, base + b) for a, b in (m.span() for m in re.finditer(r"\S+", text))]


def test_why_on_a_label_tints_exactly_the_words_of_the_shown_paragraph(window, session, qtbot,
                                                                       zero_shot):
    from app.palette import EXPLAIN_AGAINST_COLOUR, EXPLAIN_SUPPORT_COLOUR

    panel = classify(window, qtbot, "invoice, complaint, other")
    panel.step_label("invoice")
    panel.step_label("invoice")  # the third paragraph
    panel.why_button.click()
    wait_idle(qtbot, window)
    para = PARAGRAPHS[2]
    base = TEXT.index(para)
    assert zero_shot.explained[-1] == (para, ["invoice", "complaint", "other"], "invoice", False)
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == word_spans(para, base)
    for m in marks:
        assert session.view.qt_text(m.start, m.end) == TEXT[m.start:m.end]
    [strong] = [m for m in marks if m.data == 0.5]
    assert TEXT[strong.start:strong.end] == "invoice"
    assert strong.background.rgb() == EXPLAIN_SUPPORT_COLOUR.rgb()
    assert strong.tooltip == ("“invoice”: +0.5000\n"
                              "Without it, the probability of “invoice” falls by 0.5000")
    assert all(m.background is None for m in marks if m.data == 0)  # no fill; numbers on hover
    assert session.view.tooltip_at(strong.start).startswith("“invoice”: +0.5000")
    assert session.explanation_bar.isVisible()
    assert "Why “invoice” in this paragraph?" in session.explanation_label.text()
    # Under the explained words, the page: the paragraph's tint does not mix with theirs.
    [page] = session.view.highlights("explain-page")
    assert (page.start, page.end) == (base, base + len(para))
    from app.document_view import PAGE

    assert page.background == PAGE
    top = [n for n, _h in session.view.highlights_at(strong.start)]
    assert top == ["mention", "explain", "explain-page", "classify"]  # topmost first
    assert all(w.isVisible() for w in session.explanation_legend)
    # Why? on another label clears the first tint and tints for the new one.
    panel.step_label("complaint")
    panel.why_button.click()
    wait_idle(qtbot, window)
    marks = session.view.highlights("explain")
    p1 = PARAGRAPHS[1]
    assert [(m.start, m.end) for m in marks] == word_spans(p1, TEXT.index(p1))
    [strong] = [m for m in marks if m.data == 0.5]
    assert TEXT[strong.start:strong.end] == "complain:"
    assert EXPLAIN_AGAINST_COLOUR != EXPLAIN_SUPPORT_COLOUR


def test_a_second_why_cancels_the_first_and_only_its_own_tint_lands(qtbot, home):
    clf = FakeZeroShot(slow_label="complaint")
    w = make_window(qtbot, fake_factory({"zero-shot-classification": clf}))
    session = open_document(qtbot, w, text_file(home, TEXT, "mail.txt"))
    panel = classify(w, qtbot, "invoice, complaint, other")
    panel.step_label("complaint")
    panel.why_button.click()
    qtbot.waitUntil(lambda: len(clf.explained) == 1)
    panel.step_label("invoice")
    panel.why_button.click()
    wait_idle(qtbot, w)
    assert clf.cancelled == ["complaint"]
    assert [e[2] for e in clf.explained] == ["complaint", "invoice"]
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == word_spans(PARAGRAPHS[0], 0)
    assert "Why “invoice” in this paragraph?" in session.explanation_label.text()


def test_a_text_over_the_cap_shows_the_engines_message_and_no_tint(qtbot, home):
    clf = FakeZeroShot(cap=60)
    w = make_window(qtbot, fake_factory({"zero-shot-classification": clf}))
    session = open_document(qtbot, w, text_file(home, TEXT, "mail.txt"))
    panel = classify(w, qtbot, "invoice, complaint, other")
    panel.why_button.click()  # no paragraph chosen: the whole text, then the first paragraph
    wait_idle(qtbot, w)
    assert [e[0] for e in clf.explained] == [TEXT, PARAGRAPHS[0]]  # both over 60 characters
    assert session.view.highlights("explain") == []
    assert "explain a paragraph" in session.explanation_label.text()
    assert not any(x.isVisible() for x in session.explanation_legend)
    from tests.app_support import message_boxes

    assert message_boxes(w) == []


def test_why_without_a_chosen_paragraph_reads_the_whole_text_or_the_labels_first_paragraph(
        qtbot, home):
    clf = FakeZeroShot(cap=70)
    w = make_window(qtbot, fake_factory({"zero-shot-classification": clf}))
    session = open_document(qtbot, w, text_file(home, TEXT, "mail.txt"))
    panel = classify(w, qtbot, "invoice, complaint, other")
    panel.why_button.click()
    wait_idle(qtbot, w)
    assert [e[0] for e in clf.explained] == [TEXT, PARAGRAPHS[0]]
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == word_spans(PARAGRAPHS[0], 0)
    assert "Why “invoice”?" in session.explanation_label.text()


def test_why_on_a_sentence_in_the_chart_and_a_new_analysis_clears_it(window, session, qtbot):
    panel = window.sentiment_panel
    window.actions["sentiment"].trigger()
    wait_idle(qtbot, window)
    sentences = session.document_state.sentiment.sentences
    index = next(i for i, s in enumerate(sentences) if "great" in s.text)
    assert not panel.why_button.isEnabled()
    panel.chart.select(next(i for i, p in enumerate(panel.chart.points) if p.index == index))
    assert panel.why_button.isEnabled()
    panel.why_button.click()
    wait_idle(qtbot, window)
    s = sentences[index]
    pipe = window.analysis._factory.made["sentiment"]
    assert pipe.explained == [(TEXT[s.start:s.end], s.label)]
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == word_spans(TEXT[s.start:s.end], s.start)
    assert {TEXT[m.start:m.end]: m.data for m in marks if m.data} == {"lovely": -0.2,
                                                                      "great.": 0.4}
    # A new analysis: the tint goes.
    classify(window, qtbot, "invoice, other")
    assert session.view.highlights("explain") == []
    assert session.view.highlights("explain-page") == []
    assert not session.explanation_bar.isVisible()


def test_why_on_an_answer_tints_its_sentences_falling_back_to_its_paragraph(qtbot, home):
    qa = FakeQAWhy({"What was broken?": ["the parcel"]}, cap=80)
    w = make_window(qtbot, fake_factory({"question-answering": qa}))
    session = open_document(qtbot, w, text_file(home, TEXT, "mail.txt"))
    w.ask_panel.ask("What was broken?")
    wait_idle(qtbot, w)
    [card] = w.ask_panel.answer_labels
    assert "href='why:0'" in card.text()
    card.linkActivated.emit("why:0")
    wait_idle(qtbot, w)
    para = PARAGRAPHS[1]
    base = TEXT.index(para)
    answer = TEXT.index("the parcel")
    # The whole document is over the window: the answer's paragraph is explained instead.
    assert [e[1] for e in qa.explained] == [TEXT, para]
    assert qa.explained[-1][2] == (answer - base, answer - base + len("the parcel"))
    marks = session.view.highlights("explain")
    assert [(m.start, m.end) for m in marks] == [(base + a, base + b)
                                                 for a, b in sentence_ranges(para)]
    assert [m.data for m in marks] == [0.7]
    assert marks[0].tooltip.startswith("This sentence: +0.7000")
    assert session.view.qt_text(marks[0].start, marks[0].end) == para


def test_explanation_tints_keep_the_text_readable_on_both_themes():
    from PySide6.QtGui import QColor

    from app.palette import MIN_CONTRAST, composite, contrast_ratio, explain_tint

    for weight in (1.0, -1.0, 0.3, -0.3):
        tint = explain_tint(weight, 1.0)
        for page, text in ((QColor("#ffffff"), QColor("#000000")),
                           (QColor("#1c1d20"), QColor("#e6e6e6"))):
            assert contrast_ratio(composite(tint, page), text) >= MIN_CONTRAST
    assert explain_tint(0.0, 1.0) is None


def test_analyse_classify_shows_the_panel_with_its_label_box_ready(qtbot, home):
    from app.main_window import MainWindow
    from app.settings import Settings

    w = MainWindow(Settings())
    qtbot.addWidget(w)
    w.show()
    from PySide6.QtWidgets import QMenu

    analyse = next(m for m in w.menuBar().findChildren(QMenu) if m.title() == "&Analyse")
    assert w.actions["classify"] in analyse.actions()
    box = w.classify_panel.labels_box.lineEdit()
    box.setText("invoice, contract")
    box.deselect()
    w.actions["classify"].trigger()
    assert w.panels.currentWidget() is w.classify_panel
    assert box.selectedText() == "invoice, contract"  # ready to be typed over
