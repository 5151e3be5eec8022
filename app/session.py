"""One open document's tab: its view and find bar, over the document's state (app.document_state),
and its look-alike letters (an indicator above the text that toggles their layer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from app.document_state import DocumentState
from app.document_view import PAGE, DocumentView, Highlight
from app.find_bar import FindBar
from app.lookalikes import LAYER, fold_text, indicator_text, lookalike_highlights
from app.palette import EXPLAIN_AGAINST_COLOUR, EXPLAIN_MAX_ALPHA, EXPLAIN_SUPPORT_COLOUR

EXPLAIN_LAYER, EXPLAIN_PAGE_LAYER = "explain", "explain-page"

if TYPE_CHECKING:
    from engine.documents import Document
    from engine.lookalikes import FoldedText


class DocumentSession(QWidget):
    """The widgets of one document tab; what the panels show for it is `document_state`."""

    changed = Signal(str)  # which task's results or state changed (the state's notice, for Qt)
    lookalikes_toggled = Signal(bool)  # the look-alike layer was shown or hidden

    def __init__(self, document: Document, font_size: int = 12,
                 parent: QWidget | None = None, folded: FoldedText | None = None) -> None:
        super().__init__(parent)
        self.document = document
        # Worked out once per document: by the loading job when it opened a file (a huge text
        # stays off the UI thread), here for a document handed over without it.
        self.folded = folded if folded is not None and folded.original == document.text \
            else fold_text(document.text)
        self.view = DocumentView(document, font_size, self)
        self.view.set_layer_visible(LAYER, False)
        self.find_bar = FindBar(self.view, self, search_text=self.folded.text)
        self.document_state = DocumentState(document)
        self.document_state.subscribe(self.changed.emit)
        self.explanation_job = None  # the "Why?" running or shown last (app.explanations)
        # The view's marks for every entity (Qt colours), made off the UI thread with the result.
        self.entity_marks: list | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        if document.warnings:
            layout.addWidget(self._warnings_bar(document.warnings))
        layout.addWidget(self._lookalikes_bar())
        layout.addWidget(self._explanation_bar())
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

    def _lookalikes_bar(self) -> QWidget:
        bar = QWidget(self)
        bar.setObjectName("lookalikesBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(10, 2, 10, 2)
        button = QToolButton(bar)
        button.setObjectName("lookalikesIndicator")
        button.setText(indicator_text(self.folded))
        button.setCheckable(True)
        button.setAutoRaise(True)
        button.setAccessibleName("Look-alike letters")
        button.setToolTip("Words written with letters of other scripts that look like Latin ones "
                          "(\u201c\u0410LBERT\u201d with a Cyrillic A). Click to mark them "
                          "in the text.")
        button.toggled.connect(self.set_lookalikes_shown)
        row.addStretch(1)
        row.addWidget(button)
        bar.setVisible(bool(self.folded.lookalikes))  # nothing to say about a plain text
        self.lookalikes_indicator = button
        return bar

    def _explanation_bar(self) -> QWidget:
        """The legend of a "Why?" tint: what it explains, its two colours, a way to clear it."""
        bar = QWidget(self)
        bar.setObjectName("explanationBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(10, 3, 6, 3)
        self.explanation_label = QLabel(bar)
        self.explanation_label.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation_label.setWordWrap(True)
        self.explanation_label.setAccessibleName("Explanation")
        row.addWidget(self.explanation_label, 1)
        self.explanation_legend: list[QLabel] = []
        for colour, text in ((EXPLAIN_SUPPORT_COLOUR, "supports"),
                             (EXPLAIN_AGAINST_COLOUR, "argues against")):
            swatch = QLabel(bar)
            swatch.setFixedSize(14, 14)
            shade = QColor(colour)
            shade.setAlpha(EXPLAIN_MAX_ALPHA)
            swatch.setStyleSheet(f"background: rgba({shade.red()}, {shade.green()}, "
                                 f"{shade.blue()}, {shade.alpha()}); border-radius: 2px;")
            words = QLabel(text, bar)
            words.setTextFormat(Qt.TextFormat.PlainText)
            row.addWidget(swatch)
            row.addWidget(words)
            self.explanation_legend += [swatch, words]
        close = QToolButton(bar)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Clear the explanation")
        close.setToolTip("Clear the explanation's tint")
        close.clicked.connect(self.clear_explanation)
        row.addWidget(close)
        bar.hide()
        self.explanation_bar = bar
        return bar

    def show_explanation(self, title: str, highlights: list, unit: str = "word") -> None:
        """Tint the explained words (or sentences) on a clean page (the marks under them would
        change their colours); the bar above the text is their legend."""
        self.view.set_layer(EXPLAIN_LAYER, highlights)
        self.view.set_layer(EXPLAIN_PAGE_LAYER, [Highlight(
            min(h.start for h in highlights), max(h.end for h in highlights), PAGE)]
            if highlights else [])
        what = "sentence" if unit == "sentence" else "word"
        self.explanation_label.setText(f"{title}  Hover a {what} for its weight.")
        for widget in self.explanation_legend:
            widget.show()
        self.explanation_bar.show()

    def show_explanation_message(self, text: str) -> None:
        """A line in the explanation's bar (working, or why there is none), without a legend."""
        self.explanation_label.setText(text)
        for widget in self.explanation_legend:
            widget.hide()
        self.explanation_bar.show()

    def clear_explanation(self) -> None:
        self.view.clear_layer(EXPLAIN_LAYER)
        self.view.clear_layer(EXPLAIN_PAGE_LAYER)
        self.explanation_bar.hide()

    @property
    def has_lookalikes(self) -> bool:
        return bool(self.folded.lookalikes)

    @property
    def lookalikes_shown(self) -> bool:
        return self.view.layer_visible(LAYER)

    def set_lookalikes_shown(self, shown: bool) -> None:
        """Show or hide the marks on every look-alike word (the marks are made on first show)."""
        shown = bool(shown) and self.has_lookalikes
        if shown and not self.view.highlights(LAYER):
            self.view.set_layer(LAYER, lookalike_highlights(self.folded))
        changed = shown != self.lookalikes_shown
        self.view.set_layer_visible(LAYER, shown)
        if self.lookalikes_indicator.isChecked() != shown:
            self.lookalikes_indicator.setChecked(shown)  # re-enters with nothing left to do
        if changed:
            self.lookalikes_toggled.emit(shown)

    @property
    def title(self) -> str:
        return self.document.title or (self.document.path.name if self.document.path else "Untitled")

    def state(self, task: str) -> str:
        return self.document_state.state(task)
