"""One open document: its view, its find bar, and the results of every analysis run on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.document_view import DocumentView
from app.find_bar import FindBar

if TYPE_CHECKING:
    from engine.documents import Document
    from engine.tasks.results import Answer, Entity, Sentiment, Summary

# What a task's panel shows while nothing is listed.
IDLE, RUNNING, DONE, FAILED, CANCELLED, NO_MODEL = (
    "idle", "running", "done", "failed", "cancelled", "no-model")


@dataclass
class TaskState:
    state: str = IDLE
    message: str = ""
    job: object = None


@dataclass
class QuestionResult:
    question: str
    answers: list[Answer] = field(default_factory=list)
    contexts: list[tuple[int, int]] = field(default_factory=list)  # sentence around each
    answered: bool = False  # the model ran; until then "no answer" would be a false claim

    @property
    def no_answer(self) -> bool:
        return not self.answers or self.answers[0].no_answer


class DocumentSession(QWidget):
    """The widget of one document tab, and the state the panels show for it."""

    changed = Signal(str)  # which task's results or state changed

    def __init__(self, document: Document, font_size: int = 12,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.view = DocumentView(document, font_size, self)
        self.find_bar = FindBar(self.view, self)
        self.tasks: dict[str, TaskState] = {
            t: TaskState() for t in ("ner", "question-answering", "summarization", "sentiment")
        }
        self.entities: list[Entity] | None = None
        # Derived from `entities` off the UI thread: every highlight, and (type, text, mentions).
        self.entity_highlights: list | None = None
        self.entity_groups: list | None = None
        self.hidden_types: set[str] = set()
        self.questions: list[QuestionResult] = []
        self.current_question: QuestionResult | None = None
        self.summary: Summary | None = None
        self.sentiment: Sentiment | None = None
        self.mention_cursor: dict[tuple[str, str], int] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        if document.warnings:
            layout.addWidget(self._warnings_bar(document.warnings))
        layout.addWidget(self.view, 1)
        layout.addWidget(self.find_bar)
        self.setAccessibleName(f"Document {document.title}")

    def _warnings_bar(self, warnings: list[str]) -> QWidget:
        bar = QWidget(self)
        bar.setObjectName("warningsBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(10, 6, 6, 6)
        label = QLabel("⚠ " + "  ".join(warnings), bar)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setAccessibleName("Notes about how the document was read")
        close = QToolButton(bar)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Hide the notes")
        close.clicked.connect(bar.hide)
        row.addWidget(label, 1)
        row.addWidget(close)
        self.warnings_label = label
        return bar

    @property
    def title(self) -> str:
        return self.document.title or (self.document.path.name if self.document.path else "Untitled")

    def set_state(self, task: str, state: str, message: str = "", job: object = None) -> None:
        self.tasks[task] = TaskState(state, message, job)
        self.changed.emit(task)

    def state(self, task: str) -> str:
        return self.tasks[task].state

    def page_of(self, offset: int) -> int | None:
        return self.document.page_of(offset) if self.document.pages else None
