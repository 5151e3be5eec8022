"""The dark theme's marks keep the text readable: WCAG contrast of at least 4.5 between the
text colour and what is painted under it."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from app.palette import (
    ANSWER_COLOUR,
    ANSWER_CONTEXT_COLOUR,
    ENTITY_COLOURS,
    FIND_COLOUR,
    FIND_CURRENT_COLOUR,
    SUMMARY_COLOUR,
    contrast_ratio,
    entity_colour,
)
from tests.app_support import fake_factory, make_window, open_document, text_file

MARKS = [ANSWER_COLOUR, ANSWER_CONTEXT_COLOUR, SUMMARY_COLOUR, FIND_COLOUR, FIND_CURRENT_COLOUR,
         *ENTITY_COLOURS.values(), entity_colour("WORK_OF_ART").name()]


def wcag(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio, written out here from the definition."""
    def lum(c: QColor) -> float:
        def ch(v: int) -> float:
            s = v / 255
            return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.red()) + 0.7152 * ch(c.green()) + 0.0722 * ch(c.blue())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_formula_matches_known_pairs():
    assert wcag(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert wcag(QColor("#777777"), QColor("#ffffff")) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(QColor("#777777"), QColor("#ffffff")) == pytest.approx(
        wcag(QColor("#777777"), QColor("#ffffff")), abs=0.01)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_every_mark_keeps_the_text_readable(qtbot, tmp_path, themed, theme):
    themed(theme)
    w = make_window(qtbot, fake_factory())
    path = text_file(tmp_path)
    view = open_document(qtbot, w, path).view
    text = view.palette().color(QPalette.ColorRole.Text)
    base = view.palette().color(QPalette.ColorRole.Base)
    assert (base.lightness() < 128) == (theme == "dark")
    for colour in MARKS:
        fill = view.mark_colour(colour)
        assert fill.alpha() == 255, colour
        assert wcag(text, fill) >= 4.5, (theme, colour, fill.name())


def test_the_painted_answer_in_the_dark_theme_is_readable(qtbot, tmp_path, themed):
    themed("dark")
    w = make_window(qtbot, fake_factory())
    path = text_file(tmp_path)
    session = open_document(qtbot, w, path)
    w.show_panel(1)
    w.ask_panel.ask("Where was she born?")
    qtbot.waitUntil(lambda: session.view.highlights("answer") != [], timeout=10000)
    view = session.view
    answer = view.highlights("answer")[0]
    qtbot.wait(50)
    image = view.viewport().grab().toImage()
    rect = view.span_rects(answer.start, answer.end)[0]
    # Just inside the mark's top edge, above the glyphs (lines are 145% high).
    sample = image.pixelColor(int(rect.center().x()), int(rect.top()) + 3)
    text = view.palette().color(QPalette.ColorRole.Text)
    assert wcag(text, sample) >= 4.5, sample.name()
