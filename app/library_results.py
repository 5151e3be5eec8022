"""Lists of places in the library's documents (search hits, answers, mentions), as plain text.

Every row is a `Target`: a span of a document to open and mark. Rows are QListWidgetItems,
whose text Qt never reads as HTML, so a document's "<b>" shows as written; tooltips, which
Qt does read as HTML, go through `as_rich_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

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
        self.setSpacing(2)
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
