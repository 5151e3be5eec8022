"""Offsets: the engine counts code points, Qt counts UTF-16 units; highlights must land exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtGui import QColor

from app.document_view import DocumentView, Highlight
from app.offset_map import OffsetMap
from app.palette import entity_colour, entity_type_name
from engine.documents import Document

ASTRAL_TEXT = "😀 𝔘 then Ada Lovelace 👩‍🔬 met 𝕮𝖍𝖆𝖗𝖑𝖊𝖘 Babbage in London.\n\nNext 🎉 Paris."


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def test_offset_map_identity_for_bmp_text():
    text = "Plain text, accents éàü, CJK 漢字 — all in the BMP."
    m = OffsetMap(text)
    assert m.identity
    assert [m.to_utf16(i) for i in range(len(text) + 1)] == list(range(len(text) + 1))


def test_offset_map_counts_surrogate_pairs():
    m = OffsetMap(ASTRAL_TEXT)
    for i in range(len(ASTRAL_TEXT) + 1):
        assert m.to_utf16(i) == utf16_len(ASTRAL_TEXT[:i])
        assert m.to_code_point(m.to_utf16(i)) == i


def test_offset_map_middle_of_a_pair_maps_to_its_character():
    m = OffsetMap("a😀b")
    assert m.to_code_point(2) == 1  # between the two halves of 😀
    assert m.to_code_point(3) == 2


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \n") + ["😀", "𝔘", "é", "漢", "\U0010ffff"]),
               max_size=60))
def test_offset_map_matches_utf16_encoding(text):
    m = OffsetMap(text)
    assert m.utf16_length == utf16_len(text)
    for i in range(len(text) + 1):
        u = m.to_utf16(i)
        assert u == utf16_len(text[:i])
        assert m.to_code_point(u) == i


def test_view_highlights_land_on_exact_characters_after_emoji(qtbot):
    doc = Document.from_text(ASTRAL_TEXT)
    view = DocumentView(doc)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    names = ["Ada Lovelace", "𝕮𝖍𝖆𝖗𝖑𝖊𝖘 Babbage", "London", "Paris"]
    spans = [(doc.text.index(n), doc.text.index(n) + len(n)) for n in names]
    view.set_layer("entities", [Highlight(a, b, "#ffd3a8", tooltip=f"t{a}") for a, b in spans])
    assert [(h.start, h.end) for _, h in view.highlights_between(0, len(doc.text))] == spans
    for a, b in spans:
        # Qt's own positions are UTF-16 units: check them against an independent count.
        cursor = view.cursor_for(a, b)
        assert cursor.selectionStart() == utf16_len(doc.text[:a])
        assert cursor.selectionEnd() == utf16_len(doc.text[:b])
        assert view.qt_text(a, b) == doc.text[a:b]
        # The painted mark starts where Qt puts the caret before the first character and
        # ends where it puts it after the last one.
        rects = view.span_rects(a, b)
        before = view.cursorRect(view.cursor_for(a, a))
        after = view.cursorRect(view.cursor_for(b, b))
        assert len(rects) == 1
        assert abs(rects[0].left() - before.left()) <= 1
        assert abs(rects[0].right() - after.left()) <= 1
        assert rects[0].top() <= before.center().y() <= rects[0].bottom()
    assert view.toPlainText() == doc.text
    # Hover text is found by code-point offset, also right after astral characters.
    a, b = spans[1]
    assert view.tooltip_at(a) == f"t{a}"
    assert view.tooltip_at(b - 1) == f"t{a}"
    assert view.tooltip_at(b) is None
    view.grab()  # paints the marks without error


def test_a_mark_over_a_line_break_covers_both_lines(qtbot):
    view = DocumentView(Document.from_text("first line\nsecond line"))
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    rects = view.span_rects(6, 17)
    assert len(rects) == 2 and rects[1].top() > rects[0].top()


def test_layers_toggle_and_stack(qtbot):
    view = DocumentView(Document.from_text("one two three four"))
    qtbot.addWidget(view)
    view.set_layer("summary", [Highlight(0, 7, "#fff1a8", tooltip="summary")])
    view.set_layer("entities", [Highlight(4, 7, "#b4d2ff", tooltip="entity")])
    assert [name for name, _ in view.highlights_at(5)] == ["entities", "summary"]
    assert view.tooltip_at(5) == "entity\nsummary"
    view.set_layer_visible("entities", False)
    assert [name for name, _ in view.highlights_between(0, 18)] == ["summary"]
    assert view.tooltip_at(5) == "summary"
    view.clear_layer("summary")
    assert view.highlights_between(0, 18) == []


def test_view_never_interprets_markup(qtbot):
    text = "<b>not bold</b> <script>alert(1)</script> &amp;"
    view = DocumentView(Document.from_text(text))
    qtbot.addWidget(view)
    assert view.toPlainText() == text


def test_zoom_changes_the_text_size(qtbot):
    view = DocumentView(Document.from_text("Zoom me."), font_size=12)
    qtbot.addWidget(view)
    assert view.point_size == 12
    view.zoom_in()
    view.zoom_in()
    assert view.point_size == 14
    view.zoom_out()
    assert view.point_size == 13
    view.reset_zoom()
    assert view.point_size == 12


def test_entity_types_have_names_and_stable_colours():
    from engine.tasks.results import Entity

    assert entity_type_name(Entity("I-LOC", 0, 5, "Paris", 0.9).type) == "Location"
    assert entity_colour(Entity("B-ORG", 0, 3, "IBM", 0.9).type) == entity_colour("ORG")
    assert entity_colour("WEIRD_TAG") == entity_colour("WEIRD_TAG")
    assert entity_colour("WEIRD_TAG") != entity_colour("OTHER_TAG")


def test_entity_marks_one_per_shown_mention_with_its_own_confidence():
    from app.panels.entities import entity_highlights
    from engine.tasks.results import Entity

    entities = [Entity("B-PER", 0, 3, "Ada", 0.91), Entity("LOC", 4, 10, "London", 0.5),
                Entity("I-PER", 11, 18, "Babbage", 0.333), Entity("LOC", 19, 24, "Paris", 0.77)]
    marks = entity_highlights(entities, hidden={"LOC"})
    assert [(m.start, m.end, m.data) for m in marks] == [(0, 3, entities[0]),
                                                         (11, 18, entities[2])]
    assert [m.tooltip for m in marks] == ["Person (PER) · confidence 91%",
                                          "Person (PER) · confidence 33%"]
    assert all(QColor(m.background) == entity_colour("PER") for m in marks)
    shown = entity_highlights(entities, hidden=set())
    assert [m.tooltip for m in shown][1::2] == ["Location (LOC) · confidence 50%",
                                               "Location (LOC) · confidence 77%"]
