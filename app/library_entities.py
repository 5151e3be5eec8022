"""The Library's entity browser: each entity with its counts across documents, a filter, and
an entity's mentions (document and page) to open."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QWidget,
)

from app.layout import column
from app.library_model import LibraryModel
from app.library_results import ResultList, mention_row
from engine.library import EntityInfo, Hit

FILTER_DELAY_MS = 250
MAX_ENTITIES = 2000  # rows listed; the filter finds the rest


def entity_text(info: EntityInfo) -> str:
    docs = "1 document" if info.documents == 1 else f"{info.documents:,} documents"
    mentions = "1 mention" if info.mentions == 1 else f"{info.mentions:,} mentions"
    return f"{' '.join(info.text.split())}  ·  {info.type}  ·  {docs}, {mentions}"


class EntityBrowser(QWidget):
    opened = Signal(object)  # a Target

    def __init__(self, model: LibraryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter entities")
        self.filter.setAccessibleName("Filter entities")
        self.filter.setClearButtonEnabled(True)
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(FILTER_DELAY_MS)
        self._delay.timeout.connect(self.reload)
        self.filter.textChanged.connect(lambda _t: self._delay.start())
        self.notice = QLabel(self)
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Entities in the library")
        self.list.currentItemChanged.connect(lambda item, _old: self._chosen(item))
        self.mentions = ResultList("Mentions of the entity", self)
        self.mentions.opened.connect(self.opened)
        self.mentions_label = QLabel("Choose an entity to see its mentions.", self)
        self.mentions_label.setTextFormat(Qt.TextFormat.PlainText)
        self.mentions_label.setWordWrap(True)
        lower = QWidget(self)
        column(lower, self.mentions_label, (self.mentions, 1)).setContentsMargins(0, 4, 0, 0)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.list)
        split.addWidget(lower)
        split.setChildrenCollapsible(False)
        column(self, self.filter, self.notice, (split, 1)).setContentsMargins(0, 4, 0, 0)
        self._asked = 0
        self._mentions_asked = 0
        model.update_finished.connect(lambda _r: self.reload())

    def reload(self) -> None:
        self._asked += 1
        asked = self._asked
        self.model.entities(self.filter.text().strip(),
                            lambda found, n=asked: self._show(found) if n == self._asked else None)

    def _show(self, found: list[EntityInfo]) -> None:
        current = self.selected()
        self.list.clear()
        for info in found[:MAX_ENTITIES]:
            item = QListWidgetItem(entity_text(info), self.list)
            item.setData(Qt.ItemDataRole.UserRole, info)
            if info == current:
                self.list.setCurrentItem(item)
        status = self.model.listing.status
        if found:
            more = f" (the first {MAX_ENTITIES:,} shown)" if len(found) > MAX_ENTITIES else ""
            self.notice.setText(f"{len(found):,} entities{more}")
        elif self.filter.text().strip():
            self.notice.setText("No entity matches the filter.")
        elif status is not None and status.skipped.get("entities"):
            self.notice.setText(f"Entities are not indexed: {status.skipped['entities']}")
        else:
            self.notice.setText("No entities yet: they are found once the documents are indexed "
                                "with a named-entity model.")

    def selected(self) -> EntityInfo | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _chosen(self, item: QListWidgetItem | None) -> None:
        info = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if info is None:
            self.mentions.clear()
            self.mentions_label.setText("Choose an entity to see its mentions.")
            return
        self.mentions_label.setText(f"Mentions of {' '.join(info.text.split())} ({info.type}):")
        self._mentions_asked += 1
        asked = self._mentions_asked
        self.model.mentions(info, lambda hits, n=asked: self._show_mentions(hits)
                            if n == self._mentions_asked else None)

    def _show_mentions(self, hits: list[Hit]) -> None:
        self.mentions.set_rows([mention_row(h) for h in hits], "No mentions.")
