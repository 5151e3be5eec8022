"""Summary: choose a length, list the summary sentences, mark them in the text, copy them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.context import AppContext
from app.document_state import RUNNING
from app.document_view import Highlight
from app.layout import column, row
from app.palette import MENTION_COLOUR, SUMMARY_COLOUR
from app.panels.base import TaskPanel
from app.session import DocumentSession

if TYPE_CHECKING:
    from engine.tasks.results import Summary

MODES = (("sentences", "sentences"), ("percent", "% of the text"))


def summary_options(mode: str, value: int) -> dict:
    """The engine's length arguments for the panel's length control."""
    if mode == "percent":
        return {"ratio": max(1, min(value, 100)) / 100.0}
    return {"max_sentences": max(1, value)}


def summary_highlights(summary: Summary) -> list[Highlight]:
    return [Highlight(s.start, s.end, SUMMARY_COLOUR, tooltip="In the summary") for s in
            summary.sentences]


class SummaryPanel(TaskPanel):
    task = "summarization"
    title = "Summary"
    has_run_button = True

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        mode, value = ctx.settings.summary_length
        self.amount = QSpinBox(self)
        self.amount.setAccessibleName("Summary length")
        self.unit = QComboBox(self)
        self.unit.setAccessibleName("Summary length unit")
        for key, label in MODES:
            self.unit.addItem(label, key)
        self.unit.setCurrentIndex(0 if mode == "sentences" else 1)
        self._set_range(mode)
        self.amount.setValue(value)
        self.unit.currentIndexChanged.connect(self._unit_changed)
        self.amount.valueChanged.connect(self._remember)
        self.run_button = QPushButton("Summarize", self)
        self.run_button.setAccessibleName("Summarize the document")
        self.run_button.clicked.connect(self.start_current)

        self.mark_box = QCheckBox("Mark in the text", self)
        self.mark_box.setChecked(True)
        self.mark_box.setAccessibleName("Mark summary sentences in the text")
        self.mark_box.toggled.connect(self._mark_toggled)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setAccessibleName("Copy the summary to the clipboard")
        self.copy_button.setToolTip("Copy the summary sentences to the clipboard")
        self.copy_button.clicked.connect(self.copy)

        self.info = QLabel(self)
        self.info.setAccessibleName("Summary information")
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setAccessibleName("Summary sentences")
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setSpacing(3)
        self.list.itemActivated.connect(self._jump)
        self.list.itemClicked.connect(self._jump)

        column(self, row(QLabel("Length:", self), self.amount, self.unit, 1, self.run_button),
               self.notice, row((self.info, 1), self.mark_box, self.copy_button), (self.list, 1))
        self.refresh()

    # --- length ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.unit.currentData()

    def _set_range(self, mode: str) -> None:
        if mode == "percent":
            self.amount.setRange(1, 100)
            self.amount.setSuffix(" %")
        else:
            self.amount.setRange(1, 200)
            self.amount.setSuffix("")

    def _unit_changed(self) -> None:
        self._set_range(self.mode)
        self.amount.setValue(20 if self.mode == "percent" else 3)
        self._remember()

    def _remember(self) -> None:
        self.ctx.settings.summary_length = (self.mode, self.amount.value())

    def set_length(self, mode: str, value: int) -> None:
        self.unit.setCurrentIndex(0 if mode == "sentences" else 1)
        self.amount.setValue(value)

    # --- running ---------------------------------------------------------------------------------
    def start(self, session: DocumentSession) -> None:
        document = session.document
        options = summary_options(self.mode, self.amount.value())

        def call(pipe, progress, cancel):
            return pipe(document, progress=progress, cancel=cancel, **options)

        def result(summary: Summary) -> None:
            session.document_state.summary = summary
            self.apply_marks(session)

        self.run_task(session, call, result)

    def apply_marks(self, session: DocumentSession) -> None:
        summary = session.document_state.summary
        if summary is not None:
            session.view.set_layer("summary", summary_highlights(summary))
        session.view.set_layer_visible("summary", self.mark_box.isChecked())

    def _mark_toggled(self, on: bool) -> None:
        if self.session is not None:
            self.session.view.set_layer_visible("summary", on)

    def copy(self) -> None:
        session = self.session
        summary = session.document_state.summary if session is not None else None
        if summary is None:
            return
        QGuiApplication.clipboard().setText(
            "\n".join(" ".join(s.text.split()) for s in summary.sentences))
        self.info.setText("Copied to the clipboard.")

    # --- showing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        session = self.session
        self.state_notice("Choose a length and press Summarize.", "Summarize", self.start_current)
        running = session is not None and session.state(self.task) == RUNNING
        self.run_button.setEnabled(session is not None and not running)
        summary = session.document_state.summary if session is not None else None
        self.list.clear()
        self.copy_button.setEnabled(bool(summary and summary.sentences))
        self.mark_box.setEnabled(summary is not None)
        if session is not None:
            self.mark_box.setChecked(session.view.layer_visible("summary"))
        if summary is None:
            self.info.setText("")
            return
        n = len(summary.sentences)
        self.info.setText(f"{n} sentence{'s' if n != 1 else ''}, in document order")
        for number, span in enumerate(summary.sentences, 1):
            page = session.document_state.page_of(span.start)
            label = f"{number}.  " + " ".join(span.text.split())
            item = QListWidgetItem(f"{label}  (p. {page})" if page else label, self.list)
            item.setData(Qt.ItemDataRole.UserRole, (span.start, span.end))
            item.setToolTip("Go to this sentence in the document")

    def _jump(self, item: QListWidgetItem) -> None:
        if self.session is None:
            return
        start, end = item.data(Qt.ItemDataRole.UserRole)
        self.session.view.set_layer("mention", [Highlight(start, end, outline=MENTION_COLOUR)])
        self.session.view.scroll_to(start, end)
