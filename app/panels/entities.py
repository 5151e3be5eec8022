"""Entities: found in the background when a document opens, coloured per type in the text.

The legend toggles each type; the list groups mentions by entity (Entity.key: "AᏞBERT" is
"ALBERT") with counts; activating an entry jumps to its mentions one after another.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QTreeView,
    QWidget,
)

from app.context import AppContext
from app.document_state import DONE, RUNNING, EntityGroup, group_entities
from app.document_view import Highlight
from app.layout import column, row
from app.palette import MENTION_COLOUR, entity_colour, entity_type_name
from app.panels.base import TaskPanel
from app.session import DocumentSession

if TYPE_CHECKING:
    from engine.tasks.results import Entity

KEY_ROLE = Qt.ItemDataRole.UserRole


def swatch(colour: QColor, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(colour)
    return QIcon(pixmap)


def entity_tooltip(entity: Entity) -> str:
    return _tooltip(_type_shown(entity.type), entity.score)


def _type_shown(kind: str) -> str:
    name = entity_type_name(kind)
    return name if name == kind else f"{name} ({kind})"


def _tooltip(type_shown: str, score: float) -> str:
    return f"{type_shown} · confidence {score:.0%}"


def entity_highlights(entities: list[Entity], hidden: set[str]) -> list[Highlight]:
    # Colour and type name once per type, not per mention: a long document holds thousands
    # of mentions of a handful of types, and this runs while the UI thread wants the GIL.
    styles: dict[str, tuple[QColor, str] | None] = {}
    marks = []
    for e in entities:
        if e.type not in styles:
            styles[e.type] = None if e.type in hidden else (
                entity_colour(e.type), _type_shown(e.type))
        style = styles[e.type]
        if style is not None:
            marks.append(Highlight(e.start, e.end, style[0], tooltip=_tooltip(style[1], e.score),
                                   data=e))
    return marks


class EntityGroupsModel(QAbstractTableModel):
    """Entities grouped by (type, Entity.key), filtered and sorted in Python.

    A model rather than one widget item per row: a long document can hold thousands of
    distinct entities, and the view then only asks for the rows on screen.
    """

    HEADERS = ("Entity", "Type", "Mentions")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.groups: list[EntityGroup] = []
        self._flat: list[str] = []
        self._rows: list[int] = []
        self._hidden: set[str] = set()
        self._needle = ""
        self._sort = (2, Qt.SortOrder.DescendingOrder)
        self._icons: dict[str, QIcon] = {}

    def set_groups(self, groups: list[EntityGroup]) -> None:
        self.beginResetModel()
        self.groups = list(groups)
        self._flat = [" ".join(text.split()) for _, text, _ in self.groups]
        self._rebuild()
        self.endResetModel()

    def set_filter(self, hidden: set[str], needle: str) -> None:
        needle = needle.strip().lower()
        if set(hidden) == self._hidden and needle == self._needle:
            return
        self.beginResetModel()
        self._hidden, self._needle = set(hidden), needle
        self._rebuild()
        self.endResetModel()

    def _rebuild(self) -> None:
        rows = [i for i, (kind, _, _) in enumerate(self.groups) if kind not in self._hidden
                and (not self._needle or self._needle in self._flat[i].lower())]
        column, order = self._sort
        if column == 0:
            rows.sort(key=lambda i: self._flat[i].lower())
        elif column == 1:
            rows.sort(key=lambda i: (entity_type_name(self.groups[i][0]), self._flat[i].lower()))
        else:
            rows.sort(key=lambda i: (len(self.groups[i][2]), -i))
        if order == Qt.SortOrder.DescendingOrder:
            rows.reverse()
        self._rows = rows

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._rebuild()
        self.layoutChanged.emit()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def group(self, row: int) -> EntityGroup:
        return self.groups[self._rows[row]]

    def row_of(self, text: str, kind: str | None = None) -> int | None:
        for shown, i in enumerate(self._rows):
            k, t, _ = self.groups[i]
            if t == text and (kind is None or k == kind):
                return shown
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = self._rows[index.row()]
        kind, text, mentions = self.groups[i]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (self._flat[i], entity_type_name(kind), len(mentions))[column]
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            if kind not in self._icons:
                self._icons[kind] = swatch(entity_colour(kind), 10)
            return self._icons[kind]
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return f"{len(mentions)} mention(s); activate to go through them"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == KEY_ROLE:
            return (kind, text)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


def session_groups(session: DocumentSession | None) -> list[EntityGroup]:
    return session.document_state.groups() if session is not None else []


def apply_entity_highlights(session: DocumentSession) -> None:
    doc = session.document_state
    every = session.entity_marks
    if every is None:
        every = session.entity_marks = entity_highlights(doc.entities or [], set())
    hidden = doc.hidden_types
    session.view.set_layer("entities", [h for h in every
                                        if not hidden or h.data.type not in hidden])


class EntitiesPanel(TaskPanel):
    task = "ner"
    title = "Entities"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.summary_label = QLabel(self)
        self.summary_label.setAccessibleName("Entity summary")
        self.rerun_button = QPushButton("Find again", self)
        self.rerun_button.setAccessibleName("Find entities again")
        self.rerun_button.setToolTip("Run entity recognition on this document again")
        self.rerun_button.clicked.connect(self.start_current)

        self.legend = QWidget(self)
        self.legend.setAccessibleName("Entity types")
        self.legend_layout = QGridLayout(self.legend)
        self.legend_layout.setContentsMargins(0, 0, 0, 0)
        self.type_boxes: dict[str, QCheckBox] = {}

        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter entities")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter entities")
        self.filter.textChanged.connect(self._apply_filter)

        self.model = EntityGroupsModel(self)
        self.tree = QTreeView(self)
        self.tree.setModel(self.model)
        self.tree.setAccessibleName("Entities grouped by text")
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.tree.header()
        # Fixed widths: "resize to contents" would ask the model for every row's text.
        metrics = self.tree.fontMetrics()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, metrics.horizontalAdvance("Miscellaneous") + 24)
        header.resizeSection(2, metrics.horizontalAdvance("Mentions") + 28)
        header.setStretchLastSection(False)
        self.tree.activated.connect(self._activated)
        self.tree.clicked.connect(self._activated)

        self.prev_button = QToolButton(self)
        self.prev_button.setText("◀ Previous")
        self.prev_button.setAccessibleName("Previous mention")
        self.prev_button.clicked.connect(lambda: self.step_mention(-1))
        self.next_button = QToolButton(self)
        self.next_button.setText("Next ▶")
        self.next_button.setAccessibleName("Next mention")
        self.next_button.clicked.connect(lambda: self.step_mention(1))
        self.mention_label = QLabel(self)
        self.mention_label.setTextFormat(Qt.TextFormat.PlainText)
        self.mention_label.setAccessibleName("Current mention")
        self.mention_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = column(self, row((self.summary_label, 1), self.rerun_button), self.legend,
                        self.notice, self.filter, (self.tree, 1),
                        row(self.prev_button, (self.mention_label, 1), self.next_button),
                        # The room of the list while there is none: the rest stays at the top.
                        0)
        self._layout = layout
        self._current_key: tuple[str, str] | None = None
        self._filled_for: object = ()
        self.refresh()

    # --- running ---------------------------------------------------------------------------------
    def start(self, session: DocumentSession) -> None:
        document = session.document
        settings = self.ctx.settings
        # The Library ran the default model, folding look-alikes, at full precision: its stored
        # entities are this analysis's only when the settings ask for the same.
        reusable = (document.path is not None and settings.model_for(self.task) is None
                    and settings.fold_lookalikes and settings.precision == "fp32")

        def call(pipe, progress, cancel):
            stored = self.ctx.stored_entities(document.path) if reusable else None
            # The Document, not just its text: its paragraphs guide the engine's windows.
            found = stored if stored is not None else pipe(document, progress=progress,
                                                           cancel=cancel)
            entities = sorted(found, key=lambda e: (e.start, e.end))
            # Built here, off the UI thread: a long document can hold thousands.
            return entities, entity_highlights(entities, set()), group_entities(entities)

        def result(payload) -> None:
            entities, session.entity_marks, groups = payload
            session.document_state.set_entities(entities, groups)
            apply_entity_highlights(session)

        self.run_task(session, call, result)

    def model_may_be_installed(self, session: DocumentSession) -> None:
        self.start(session)  # entities are looked for as a document opens

    # --- showing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        session = self.session
        doc = session.document_state if session is not None else None
        entities = doc.entities if doc is not None else None
        self.state_notice("Entities have not been looked for in this document.", "Find entities",
                          self.start_current)
        running = session is not None and session.state(self.task) == RUNNING
        self.rerun_button.setEnabled(session is not None and not running)
        self.rerun_button.setVisible(session is not None and session.state(self.task) == DONE)
        if self._filled_for is not entities:
            # Rebuilding the list is costly for long documents: only when the results change.
            self._filled_for = entities
            groups = session_groups(session)
            self._fill_legend(groups)
            self.model.set_groups(groups)
            self._apply_filter()
        else:
            hidden = doc.hidden_types if doc is not None else set()
            for kind, box in self.type_boxes.items():
                box.blockSignals(True)
                box.setChecked(kind not in hidden)
                box.blockSignals(False)
            self._apply_filter()
        if entities is None:
            self.summary_label.setText("")
        elif not entities:
            self.summary_label.setText("No entities found in this document.")
        else:
            count = len(session_groups(session))
            self.summary_label.setText(f"{len(entities)} mentions of {count} entities")
        self.filter.setVisible(bool(entities))
        self.tree.setVisible(bool(entities))
        # No mentions to step through: no disabled Previous/Next under a "no model" notice.
        for widget in (self.prev_button, self.mention_label, self.next_button):
            widget.setVisible(bool(entities))
        self._layout.setStretch(self._layout.count() - 1, 0 if entities else 1)
        self._current_key = None
        self._show_mention(None)

    def _fill_legend(self, groups: list[EntityGroup]) -> None:
        while self.legend_layout.count():
            widget = self.legend_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.type_boxes.clear()
        counts: Counter[str] = Counter()
        for kind, _text, mentions in groups:
            counts[kind] += len(mentions)
        hidden = self._hidden()
        for i, (kind, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
            box = QCheckBox(f"{entity_type_name(kind)} ({count})", self.legend)
            box.setIcon(swatch(entity_colour(kind)))
            box.setChecked(kind not in hidden)
            box.setAccessibleName(f"Show {entity_type_name(kind)} entities")
            box.setToolTip(f"Show or hide {entity_type_name(kind)} highlights ({kind})")
            box.toggled.connect(lambda on, k=kind: self.set_type_visible(k, on))
            self.type_boxes[kind] = box
            self.legend_layout.addWidget(box, i // 2, i % 2)
        self.legend.setVisible(bool(counts))

    def _hidden(self) -> set[str]:
        return self.session.document_state.hidden_types if self.session is not None else set()

    def _apply_filter(self) -> None:
        self.model.set_filter(self._hidden(), self.filter.text())

    # --- types -----------------------------------------------------------------------------------
    def set_type_visible(self, kind: str, visible: bool) -> None:
        session = self.session
        if session is None:
            return
        session.document_state.set_type_hidden(kind, not visible)
        box = self.type_boxes.get(kind)
        if box is not None and box.isChecked() != visible:
            box.setChecked(visible)
        apply_entity_highlights(session)
        self._apply_filter()

    # --- mentions --------------------------------------------------------------------------------
    def row_for(self, text: str, kind: str | None = None) -> int | None:
        """Row of the list showing `text` (for keyboard users and tests)."""
        return self.model.row_of(text, kind)

    def rows(self) -> list[tuple[str, str, int]]:
        """(text, type name, mentions) as listed, top to bottom."""
        m = self.model
        return [tuple(m.data(m.index(r, c)) for c in range(3)) for r in range(m.rowCount())]

    def activate_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.tree.setCurrentIndex(index)
        self._activated(index)

    def _activated(self, index: QModelIndex) -> None:
        if self.session is None or not index.isValid():
            return
        key = self.model.data(index.siblingAtColumn(0), KEY_ROLE)
        if key == self._current_key:
            self.step_mention(1)
        else:
            self._current_key = key
            self.session.document_state.mention_cursor[key] = 0
            self._go()

    def step_mention(self, delta: int) -> None:
        if self.session is None or self._current_key is None:
            self._activated(self.tree.currentIndex())
            return
        cursor = self.session.document_state.mention_cursor
        cursor[self._current_key] = cursor.get(self._current_key, 0) + delta
        self._go()

    def _mentions(self) -> list[tuple[int, int]]:
        if self._current_key is None or self.session is None:
            return []
        for kind, text, mentions in session_groups(self.session):
            if (kind, text) == self._current_key:
                return [(m.start, m.end) for m in mentions]
        return []

    def _go(self) -> None:
        mentions = self._mentions()
        if not mentions or self.session is None:
            return
        cursor = self.session.document_state.mention_cursor
        index = cursor.get(self._current_key, 0) % len(mentions)
        cursor[self._current_key] = index
        start, end = mentions[index]
        view = self.session.view
        view.set_layer("mention", [Highlight(start, end, outline=MENTION_COLOUR)])
        view.scroll_to(start, end)
        self._show_mention((index, len(mentions)))

    def _show_mention(self, position: tuple[int, int] | None) -> None:
        if position is None:
            self.mention_label.setText("Activate an entity to go to its mentions"
                                       if self.model.rowCount() else "")
            self.prev_button.setEnabled(False)
            self.next_button.setEnabled(False)
            return
        index, total = position
        _kind, text = self._current_key
        self.mention_label.setText(f"“{' '.join(text.split())}”: mention {index + 1} of {total}")
        self.prev_button.setEnabled(total > 1)
        self.next_button.setEnabled(total > 1)
