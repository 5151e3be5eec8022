"""Find in the document (Ctrl+F): every match marked, the current one brighter, F3 to go on.

It searches the text with look-alike letters folded (`engine.fold_lookalikes`: one code point
for one), so "Natural" finds "Natսral" and a match's positions are the document's."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from app.document_view import DocumentView, Highlight
from app.lookalikes import fold_text
from app.palette import FIND_COLOUR, FIND_CURRENT_COLOUR, FIND_OUTLINE_COLOUR

MAX_MATCHES = 20000


def find_all(text: str, query: str, match_case: bool = False) -> list[tuple[int, int]]:
    """Code-point spans of every occurrence of `query` (literal text, not a pattern)."""
    if not query:
        return []
    flags = 0 if match_case else re.IGNORECASE
    spans = []
    for m in re.finditer(re.escape(query), text, flags):
        spans.append(m.span())
        if len(spans) >= MAX_MATCHES:
            break
    return spans


class FindBar(QWidget):
    """The find strip under a document; it searches the view it belongs to."""

    closed = Signal()

    def __init__(self, view: DocumentView, parent: QWidget | None = None,
                 search_text: str | None = None) -> None:
        super().__init__(parent)
        self.view = view
        # The document's text with look-alikes folded; its own text when not given.
        self.search_text = search_text
        self.matches: list[tuple[int, int]] = []
        self.current = -1

        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Find in document")
        self.edit.setClearButtonEnabled(True)
        self.edit.setAccessibleName("Find text")
        self.case = QCheckBox("Match case", self)
        self.case.setAccessibleName("Match case")
        self.count = QLabel(self)
        self.count.setAccessibleName("Number of matches")
        self.count.setMinimumWidth(90)
        self.prev_button = self._button("Previous", "go-up", QKeySequence.StandardKey.FindPrevious,
                                        self.find_previous)
        self.next_button = self._button("Next", "go-down", QKeySequence.StandardKey.FindNext,
                                        self.find_next)
        close = self._button("Close", "window-close", None, self.close_bar)
        close.setText("✕")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(QLabel("Find:", self))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.prev_button)
        layout.addWidget(self.next_button)
        layout.addWidget(self.case)
        layout.addWidget(self.count)
        layout.addWidget(close)

        # Typing re-searches after a pause, so a long document is not searched per keystroke.
        self._timer = QTimer(self, singleShot=True, interval=120)
        self._timer.timeout.connect(self.search)
        self.edit.textChanged.connect(self._timer.start)
        self.case.toggled.connect(self.search)
        self.edit.returnPressed.connect(self._on_return)
        self.hide()

    def _button(self, text: str, _icon: str, shortcut, slot) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAccessibleName(text)
        button.setAutoRaise(True)
        if shortcut is not None:
            tip = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
            button.setToolTip(f"{text} match ({tip})")
        button.clicked.connect(slot)
        return button

    # --- actions ---------------------------------------------------------------------------------
    def open_bar(self) -> None:
        selected = self.view.textCursor().selectedText()
        if selected and "\u2029" not in selected and len(selected) < 100:
            self.edit.setText(selected)
        self.show()
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()
        if self.edit.text():
            self.search()

    def close_bar(self) -> None:
        self.hide()
        self.view.clear_layer("find")
        self.view.clear_layer("find-current")
        self.view.setFocus()
        self.closed.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            return
        super().keyPressEvent(event)

    def _on_return(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.search()
        elif self.matches:
            self.find_next()

    def search(self) -> None:
        self._timer.stop()
        query = self.edit.text()
        text = self.view.document_model.text
        if self.search_text is not None and len(self.search_text) == len(text):
            # A pasted "AᏞBERT" finds what it spells too; folding keeps the query's length.
            query = fold_text(query).text
            text = self.search_text
        self.matches = find_all(text, query, self.case.isChecked())
        self.view.set_layer("find", [Highlight(s, e, FIND_COLOUR) for s, e in self.matches])
        self.current = -1
        if self.matches:
            # Start from the first match at or after the caret, like other editors do.
            caret = self.view.offsets.to_code_point(self.view.textCursor().selectionStart())
            after = [i for i, (s, _) in enumerate(self.matches) if s >= caret]
            self._go(after[0] if after else 0)
        else:
            self.view.clear_layer("find-current")
            self._update_count()

    def find_next(self) -> None:
        if not self.matches and self.edit.text():
            self.search()
        elif self.matches:
            self._go((self.current + 1) % len(self.matches))

    def find_previous(self) -> None:
        if not self.matches and self.edit.text():
            self.search()
        elif self.matches:
            self._go((self.current - 1) % len(self.matches))

    def _go(self, index: int) -> None:
        self.current = index
        start, end = self.matches[index]
        self.view.set_layer("find-current", [Highlight(start, end, FIND_CURRENT_COLOUR,
                                                       outline=FIND_OUTLINE_COLOUR)])
        self.view.scroll_to(start, end)
        self._update_count()

    def _update_count(self) -> None:
        if not self.edit.text():
            self.count.setText("")
        elif not self.matches:
            self.count.setText("No matches")
        else:
            more = "+" if len(self.matches) >= MAX_MATCHES else ""
            self.count.setText(f"{self.current + 1} of {len(self.matches)}{more}")
