"""Ask: a question box with history; the top answers with scores, each a link into the text."""

from __future__ import annotations

import bisect
import html
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.document_state import RUNNING, QuestionResult, answer_context
from app.document_view import Highlight
from app.explanations import explain_in_background
from app.layout import column, row
from app.palette import ANSWER_COLOUR, ANSWER_CONTEXT_COLOUR, MENTION_COLOUR
from app.panels.base import TaskPanel
from app.session import DocumentSession
from app.text_format import percent
from engine.errors import InputTooLongError

if TYPE_CHECKING:
    from engine.tasks.results import Answer

TOP_K = 3
NO_ANSWER_TEXT = "No answer in this document."


def merge_duplicates(answers: list[Answer]) -> list[Answer]:
    """One card per span: windows that overlap can find the same answer twice."""
    out: list[Answer] = []
    seen: set[tuple[int, int]] = set()
    for answer in answers:
        key = (answer.start, answer.end)
        if answer.no_answer or key not in seen:
            seen.add(key)
            out.append(answer)
    return out


def paragraph_number(document, offset: int) -> int | None:
    """1-based number of the paragraph holding `offset`, None when the document has none."""
    paragraphs = document.paragraphs
    if not paragraphs:
        return None
    return max(1, bisect.bisect_right(paragraphs, offset, key=lambda p: p.start))


def answer_card_html(index: int, answer: Answer, text: str, page: int | None,
                     paragraph: int | None = None) -> str:
    """Rich text for one answer in its sentence; every piece of document text is escaped."""
    start, end = answer_context(answer)
    # Line breaks inside the quoted sentence would only be noise in a narrow panel.
    before = html.escape(text[start:answer.start].replace("\n", " "))
    middle = html.escape(text[answer.start:answer.end].replace("\n", " "))
    after = html.escape(text[answer.end:end].replace("\n", " "))
    # Two answers with the same words are told apart by where they are.
    where = f" · page {page}" if page is not None else \
        f" · paragraph&nbsp;{paragraph}" if paragraph is not None else ""
    return (
        f"<p style='margin:0'><b>{index + 1}.</b> <a href='answer:{index}'>"
        f"{html.escape(' '.join(answer.text.split())) or '(empty)'}</a>"
        f" <span style='color:#808080'>· score {html.escape(percent(answer.score))}{where}"
        f"</span> · <a href='why:{index}'>Why?</a></p>"
        f"<p style='margin-top:4px'>{before}<b>{middle}</b>{after}</p>"
    )


