"""Lists of places in the library's documents (search hits, answers, mentions), as plain text.

Every row is a `Target`: a span of a document to open and mark. Rows are QListWidgetItems,
whose text Qt never reads as HTML, so a document's "<b>" shows as written; tooltips, which
Qt does read as HTML, go through `as_rich_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QWidget,
)

from app.text_format import as_rich_text, percent, preview
from engine.library import Hit, LibraryAnswer

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Target:
    """`path`'s text[start:end] to mark, inside `context` (a passage or a sentence) when given;
    `marks` are extra spans to mark brightly (a search's words in its passage)."""

    path: str
    start: int
    end: int
    context: tuple[int, int] | None = None
    marks: tuple[tuple[int, int], ...] = ()
    tooltip: str = ""


def place(path: str, title: str | None, page: int | None) -> str:
    """"Title · page 2": what a citation is called in a list."""
    name = title or Path(path).name
    return f"{name} · page {page}" if page is not None else name


def word_spans(text: str, query: str, offset: int = 0) -> tuple[tuple[int, int], ...]:
    """Where the query's words stand in `text` (whole words, any case), shifted by `offset`."""
    words = {w.casefold() for w in _WORD.findall(query)}
    return tuple((offset + m.start(), offset + m.end()) for m in _WORD.finditer(text)
                 if m.group().casefold() in words)


def hit_row(hit: Hit, query: str) -> tuple[str, Target]:
    text = f"{place(hit.path, hit.title, hit.page)}\n{preview(hit.text, 220)}"
    target = Target(hit.path, hit.start, hit.end, (hit.start, hit.end),
                    word_spans(hit.text, query, hit.start), "Search hit")
    return text, target


def answer_row(answer: LibraryAnswer) -> tuple[str, Target] | None:
    if answer.no_answer or answer.path is None:
        return None
    text = (f"{' '.join(answer.text.split()) or '(empty)'}  ·  {percent(answer.score)}\n"
            f"{place(answer.path, answer.title, answer.page)}")
    context = (answer.context_start, answer.context_end) \
        if answer.context_end > answer.context_start else None
    return text, Target(answer.path, answer.start, answer.end, context,
                        tooltip=f"Answer · score {percent(answer.score)}")


def mention_row(hit: Hit) -> tuple[str, Target]:
    text = f"“{' '.join(hit.text.split())}”  ·  {place(hit.path, hit.title, hit.page)}"
    return text, Target(hit.path, hit.start, hit.end, tooltip="Mention")


class TwoLineDelegate(QStyledItemDelegate):
    """A row's first line in bold (what is cited), the rest wrapped below it; plain text."""

    MARGIN = 4

    def _parts(self, option, index) -> tuple[str, str, QFont, QFont]:
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        head, _, rest = text.partition("\n")
        bold = QFont(option.font)
        bold.setBold(True)
        return head, rest, bold, option.font

    def _heights(self, option, index, width: int) -> tuple[int, int]:
        head, rest, bold, plain = self._parts(option, index)
        flags = int(Qt.TextFlag.TextWordWrap)
        h1 = QFontMetrics(bold).boundingRect(QRect(0, 0, width, 10_000), flags, head).height()
        h2 = QFontMetrics(plain).boundingRect(QRect(0, 0, width, 10_000), flags,
                                              rest).height() if rest else 0
        return h1, h2

    def sizeHint(self, option, index) -> QSize:
        view = option.widget
        width = (view.viewport().width() if view is not None else option.rect.width()) \
            - 2 * self.MARGIN
        h1, h2 = self._heights(option, index, max(width, 80))
        return QSize(width, h1 + h2 + 2 * self.MARGIN + (2 if h2 else 0))

    def paint(self, painter, option, index) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget is not None else None
        text = option.text
        option.text = ""
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter,
                              option.widget)
        head, rest, bold, plain = self._parts(option, index)
        rect = option.rect.adjusted(self.MARGIN, self.MARGIN, -self.MARGIN, -self.MARGIN)
        h1, h2 = self._heights(option, index, rect.width())
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        enabled = bool(index.flags() & Qt.ItemFlag.ItemIsEnabled)
        group = QPalette.ColorGroup.Normal if enabled else QPalette.ColorGroup.Disabled
        painter.save()
        painter.setPen(option.palette.color(group, role))
        flags = int(Qt.TextFlag.TextWordWrap)
        painter.setFont(bold if rest else plain)
        painter.drawText(QRect(rect.left(), rect.top(), rect.width(), h1), flags, head)
        if rest:
            painter.setFont(plain)
            painter.drawText(QRect(rect.left(), rect.top() + h1 + 2, rect.width(), h2), flags,
                             rest)
        painter.restore()
        option.text = text


class ResultList(QListWidget):
    """Rows of places; a click or Enter on one emits `opened(Target)`."""

    opened = Signal(object)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAlternatingRowColors(True)
        self.setSpacing(1)
        self.setItemDelegate(TwoLineDelegate(self))
        # Rows are as tall as their wrapped text at the list's width: measured again on resize.
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.itemActivated.connect(self._open)
        self.itemClicked.connect(self._open)

    def set_rows(self, rows: list[tuple[str, Target]], empty: str = "") -> None:
        self.clear()
        for text, target in rows:
            item = QListWidgetItem(text, self)
            item.setData(Qt.ItemDataRole.UserRole, target)
            item.setToolTip(as_rich_text(target.path))
        if not rows and empty:
            item = QListWidgetItem(empty, self)
            item.setFlags(Qt.ItemFlag.NoItemFlags)

    def targets(self) -> list[Target]:
        return [t for i in range(self.count())
                if (t := self.item(i).data(Qt.ItemDataRole.UserRole)) is not None]

    def _open(self, item: QListWidgetItem) -> None:
        target = item.data(Qt.ItemDataRole.UserRole)
        if target is not None:
            self.opened.emit(target)
