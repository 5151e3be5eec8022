"""Classify: the user's own labels (zero-shot, an NLI model), the document's scores as bars,
paragraphs tinted by their top label, a label's paragraphs one after another, and "Why?"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolTip,
    QWidget,
)

from app.context import AppContext
from app.document_state import RUNNING
from app.document_view import Highlight
from app.explanations import explain_in_background
from app.layout import column, row
from app.palette import MENTION_COLOUR, label_colour
from app.panels.base import TaskPanel
from app.session import DocumentSession
from app.text_format import as_rich_text, percent, preview
from engine.errors import InputTooLongError

if TYPE_CHECKING:
    from engine.tasks.results import Classification, ClassifiedPart

LAYER = "classify"
ROW_HEIGHT = 26


def parse_labels(text: str) -> list[str]:
    """The labels typed in the box: comma-separated, blanks dropped, each once (first kept)."""
    return list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


def label_colours(labels: list[str]) -> dict[str, QColor]:
    """Each label's colour by its place in the label set as typed, so a label keeps its colour
    whatever its score."""
    return {label: label_colour(i, label) for i, label in enumerate(labels)}


def paragraphs_of(classification: Classification, label: str) -> list[ClassifiedPart]:
    """The paragraphs whose top label is `label`, in document order."""
    return sorted((p for p in classification.parts if p.label == label), key=lambda p: p.start)


def part_tooltip(part: ClassifiedPart) -> str:
    return "\n".join(f"{label}: {percent(score)}" for label, score in zip(part.labels,
                                                                             part.scores))


class ScoreBars(QWidget):
    """One row per label: its colour (the legend of the paragraph tints), its name, a bar of its
    score and the number. Click a row (or Up/Down and Enter) to choose a label."""

    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float, QColor, int]] = []  # label, score, colour, paragraphs
        self.selected: int | None = None
        # The fill the document view paints for a colour (the dark theme darkens marks): the
        # swatches are the legend of the paragraphs' tints, so they show what the text shows.
        self.mark_colour: Callable[[QColor], QColor | None] | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Scores of the labels")
        self.setAccessibleDescription("Click a label, or use the arrow keys and Enter, to go "
                                      "through its paragraphs")

    def set_rows(self, rows: list[tuple[str, float, QColor, int]]) -> None:
        self.rows = rows
        self.selected = None
        self.setFixedHeight(max(1, len(rows)) * ROW_HEIGHT + 4)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self.rows)) * ROW_HEIGHT + 4)

    def row_rect(self, index: int) -> QRectF:
        return QRectF(0, 2 + index * ROW_HEIGHT, self.width(), ROW_HEIGHT)

    def row_at(self, y: float) -> int | None:
        index = int((y - 2) // ROW_HEIGHT)
        return index if 0 <= index < len(self.rows) else None

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        track = QColor(text)
        track.setAlpha(28)
        bar_colour = pal.color(QPalette.ColorRole.Highlight)
        metrics = self.fontMetrics()
        name_width = min(int(self.width() * 0.38), 160)
        for i, (label, score, colour, _n) in enumerate(self.rows):
            r = self.row_rect(i)
            if i == self.selected:
                p.setPen(QPen(QColor(MENTION_COLOUR), 1.4))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4)
            swatch = QRectF(r.left() + 6, r.center().y() - 6, 12, 12)
            p.setPen(QPen(text, 0.6))
            p.setBrush((self.mark_colour(colour) if self.mark_colour else None) or colour)
            p.drawRoundedRect(swatch, 2, 2)
            p.setPen(text)
            name_rect = QRectF(swatch.right() + 6, r.top(), name_width, r.height())
            p.drawText(name_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       metrics.elidedText(label, Qt.TextElideMode.ElideRight, name_width))
            number = percent(score)
            number_width = metrics.horizontalAdvance("100%") + 8
            bar = QRectF(name_rect.right() + 6, r.center().y() - 5,
                         max(10.0, r.right() - name_rect.right() - 12 - number_width), 10)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(track)
            p.drawRoundedRect(bar, 3, 3)
            p.setBrush(bar_colour)
            p.drawRoundedRect(QRectF(bar.left(), bar.top(),
                                     bar.width() * max(0.0, min(score, 1.0)), bar.height()), 3, 3)
            p.setPen(text)
            p.drawText(QRectF(bar.right() + 4, r.top(), number_width, r.height()),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, number)

    def select(self, index: int) -> None:
        self.selected = index
        self.update()
        self.clicked.emit(index)

    def mousePressEvent(self, event) -> None:
        index = self.row_at(event.position().y())
        if event.button() == Qt.MouseButton.LeftButton and index is not None:
            self.select(index)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        index = self.row_at(event.position().y())
        if index is not None:
            label, score, _c, n = self.rows[index]
            where = f"top label of {n} paragraph{'s' if n != 1 else ''}" if n else \
                "top label of no paragraph"
            QToolTip.showText(event.globalPosition().toPoint(),
                              as_rich_text(f"{label}: {score:.4f} · {where}"), self)
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event) -> None:
        if not self.rows:
            return super().keyPressEvent(event)
        current = -1 if self.selected is None else self.selected
        if event.key() == Qt.Key.Key_Down:
            self.selected = min(current + 1, len(self.rows) - 1)
            self.update()
        elif event.key() == Qt.Key.Key_Up:
            self.selected = max(current - 1, 0)
            self.update()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.select(max(current, 0))
        else:
            super().keyPressEvent(event)


class ClassifyPanel(TaskPanel):
    task = "zero-shot-classification"
    title = "Classify"
    has_run_button = True

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.labels_box = QComboBox(self)
        self.labels_box.setEditable(True)
        self.labels_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.labels_box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.labels_box.setAccessibleName("Labels")
        self.labels_box.lineEdit().setPlaceholderText("Labels, e.g. invoice, contract, complaint")
        self.labels_box.setToolTip("Your own labels, separated by commas; label sets used "
                                   "before are in the list")
        self.labels_box.lineEdit().returnPressed.connect(self.start_current)
        self.run_button = QPushButton("Classify", self)
        self.run_button.setAccessibleName("Classify the document")
        self.run_button.clicked.connect(self.start_current)
        self.forget_button = QPushButton("Forget Set", self)
        self.forget_button.setAccessibleName("Forget this label set")
        self.forget_button.setToolTip("Remove the label set in the box from the saved ones")
        self.forget_button.clicked.connect(self.forget_label_set)
        self.multi_box = QCheckBox("Several labels can be true (multi-label)", self)
        self.multi_box.setAccessibleName("Multi-label")
        self.multi_box.setChecked(ctx.settings.multi_label)
        self.multi_box.toggled.connect(self._multi_toggled)
        self.heading = QLabel(self)
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.heading.setObjectName("panelHeading")
        self.heading.setAccessibleName("Top label")
        self.bars = ScoreBars(self)
        self.bars.clicked.connect(self._label_clicked)
        self.tint_box = QCheckBox("Tint paragraphs by their top label", self)
        self.tint_box.setAccessibleName("Tint paragraphs by their top label")
        self.tint_box.setChecked(ctx.settings.classify_tint)
        self.tint_box.toggled.connect(self._tint_toggled)
        self.paragraph_label = QLabel(self)
        self.paragraph_label.setWordWrap(True)
        self.paragraph_label.setTextFormat(Qt.TextFormat.PlainText)
        self.paragraph_label.setAccessibleName("Chosen paragraph")
        self.why_button = QPushButton("Why?", self)
        self.why_button.setAccessibleName("Why this label?")
        self.why_button.setToolTip("Tint the words of the chosen paragraph (or of the whole "
                                   "text) by how much they count for the chosen label")
        self.why_button.clicked.connect(self.explain_current)
        self.cursor: dict[str, int] = {}  # label -> index of the paragraph shown last
        self.shown_part: ClassifiedPart | None = None

        column(self, row((self.labels_box, 1), self.run_button), self.multi_box, self.notice,
               self.heading, self.bars, self.tint_box, self.paragraph_label,
               row(1, self.forget_button, self.why_button), 1)
        self._load_label_sets()
        self.refresh()

    # --- label sets ------------------------------------------------------------------------------
    def _load_label_sets(self) -> None:
        current = self.labels_box.currentText()
        self.labels_box.clear()
        self.labels_box.addItems(self.ctx.settings.label_sets)
        self.labels_box.setCurrentIndex(-1)
        self.labels_box.setEditText(current)

    def labels(self) -> list[str]:
        return parse_labels(self.labels_box.currentText())

    def forget_label_set(self) -> None:
        self.ctx.settings.remove_label_set(", ".join(self.labels()))
        self._load_label_sets()

    def _multi_toggled(self, on: bool) -> None:
        self.ctx.settings.multi_label = on

    # --- running ---------------------------------------------------------------------------------
    def start(self, session: DocumentSession) -> None:
        labels = self.labels()
        if not labels:
            self.notice.show_text("Type the labels to sort the text into, separated by commas "
                                  "(e.g. “invoice, contract, complaint”).")
            self.labels_box.setFocus()
            return
        self.ctx.settings.add_label_set(labels)
        self._load_label_sets()
        self.labels_box.setEditText(", ".join(labels))
        multi = self.multi_box.isChecked()
        document = session.document

        def call(pipe, progress, cancel):
            return pipe(document, labels, multi_label=multi, progress=progress, cancel=cancel)

        def result(classification: Classification) -> None:
            doc = session.document_state
            doc.classification = classification
            doc.classification_labels = labels
            if session is self.session:
                self.cursor.clear()
                self.shown_part = None
            apply_tint(session, self.tint_box.isChecked())

        self.run_task(session, call, result)

    def _tint_toggled(self, on: bool) -> None:
        self.ctx.settings.classify_tint = on
        if self.session is not None:
            apply_tint(self.session, on)

    # --- showing ---------------------------------------------------------------------------------
    def set_session(self, session: DocumentSession | None) -> None:
        if session is not self.session:
            self.cursor.clear()
            self.shown_part = None
        super().set_session(session)

    def refresh(self) -> None:
        session = self.session
        self.state_notice("Sort the text into labels of your own: type them and press Classify.",
                          "Classify", self.start_current)
        running = session is not None and session.state(self.task) == RUNNING
        self.run_button.setEnabled(session is not None and not running)
        self.labels_box.setEnabled(session is not None)
        classification = session.document_state.classification if session is not None \
            else None
        self.paragraph_label.setText("")
        if classification is None or not classification.labels:
            self.heading.setText("")
            self.bars.set_rows([])
            self.bars.hide()
            self.tint_box.setEnabled(False)
            self.why_button.setEnabled(False)
            return
        colours = label_colours(session.document_state.classification_labels
                                or list(classification.labels))
        counts = {label: len(paragraphs_of(classification, label))
                  for label in classification.labels}
        self.heading.setText(
            f"{classification.label} · {percent(classification.scores[0])}"
            + ("  (each label on its own)" if classification.multi_label else ""))
        self.bars.mark_colour = session.view.mark_colour
        self.bars.set_rows([(label, score, colours.get(label, label_colour(len(colours), label)),
                             counts[label])
                            for label, score in zip(classification.labels, classification.scores)])
        self.bars.show()
        self.tint_box.setEnabled(bool(classification.parts))
        self.why_button.setEnabled(not running)

    def selected_label(self) -> str | None:
        classification = self.session.document_state.classification if self.session else None
        if classification is None or not classification.labels:
            return None
        index = self.bars.selected
        return classification.labels[index if index is not None else 0]

    def _label_clicked(self, index: int) -> None:
        session = self.session
        if session is None or session.document_state.classification is None:
            return
        self.step_label(session.document_state.classification.labels[index])

    def step_label(self, label: str) -> ClassifiedPart | None:
        """Show the next paragraph whose top label is `label` (after the last, the first)."""
        session = self.session
        classification = session.document_state.classification if session else None
        if classification is None:
            return None
        if label in classification.labels and self.bars.selected != classification.labels.index(
                label):
            self.bars.selected = classification.labels.index(label)
            self.bars.update()
        parts = paragraphs_of(classification, label)
        if not parts:
            self.shown_part = None
            session.view.clear_layer("mention")
            self.paragraph_label.setText(f"No paragraph has “{label}” as its top label.")
            return None
        index = (self.cursor.get(label, -1) + 1) % len(parts)
        self.cursor[label] = index
        part = parts[index]
        self.shown_part = part
        session.view.set_layer("mention", [Highlight(part.start, part.end,
                                                     outline=MENTION_COLOUR)])
        session.view.scroll_to(part.start, part.end)
        self.paragraph_label.setText(
            f"“{label}”: paragraph {index + 1} of {len(parts)} — {preview(part.text, 160)}")
        return part

    # --- why? ------------------------------------------------------------------------------------
    def explain_current(self) -> None:
        session = self.session
        label = self.selected_label()
        if session is None or label is None:
            return
        classification = session.document_state.classification
        labels = list(classification.labels)
        multi = classification.multi_label
        part = self.shown_part
        document_text = session.document.text
        # The paragraph shown; else the whole text, and when that is over the model's window,
        # the label's first paragraph (the engine explains one window at most).
        first = next(iter(paragraphs_of(classification, label)), None)
        fallback = (first.start, first.end) if part is None and first is not None else None
        span = (part.start, part.end) if part is not None else (0, len(document_text))
        what = f"Why “{label}” in this paragraph" if part is not None else f"Why “{label}”"

        def read(pipe, progress, cancel, a: int, b: int) -> list:
            found = pipe.explain(document_text[a:b], labels, label, multi_label=multi,
                                 progress=progress, cancel=cancel)
            return [replace(x, start=x.start + a, end=x.end + a) for x in found]

        def call(pipe, progress, cancel):
            try:
                return read(pipe, progress, cancel, *span)
            except InputTooLongError:
                if fallback is None or fallback == span:
                    raise
            return read(pipe, progress, cancel, *fallback)

        explain_in_background(self.ctx, session, self.task, call, 0, what, label, unit="word")


def apply_tint(session: DocumentSession, on: bool) -> None:
    """Each paragraph filled with its top label's colour; its scores on hover."""
    doc = session.document_state
    classification = doc.classification
    if classification is not None:
        colours = label_colours(doc.classification_labels
                                or list(classification.labels))
        session.view.set_layer(LAYER, [
            Highlight(p.start, p.end, colours.get(p.label), tooltip=part_tooltip(p))
            for p in classification.parts if p.label])
    session.view.set_layer_visible(LAYER, on)
