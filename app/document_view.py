"""The document as readable text, with layers of highlights driven by code-point offsets.

A layer is a named list of `Highlight`s (entities, summary, answer, find...). Layers are painted
under the text by the view itself, for the part of the text on screen only: marking never edits
the document, toggling a layer is cheap, thousands of entities cost nothing until they scroll
into view, and the text is only ever set as plain text (never interpreted as HTML).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPalette,
    QPen,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QFrame, QTextEdit, QToolTip, QWidget

from app.offset_map import OffsetMap
from app.palette import readable_tint
from app.text_format import as_rich_text

if TYPE_CHECKING:
    from engine.documents import Document

# Bottom to top: a later layer paints over an earlier one.
LAYERS = (
    "sentiment", "classify", "summary", "answer-context", "entities", "lookalikes",
    "explain-page", "explain", "answer", "find",
    "find-current", "mention",
)
READING_FONTS = ["Charter", "Georgia", "Source Serif 4", "Noto Serif", "DejaVu Serif", "serif"]
LINE_HEIGHT_PERCENT = 145
READING_WIDTH_CHARS = 92  # a comfortable line, in average characters
MIN_ZOOM, MAX_ZOOM = -6, 16
# Markdown structure in the view: relative font sizes (they follow zoom), the indent per level.
HEADING_SIZE = {1: 2, 2: 1}  # Qt: 1.5x and 1.2x; deeper: bold only
INDENT_PX = 22
MAX_STRUCTURED_PARAGRAPHS = 20_000  # beyond that the text stays plain: opening stays fast
TIGHT_KINDS = {"list_item", "table_row", "code"}  # consecutive lines of one list, table, block
SHORT_TOOLTIP_CHARS = 90  # a tooltip's lines up to this long are shown unwrapped
# A mark's background that is the page itself: it clears the marks under it (an explanation's
# translucent tints must not mix with a paragraph's or a sentence's fill).
PAGE = "page"


@dataclass(frozen=True)
class Highlight:
    """Marks `text[start:end]` (code points): a fill, an optional outline, a tooltip on hover."""

    start: int
    end: int
    background: QColor | str | None = None
    outline: QColor | str | None = None
    tooltip: str | None = None
    data: object = None


class DocumentView(QTextEdit):
    """Read-only text of one `Document`; every public offset is a Python code-point offset."""

    zoom_changed = Signal(int)

    def __init__(self, document: Document, font_size: int = 12,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document_model = document
        self.offsets = OffsetMap(document.text)
        self._base_size = font_size
        self.zoom_steps = 0
        self._layers: dict[str, list[Highlight]] = {}
        self._starts: dict[str, list[int]] = {}
        self._hidden: set[str] = set()
        self._longest: dict[str, int] = {}
        self._brushes: dict[tuple, QColor] = {}

        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setUndoRedoEnabled(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        # The reading column's side margins belong to this widget, not to the viewport: the
        # page colour there too, not the window's grey bands beside the text.
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        self.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        # Drops go to the main window, which opens the files.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setAccessibleName(f"Text of {document.title}")
        self.setAccessibleDescription("The document's text, with highlights from the analyses")
        self._load_text(document.text)

    def _load_text(self, text: str) -> None:
        doc = QTextDocument(self)
        doc.setUndoRedoEnabled(False)
        doc.setDocumentMargin(28)
        doc.setDefaultFont(self._font())
        cursor = QTextCursor(doc)
        block = QTextBlockFormat()
        block.setLineHeight(LINE_HEIGHT_PERCENT,
                            QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
        cursor.setBlockFormat(block)
        # insertText, unlike setHtml, takes the characters literally: "<b>" stays "<b>".
        cursor.insertText(text)
        self._space_paragraphs(doc)
        self._apply_structure(doc)
        self.setDocument(doc)
        self.moveCursor(QTextCursor.MoveOperation.Start)

    def _space_paragraphs(self, doc: QTextDocument) -> None:
        """A gap after a paragraph that ends at a single line break: one paragraph per line
        would otherwise read as one wall of text. Blank lines already make their own gap, and
        a hard-wrapped paragraph's line breaks are inside one paragraph, so neither gets one."""
        model = self.document_model
        text, paragraphs = model.text, model.paragraphs
        kind_of = getattr(model, "kind_of", None)
        gap = QTextBlockFormat()
        gap.setBottomMargin(round(QFontMetricsF(doc.defaultFont()).height() * 0.5))
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        previous = None
        for i, paragraph in enumerate(paragraphs):
            if i > MAX_STRUCTURED_PARAGRAPHS:
                break
            if previous is not None and text.count("\n", previous.end, paragraph.start) == 1 \
                    and not (kind_of and {kind_of(i - 1).kind, kind_of(i).kind} & TIGHT_KINDS):
                cursor.setPosition(self.offsets.to_utf16(previous.end))
                cursor.mergeBlockFormat(gap)
            previous = paragraph
        cursor.endEditBlock()

    def _apply_structure(self, doc: QTextDocument) -> None:
        """Headings bold and larger, list items and quotes indented, code in a fixed font, from
        the document's paragraph kinds (Markdown): formats over the existing characters only,
        so every offset still indexes the same text."""
        kinds = getattr(self.document_model, "kinds", None)
        if not kinds:
            return
        paragraphs = self.document_model.paragraphs
        marked = [(i, k) for i, k in enumerate(kinds) if k.kind != "paragraph"]
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        metrics = QFontMetricsF(doc.defaultFont())
        for i, kind in marked[:MAX_STRUCTURED_PARAGRAPHS]:
            if i >= len(paragraphs):
                break
            start, end = paragraphs[i].start, paragraphs[i].end
            a, b = self.offsets.to_utf16(start), self.offsets.to_utf16(end)
            first = doc.findBlock(a)
            if not first.isValid():
                continue
            marker = first.text()[:a - first.position()]
            # The whole lines the paragraph is on: its markup ("## ", "- ") is shown too.
            cursor.setPosition(first.position())
            last = doc.findBlock(max(a, b - 1))
            cursor.setPosition(last.position() + last.length() - 1, QTextCursor.MoveMode.KeepAnchor)
            chars, block = QTextCharFormat(), QTextBlockFormat()
            if kind.kind == "heading":
                chars.setFontWeight(QFont.Weight.Bold)
                chars.setProperty(QTextFormat.Property.FontSizeAdjustment,
                                  HEADING_SIZE.get(kind.level, 0))
                block.setTopMargin(10)
            elif kind.kind in ("list_item", "quote"):
                # A hanging indent: the bullet (or ">") in the margin, wrapped lines under the
                # item's first word.
                depth = max(1, kind.level)
                hang = metrics.horizontalAdvance(marker.lstrip()) if marker.strip() else 0.0
                block.setLeftMargin(INDENT_PX * depth + hang)
                block.setTextIndent(-metrics.horizontalAdvance(marker))
                if kind.kind == "quote":
                    chars.setFontItalic(True)
            elif kind.kind == "code":
                chars.setFontFamilies(["monospace"])
                chars.setFontFixedPitch(True)
                block.setLeftMargin(INDENT_PX)
            else:
                continue
            cursor.mergeBlockFormat(block)
            cursor.mergeCharFormat(chars)
            if marker.strip():
                dim = QTextCharFormat()
                dim.setForeground(QColor(128, 128, 128))
                cursor.setPosition(first.position())
                cursor.setPosition(a, QTextCursor.MoveMode.KeepAnchor)
                cursor.mergeCharFormat(dim)
        cursor.endEditBlock()

    # --- font and zoom ---------------------------------------------------------------------------
    def _font(self) -> QFont:
        font = QFont()
        font.setFamilies(READING_FONTS)
        font.setPointSizeF(max(6.0, self._base_size + self.zoom_steps))
        return font

    @property
    def point_size(self) -> float:
        return self.document().defaultFont().pointSizeF()

    def set_base_font_size(self, size: int) -> None:
        self._base_size = size
        self._apply_font()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom_steps + 1)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom_steps - 1)

    def reset_zoom(self) -> None:
        self.set_zoom(0)

    def set_zoom(self, steps: int) -> None:
        steps = min(max(steps, MIN_ZOOM), MAX_ZOOM)
        if steps != self.zoom_steps:
            self.zoom_steps = steps
            self._apply_font()
            self.zoom_changed.emit(steps)

    def _apply_font(self) -> None:
        first_visible = self.offset_at(QPoint(4, 4))
        self.document().setDefaultFont(self._font())
        # Hanging indents and paragraph gaps follow the font's size.
        self._space_paragraphs(self.document())
        self._apply_structure(self.document())
        self._update_reading_column()
        self.scroll_to(first_visible, first_visible, where=0.0)

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoom_in() if delta > 0 else self.zoom_out()
            event.accept()
            return
        super().wheelEvent(event)

    # --- reading column --------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_reading_column()

    def _update_reading_column(self) -> None:
        scrollbar = self.verticalScrollBar().sizeHint().width()
        available = self.width() - scrollbar
        wanted = int(self.fontMetrics().averageCharWidth() * READING_WIDTH_CHARS
                     * self.point_size / max(1.0, self.font().pointSizeF()))
        side = max(0, (available - wanted - 56) // 2)
        if self.viewportMargins().left() != side:
            self.setViewportMargins(side, 0, side, 0)
            # QTextEdit wraps to the viewport's width only in its own resizeEvent, which has
            # already run with the old margins: a tab opened beside others would keep lines as
            # wide as the whole view (cut off, with a horizontal scrollbar) until its next resize.
            # Setting the wrap width (unused in WidgetWidth mode) is Qt's public way to re-wrap.
            self.setLineWrapColumnOrWidth(self.lineWrapColumnOrWidth())

    # --- offsets ---------------------------------------------------------------------------------
    def cursor_for(self, start: int, end: int) -> QTextCursor:
        """A cursor selecting code points `start:end` of the document text."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(self.offsets.to_utf16(start))
        cursor.setPosition(self.offsets.to_utf16(end), QTextCursor.MoveMode.KeepAnchor)
        return cursor

    def qt_text(self, start: int, end: int) -> str:
        """What Qt itself shows at code points `start:end` (to check offsets against)."""
        return self.cursor_for(start, end).selectedText().replace("\u2029", "\n")

    def offset_at(self, point: QPoint) -> int:
        """Code-point offset nearest to a point in viewport coordinates."""
        return self.offsets.to_code_point(self.cursorForPosition(point).position())

    def char_at(self, point: QPoint) -> int | None:
        """Code-point offset of the character under a viewport point, None off the text."""
        cursor = self.cursorForPosition(point)
        rect = self.cursorRect(cursor)
        if not (rect.top() - 2 <= point.y() <= rect.bottom() + 2):
            return None
        position = cursor.position()
        if point.x() < rect.x():
            position -= 1
        offset = self.offsets.to_code_point(max(position, 0))
        return offset if offset < self.offsets.length else None

    def scroll_to(self, start: int, end: int | None = None, where: float = 0.33) -> None:
        """Bring `start` into view, `where` of the way down the viewport, and move the caret."""
        cursor = self.cursor_for(start, start)
        self.setTextCursor(cursor)
        rect = self.cursorRect(cursor)
        bar = self.verticalScrollBar()
        target = bar.value() + rect.top() - int(self.viewport().height() * where)
        bar.setValue(max(bar.minimum(), min(bar.maximum(), target)))

    # --- layers ----------------------------------------------------------------------------------
    def set_layer(self, name: str, highlights: list[Highlight]) -> None:
        if name not in LAYERS:
            raise ValueError(f"unknown layer {name!r}")
        # attrgetter keeps the sort in C: results arrive by the thousand on the UI thread.
        ordered = sorted((h for h in highlights if h.end > h.start),
                         key=attrgetter("start", "end"))
        self._layers[name] = ordered
        self._starts[name] = [h.start for h in ordered]
        self._longest[name] = max((h.end - h.start for h in ordered), default=0)
        self.viewport().update()

    def clear_layer(self, name: str) -> None:
        if name in self._layers:
            del self._layers[name], self._starts[name], self._longest[name]
            self.viewport().update()

    def set_layer_visible(self, name: str, visible: bool) -> None:
        if visible != self.layer_visible(name):
            (self._hidden.discard if visible else self._hidden.add)(name)
            self.viewport().update()

    def layer_visible(self, name: str) -> bool:
        return name not in self._hidden

    def highlights(self, name: str) -> list[Highlight]:
        return list(self._layers.get(name, []))

    def highlights_between(self, low: int, high: int) -> list[tuple[str, Highlight]]:
        """Visible highlights touching code points low..high, bottom layer first."""
        found = []
        for name in LAYERS:
            if name in self._hidden or name not in self._layers:
                continue
            items, starts = self._layers[name], self._starts[name]
            first = bisect.bisect_left(starts, low - self._longest[name])
            last = bisect.bisect_right(starts, high)
            found.extend((name, h) for h in items[first:last] if h.end > low)
        return found

    def span_rects(self, start: int, end: int) -> list[QRectF]:
        """Viewport rectangles covering code points start:end, one per line they run over."""
        a, b = self.offsets.to_utf16(start), self.offsets.to_utf16(end)
        doc = self.document()
        layout = doc.documentLayout()
        dx = -self.horizontalScrollBar().value()
        dy = -self.verticalScrollBar().value()
        rects = []
        block = doc.findBlock(a)
        while block.isValid() and block.position() < b:
            lines = block.layout()
            origin = layout.blockBoundingRect(block).topLeft()
            base = block.position()
            lo, hi = max(a, base) - base, min(b, base + block.length() - 1) - base
            for i in range(lines.lineCount()):
                line = lines.lineAt(i)
                first, stop = line.textStart(), line.textStart() + line.textLength()
                if stop <= lo or first >= hi:
                    continue
                x1 = line.cursorToX(max(lo, first))[0]
                x2 = line.cursorToX(min(hi, stop))[0]
                rects.append(QRectF(origin.x() + x1 + dx, origin.y() + line.y() + dy,
                                    x2 - x1, line.height()))
            block = block.next()
        return rects

    def paintEvent(self, event) -> None:
        if self._layers:
            area = event.rect()
            low = self.offset_at(area.topLeft())
            high = self.offset_at(area.bottomRight())
            visible = self.highlights_between(max(0, low - 1), high + 1)
            if visible:
                painter = QPainter(self.viewport())
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                palette = self.palette()
                base = palette.color(QPalette.ColorRole.Base)
                dark = base.lightness() < 128
                text = palette.color(QPalette.ColorRole.Text)
                for _name, h in visible:
                    fill = base if h.background == PAGE else self._brush(h.background, dark,
                                                                          base, text)
                    pen = QPen(QColor(h.outline), 1.6) if h.outline is not None else None
                    painter.setPen(pen if pen is not None else Qt.PenStyle.NoPen)
                    painter.setBrush(fill if fill is not None else Qt.BrushStyle.NoBrush)
                    for rect in self.span_rects(h.start, h.end):
                        painter.drawRoundedRect(rect.adjusted(-1, 0, 1, 0), 2.5, 2.5)
                painter.end()
        # The text goes on top of the marks.
        super().paintEvent(event)

    def _brush(self, colour, dark: bool, base: QColor | None = None,
               text: QColor | None = None) -> QColor | None:
        if colour is None:
            return None
        key = (QColor(colour).rgba(), dark, base.rgba() if base is not None else 0,
               text.rgba() if text is not None else 0)
        brush = self._brushes.get(key)
        if brush is None:
            brush = QColor(colour)
            if dark and brush.alpha() == 255:
                # Light marker colours under the dark theme's light text: a darker mark of the
                # same hue that keeps the text readable (WCAG AA).
                brush = readable_tint(brush, base if base is not None else QColor("#1c1d20"),
                                      text if text is not None else QColor("#e6e6e6"))
            self._brushes[key] = brush
        return brush

    def mark_colour(self, colour) -> QColor | None:
        """The fill this view paints for a mark of `colour`, in the current palette."""
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        return self._brush(colour, base.lightness() < 128, base,
                           palette.color(QPalette.ColorRole.Text))

    def highlights_at(self, offset: int) -> list[tuple[str, Highlight]]:
        """Visible highlights covering character `offset`, topmost first."""
        hits = self.highlights_between(offset, offset)
        return [(n, h) for n, h in reversed(hits) if h.start <= offset < h.end]

    def tooltip_at(self, offset: int) -> str | None:
        tips = [h.tooltip for _, h in self.highlights_at(offset) if h.tooltip]
        return "\n".join(dict.fromkeys(tips)) or None

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            offset = self.char_at(event.pos())
            tip = self.tooltip_at(offset) if offset is not None else None
            if tip:
                short = max(map(len, tip.split("\n"))) <= SHORT_TOOLTIP_CHARS
                QToolTip.showText(event.globalPos(), as_rich_text(tip, wrap=not short),
                                  self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

