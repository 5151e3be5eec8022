"""Markdown headings and list items look like headings and list items in the view, and the
view's text stays the document's text, offset for offset."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont, QTextFormat

from tests.app_support import fake_factory, make_window, open_document

MARKDOWN = (
    "# Marie Curie\n\n"
    "She was born in Warsaw 😀 and moved to Paris.\n\n"
    "## Prizes\n\n"
    "- Physics, 1903, shared with Pierre Curie and Henri Becquerel for their joint research "
    "on the radiation phenomena discovered by Henri Becquerel\n"
    "- Chemistry, 1911\n"
    "  - for radium\n\n"
    "The end.\n"
)


@pytest.fixture
def md_session(qtbot, tmp_path, home):
    w = make_window(qtbot, fake_factory(), size=(1100, 800))
    path = tmp_path / "curie.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    session = open_document(qtbot, w, path)
    if not getattr(session.document, "kinds", None):
        pytest.skip("this engine's Document has no paragraph kinds")
    return session


def _char_format(view, offset):
    cursor = view.cursor_for(offset, offset + 1)
    return cursor.charFormat()


def _block(view, offset):
    return view.document().findBlock(view.offsets.to_utf16(offset))


def test_view_text_and_offsets_are_unchanged(md_session):
    view, text = md_session.view, md_session.document.text
    assert text == MARKDOWN
    assert view.toPlainText() == text
    for word in ("Warsaw", "Paris", "Prizes", "Chemistry", "radium", "The end"):
        i = text.index(word)
        assert view.qt_text(i, i + len(word)) == word


def test_headings_are_bold_and_larger_by_level(md_session):
    view, text = md_session.view, md_session.document.text
    h1, h2 = _char_format(view, text.index("Marie")), _char_format(view, text.index("Prizes"))
    body = _char_format(view, text.index("Warsaw"))
    assert h1.fontWeight() == QFont.Weight.Bold and h2.fontWeight() == QFont.Weight.Bold
    assert body.fontWeight() != QFont.Weight.Bold
    size = QTextFormat.Property.FontSizeAdjustment
    assert h1.intProperty(size) > h2.intProperty(size) > body.intProperty(size) == 0
    # Laid out larger: the heading's line is taller than a body line.
    assert (_block(view, text.index("Marie")).layout().lineAt(0).height()
            > _block(view, text.index("Warsaw")).layout().lineAt(0).height())


def test_list_items_get_a_hanging_indent_by_depth(md_session):
    view, text = md_session.view, md_session.document.text
    plain = _block(view, text.index("Warsaw")).blockFormat()
    first = _block(view, text.index("Physics"))
    nested = _block(view, text.index("radium")).blockFormat()
    assert plain.leftMargin() == 0
    assert first.blockFormat().leftMargin() > 0
    assert nested.leftMargin() > first.blockFormat().leftMargin()
    assert first.blockFormat().textIndent() < 0  # the "- " hangs in the margin
    assert first.blockFormat().bottomMargin() == 0  # a list's items stay together
    # The long item wraps, and its second line starts where its words start, not under "-".
    layout = first.layout()
    assert layout.lineCount() > 1
    word_x = layout.lineAt(0).cursorToX(
        view.offsets.to_utf16(text.index("Physics")) - first.position())[0]
    assert abs(layout.lineAt(1).x() - word_x) < 2


def test_hanging_indent_follows_zoom(md_session):
    view, text = md_session.view, md_session.document.text
    view.set_zoom(8)
    first = _block(view, text.index("Physics"))
    layout = first.layout()
    word_x = layout.lineAt(0).cursorToX(
        view.offsets.to_utf16(text.index("Physics")) - first.position())[0]
    assert layout.lineCount() > 1
    assert abs(layout.lineAt(1).x() - word_x) < 2