class AskPanel(TaskPanel):
    task = "question-answering"
    title = "Ask"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.question_box = QComboBox(self)
        self.question_box.setEditable(True)
        self.question_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.question_box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.question_box.setAccessibleName("Question")
        self.question_box.lineEdit().setPlaceholderText("Ask a question about this document")
        self.question_box.lineEdit().returnPressed.connect(self.ask_current)
        self.question_box.setToolTip("Type a question and press Enter; earlier questions are "
                                     "in the list")
        self.ask_button = QPushButton("Ask", self)
        self.ask_button.setAccessibleName("Ask the question")
        self.ask_button.setDefault(True)
        self.ask_button.clicked.connect(self.ask_current)

        self.heading = QLabel(self)
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.heading.setAccessibleName("Question asked")
        self.heading.setObjectName("panelHeading")

        self.answers_box = QWidget(self)
        self.answers_layout = QVBoxLayout(self.answers_box)
        self.answers_layout.setContentsMargins(0, 0, 0, 0)
        self.answers_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.answers_box)
        scroll.setAccessibleName("Answers")
        self.answer_labels: list[QLabel] = []

        self.history_label = QLabel("Asked about this document:", self)
        self.history = QListWidget(self)
        self.history.setAccessibleName("Questions asked about this document")
        self.history.itemActivated.connect(self._show_history_item)
        self.history.itemClicked.connect(self._show_history_item)

        column(self, row((self.question_box, 1), self.ask_button), self.notice, self.heading,
               (scroll, 1), self.history_label, self.history)
        self._load_history()
        self.refresh()

    def _load_history(self) -> None:
        current = self.question_box.currentText()
        self.question_box.clear()
        self.question_box.addItems(self.ctx.settings.questions)
        self.question_box.setCurrentIndex(-1)
        self.question_box.setEditText(current)

    # --- asking ----------------------------------------------------------------------------------
    def ask_current(self) -> None:
        self.ask(self.question_box.currentText())

    def ask(self, question: str, session: DocumentSession | None = None) -> None:
        question = " ".join(question.split())
        session = session if session is not None else self.session
        if not question or session is None:
            return
        self.ctx.settings.add_question(question)
        self._load_history()
        if session is self.session:
            self.question_box.setEditText(question)
        doc = session.document_state
        document = doc.document
        entry = QuestionResult(question)
        doc.current_question = entry

        def call(pipe, progress, cancel):
            return merge_duplicates(list(pipe(question=question, context=document, top_k=TOP_K,
                                              progress=progress, cancel=cancel)))[:TOP_K]

        def result(answers: list[Answer]) -> None:
            doc.add_answers(entry, answers)
            if doc.current_question is entry and not entry.no_answer:
                self.show_answer(session, 0)

        self.run_task(session, call, result)

    def ask_again(self, session: DocumentSession) -> None:
        """Ask the question that found no model, now that one may be installed."""
        entry = session.document_state.current_question
        if entry is not None and not entry.answered:
            self.ask(entry.question, session)

    def model_may_be_installed(self, session: DocumentSession) -> None:
        super().model_may_be_installed(session)
        self.ask_again(session)

    # --- showing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        session = self.session
        doc = session.document_state if session is not None else None
        self.state_notice("", "Ask", self.ask_current)
        running = doc is not None and doc.state(self.task) == RUNNING
        self.ask_button.setEnabled(session is not None)
        self.question_box.setEnabled(session is not None)
        self.history.clear()
        for entry in doc.questions if doc is not None else []:
            item = QListWidgetItem(entry.question, self.history)
            item.setData(Qt.ItemDataRole.UserRole, entry.question)
        self.history.setVisible(self.history.count() > 0)
        # As tall as its questions (up to six), so one question does not take a big empty box.
        rows = min(max(self.history.count(), 1), 6)
        self.history.setFixedHeight(rows * self.history.sizeHintForRow(0) + 6
                                    if self.history.count() else 0)
        self.history_label.setVisible(self.history.count() > 0)
        entry = doc.current_question if doc is not None else None
        if entry is None:
            self.heading.setText("" if session is None else
                                 "Ask anything the document answers, e.g. “Who developed it?”")
            self._set_answers([], None)
        elif running:
            self.heading.setText(f"Q: {entry.question}")
            self._set_answers([], None)
        elif not entry.answered:
            # No model, failed or cancelled: the notice says so; nothing was searched.
            self.heading.setText("")
            self._set_answers([], None)
        else:
            self.heading.setText(f"Q: {entry.question}")
            self._set_answers(entry.answers, session)

    def _set_answers(self, answers: list[Answer], session: DocumentSession | None) -> None:
        for label in self.answer_labels:
            # Out of the layout now: deleteLater waits for the event loop, and until then the
            # old cards would stand beside the new ones.
            self.answers_layout.removeWidget(label)
            label.hide()
            label.deleteLater()
        self.answer_labels = []
        if session is None:
            return
        if not answers or answers[0].no_answer:
            if session.document_state.current_question is not None:
                label = QLabel(NO_ANSWER_TEXT, self.answers_box)
                label.setObjectName("noAnswer")
                label.setAccessibleName("No answer")
                self._add_label(label)
            return
        doc = session.document_state
        for i, answer in enumerate(answers):
            if answer.no_answer:
                continue
            label = QLabel(answer_card_html(
                i, answer, doc.document.text, doc.page_of(answer.start),
                paragraph_number(doc.document, answer.start)), self.answers_box)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            label.setAccessibleName(f"Answer {i + 1}: {answer.text}")
            label.setObjectName("answerCard")
            label.linkActivated.connect(lambda href, s=session: self._link(s, href))
            self._add_label(label)

    def _add_label(self, label: QLabel) -> None:
        self.answers_layout.insertWidget(self.answers_layout.count() - 1, label)
        self.answer_labels.append(label)

    def _link(self, session: DocumentSession, href: str) -> None:
        if href.startswith("answer:"):
            self.show_answer(session, int(href.split(":", 1)[1]))
        elif href.startswith("why:"):
            self.explain_answer(session, int(href.split(":", 1)[1]))

    def explain_answer(self, session: DocumentSession, index: int) -> None:
        """"Why?" for answer `index`: the sentences of its passage tinted by how much the
        answer's score falls without each. The passage is the document when it fits the model's
        window beside the question, else the paragraph holding the answer."""
        entry = session.document_state.current_question
        if entry is None or not 0 <= index < len(entry.answers) or entry.answers[index].no_answer:
            return
        answer = entry.answers[index]
        question = entry.question
        text = session.document.text
        paragraph = next(((p.start, p.end) for p in session.document.paragraphs
                          if p.start <= answer.start and answer.end <= p.end), None)
        base = [0]

        def call(pipe, progress, cancel):
            try:
                return pipe.explain(question, text, (answer.start, answer.end),
                                    progress=progress, cancel=cancel)
            except InputTooLongError:
                if paragraph is None:
                    raise
            a, b = paragraph
            base[0] = a
            return pipe.explain(question, text[a:b], (answer.start - a, answer.end - a),
                                progress=progress, cancel=cancel)

        def shifted(pipe, progress, cancel):
            found = call(pipe, progress, cancel)
            return [replace(x, start=x.start + base[0], end=x.end + base[0]) for x in found]

        explain_in_background(self.ctx, session, self.task, shifted, 0,
                              f"Why “{' '.join(answer.text.split())}”", answer.text,
                              unit="sentence")

    def _show_history_item(self, item: QListWidgetItem) -> None:
        session = self.session
        if session is None:
            return
        question = item.data(Qt.ItemDataRole.UserRole)
        doc = session.document_state
        for entry in doc.questions:
            if entry.question == question:
                doc.current_question = entry
                self.question_box.setEditText(question)
                self.refresh()
                if not entry.no_answer:
                    self.show_answer(session, 0)
                return

    def show_answer(self, session: DocumentSession, index: int) -> None:
        """Scroll to answer `index` of the current question; mark it and its sentence."""
        entry = session.document_state.current_question
        if entry is None or not 0 <= index < len(entry.answers):
            return
        answer = entry.answers[index]
        if answer.no_answer:
            return
        start, end = answer_context(answer)
        view = session.view
        view.set_layer("answer-context", [Highlight(start, end, ANSWER_CONTEXT_COLOUR)])
        view.set_layer("answer", [Highlight(answer.start, answer.end, ANSWER_COLOUR,
                                            outline=MENTION_COLOUR,
                                            tooltip=f"Answer · score {percent(answer.score)}")])
        view.scroll_to(answer.start, answer.end)
