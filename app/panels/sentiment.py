"""Sentiment: the document's label and confidence, a chart of sentiment sentence by sentence
(drawn with QPainter; click to jump there), and optional tinting of the sentences in the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QCheckBox,
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
from app.palette import MENTION_COLOUR, NEGATIVE_COLOUR, POSITIVE_COLOUR, sentiment_tint
from app.panels.base import TaskPanel
from app.session import DocumentSession
from app.text_format import as_rich_text, preview

if TYPE_CHECKING:
    from engine.tasks.results import Sentiment

SMOOTHING = 5


@dataclass(frozen=True)
class ChartPoint:
    x: float  # 0..1: where the sentence sits in the document
    value: float  # -1..1
    index: int  # into Sentiment.sentences


def chart_points(sentiment: Sentiment, text_length: int) -> list[ChartPoint]:
    length = max(1, text_length)
    return [ChartPoint((s.start + s.end) / 2 / length, s.polarity, i)
            for i, s in enumerate(sentiment.sentences)]


def smooth(values: list[float], window: int = SMOOTHING) -> list[float]:
    half = window // 2
    out = []
    for i in range(len(values)):
        part = values[max(0, i - half): i + half + 1]
        out.append(sum(part) / len(part))
    return out


class SentimentChart(QWidget):
    """Sentiment through the document: above the line positive, below negative."""

    sentence_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[ChartPoint] = []
        self.texts: list[str] = []
        self.selected: int | None = None
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Sentiment through the document")
        self.setAccessibleDescription("Sentence by sentence; click, or use the arrow keys and "
                                      "Enter, to go to a sentence")

    def set_data(self, points: list[ChartPoint], texts: list[str]) -> None:
        self.points = points
        self.texts = texts
        self.selected = None
        self.update()

    # --- geometry --------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(34, 10, -10, -22)

    def to_screen(self, x: float, value: float) -> QPointF:
        r = self.plot_rect()
        return QPointF(r.left() + x * r.width(), r.center().y() - value * r.height() / 2)

    def point_near(self, px: float) -> int | None:
        if not self.points:
            return None
        r = self.plot_rect()
        x = (px - r.left()) / max(1.0, r.width())
        return min(range(len(self.points)), key=lambda i: abs(self.points[i].x - x))

    # --- drawing ---------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        r = self.plot_rect()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        grid = QColor(pal.color(QPalette.ColorRole.Text))
        grid.setAlpha(60)
        p.setPen(QPen(grid, 1, Qt.PenStyle.DotLine))
        for v in (1, 0.5, -0.5, -1):
            y = self.to_screen(0, v).y()
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        text_colour = pal.color(QPalette.ColorRole.Text)
        p.setPen(text_colour)
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        p.drawText(QRectF(0, r.top() - 6, 30, 14), Qt.AlignmentFlag.AlignRight, "+")
        p.drawText(QRectF(0, r.center().y() - 7, 30, 14), Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(QRectF(0, r.bottom() - 8, 30, 14), Qt.AlignmentFlag.AlignRight, "−")
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 16),
                   Qt.AlignmentFlag.AlignLeft, "start")
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 16),
                   Qt.AlignmentFlag.AlignRight, "end of document")
        p.setPen(QPen(grid, 1))
        p.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.right(), r.center().y()))
        if not self.points:
            p.setPen(text_colour)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "No sentences to chart yet")
            return

        values = smooth([pt.value for pt in self.points]) if len(self.points) > 12 else [
            pt.value for pt in self.points]
        line = [self.to_screen(pt.x, v) for pt, v in zip(self.points, values)]
        zero = r.center().y()
        area = QPainterPath(QPointF(line[0].x(), zero))
        for q in line:
            area.lineTo(q)
        area.lineTo(QPointF(line[-1].x(), zero))
        area.closeSubpath()
        for colour, clip in ((POSITIVE_COLOUR, QRectF(r.left(), r.top() - 2, r.width(),
                                                        zero - r.top() + 2)),
                             (NEGATIVE_COLOUR, QRectF(r.left(), zero, r.width(),
                                                        r.bottom() - zero + 2))):
            fill = QColor(colour)
            fill.setAlpha(70)
            p.save()
            p.setClipRect(clip)
            p.fillPath(area, fill)
            p.restore()
        path = QPainterPath(line[0])
        for q in line[1:]:
            path.lineTo(q)
        p.setPen(QPen(text_colour, 1.6))
        p.drawPath(path)
        # The raw sentence values as dots, coloured by sign.
        radius = 3.0 if len(self.points) < 80 else 1.8
        for pt in self.points:
            q = self.to_screen(pt.x, pt.value)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(POSITIVE_COLOUR if pt.value >= 0 else NEGATIVE_COLOUR)
            p.drawEllipse(q, radius, radius)
        if self.selected is not None and self.selected < len(self.points):
            pt = self.points[self.selected]
            q = self.to_screen(pt.x, pt.value)
            p.setPen(QPen(QColor(MENTION_COLOUR), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawLine(QPointF(q.x(), r.top()), QPointF(q.x(), r.bottom()))
            p.drawEllipse(q, 5, 5)

    # --- interaction -----------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            index = self.point_near(event.position().x())
            if index is not None:
                self.select(index)
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        index = self.point_near(event.position().x())
        if index is not None and index < len(self.texts):
            value = self.points[index].value
            tip = f"Sentence {index + 1} · {value:+.2f}\n{preview(self.texts[index])}"
            QToolTip.showText(event.globalPosition().toPoint(), as_rich_text(tip), self)
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event) -> None:
        if not self.points:
            return super().keyPressEvent(event)
        current = -1 if self.selected is None else self.selected
        if event.key() in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.select(min(current + 1, len(self.points) - 1))
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.select(max(current - 1, 0))
        elif event.key() == Qt.Key.Key_Home:
            self.select(0)
        elif event.key() == Qt.Key.Key_End:
            self.select(len(self.points) - 1)
        else:
            super().keyPressEvent(event)

    def select(self, index: int) -> None:
        self.selected = index
        self.update()
        self.sentence_clicked.emit(self.points[index].index)


class SentimentPanel(TaskPanel):
    task = "sentiment"
    title = "Sentiment"
    has_run_button = True

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.label = QLabel(self)
        self.label.setObjectName("sentimentLabel")
        self.label.setAccessibleName("Document sentiment")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.scores = QLabel(self)
        self.scores.setTextFormat(Qt.TextFormat.PlainText)
        self.scores.setAccessibleName("Sentiment scores")
        self.scores.setWordWrap(True)
        self.run_button = QPushButton("Analyse", self)
        self.run_button.setAccessibleName("Analyse the sentiment")
        self.run_button.clicked.connect(self.start_current)
        self.chart = SentimentChart(self)
        self.chart.sentence_clicked.connect(self.jump_to_sentence)
        self.tint_box = QCheckBox("Tint sentences in the text", self)
        self.tint_box.setAccessibleName("Tint sentences by sentiment")
        self.tint_box.setChecked(ctx.settings.sentiment_tint)
        self.tint_box.toggled.connect(self._tint_toggled)
        self.sentence_label = QLabel(self)
        self.sentence_label.setWordWrap(True)
        self.sentence_label.setTextFormat(Qt.TextFormat.PlainText)
        self.sentence_label.setAccessibleName("Chosen sentence")
        self.why_button = QPushButton("Why?", self)
        self.why_button.setAccessibleName("Why this sentiment?")
        self.why_button.setToolTip("Tint the chosen sentence's words by how much they count "
                                   "for its label")
        self.why_button.clicked.connect(lambda _checked=False: self.explain_sentence())
        self.why_button.setEnabled(False)
        self.selected_sentence: int | None = None

        column(self, row((self.label, 1), self.run_button), self.scores, self.notice,
               (self.chart, 1), self.tint_box, row((self.sentence_label, 1), self.why_button))
        self.refresh()

    def start(self, session: DocumentSession) -> None:
        document = session.document

        def call(pipe, progress, cancel):
            return pipe(document, progress=progress, cancel=cancel)

        def result(sentiment: Sentiment) -> None:
            session.document_state.sentiment = sentiment
            apply_tint(session, self.tint_box.isChecked())

        self.run_task(session, call, result)

    def _tint_toggled(self, on: bool) -> None:
        self.ctx.settings.sentiment_tint = on
        if self.session is not None:
            apply_tint(self.session, on)

    def refresh(self) -> None:
        session = self.session
        self.state_notice("See how the tone moves through the document.", "Analyse",
                          self.start_current)
        running = session is not None and session.state(self.task) == RUNNING
        self.run_button.setEnabled(session is not None and not running)
        sentiment = session.document_state.sentiment if session is not None else None
        self.sentence_label.setText("")
        self.selected_sentence = None
        self.why_button.setEnabled(False)
        if sentiment is None:
            self.label.setText("")
            self.scores.setText("")
            self.chart.set_data([], [])
            self.chart.setVisible(session is not None and running)
            self.tint_box.setEnabled(False)
            return
        self.chart.setVisible(True)
        self.tint_box.setEnabled(bool(sentiment.sentences))
        value = sentiment.polarity
        colour = (POSITIVE_COLOUR if value > 0.1 else NEGATIVE_COLOUR if value < -0.1
                  else self.palette().color(QPalette.ColorRole.Text))
        self.label.setText(f"{sentiment.label.capitalize()} · {sentiment.score:.0%} confidence")
        self.label.setStyleSheet(f"color: {colour.name()}; font-size: 15pt; font-weight: 600;")
        ordered = sorted(sentiment.scores.items(), key=lambda kv: -kv[1])
        n = len(sentiment.sentences)
        self.scores.setText(" · ".join(f"{k}: {v:.0%}" for k, v in ordered)
                            + (f"  —  {n} sentences" if n else ""))
        self.chart.set_data(chart_points(sentiment, len(session.document.text)),
                            [s.text for s in sentiment.sentences])

    def jump_to_sentence(self, index: int) -> None:
        session = self.session
        if session is None or session.document_state.sentiment is None:
            return
        s = session.document_state.sentiment.sentences[index]
        session.view.set_layer("mention", [Highlight(s.start, s.end, outline=MENTION_COLOUR)])
        session.view.scroll_to(s.start, s.end)
        self.sentence_label.setText(
            f"Sentence {index + 1}: {s.label} ({s.score:.0%}) — {preview(s.text, 200)}")
        self.selected_sentence = index
        self.why_button.setEnabled(True)

    def explain_sentence(self, index: int | None = None) -> None:
        """"Why?" for a sentence (default: the one chosen in the chart): its words tinted by
        how much each counts for the sentence's label."""
        session = self.session
        index = self.selected_sentence if index is None else index
        if session is None or session.document_state.sentiment is None or index is None:
            return
        s = session.document_state.sentiment.sentences[index]
        text = session.document.text[s.start:s.end]

        def call(pipe, progress, cancel):
            return pipe.explain(text, s.label, progress=progress, cancel=cancel)

        explain_in_background(self.ctx, session, self.task, call, s.start,
                              f"Why is sentence {index + 1} “{s.label}”", s.label)


def apply_tint(session: DocumentSession, on: bool) -> None:
    sentiment = session.document_state.sentiment
    if sentiment is not None:
        session.view.set_layer("sentiment", [
            Highlight(s.start, s.end, sentiment_tint(s.polarity),
                      tooltip=f"Sentiment: {s.label} ({s.score:.0%})")
            for s in sentiment.sentences])
    session.view.set_layer_visible("sentiment", on)
