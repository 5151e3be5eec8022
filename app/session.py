"""One open document's tab: its view and find bar, over the document's state (app.document_state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.document_state import DocumentState
from app.document_view import DocumentView
from app.find_bar import FindBar

if TYPE_CHECKING:
    from engine.documents import Document


class DocumentSession(QWidget):
    """The widgets of one document tab; what the panels show for it is `document_state`."""

    changed = Signal(str)  # which task's results or state changed (the state's notice, for Qt)

    def __init__(self, document: Document, font_size: int = 12,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.view = DocumentView(document, font_size, self)
        self.find_bar = FindBar(self.view, self)
        self.document_state = DocumentState(document)
        self.document_state.subscribe(self.changed.emit)
        # The view's marks for every entity (Qt colours), made off the UI thread with the result.
        self.entity_marks: list | None = None

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

    def state(self, task: str) -> str:
        return self.document_state.state(task)
