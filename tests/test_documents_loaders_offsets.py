"""Issue 12: for plain text and Markdown, offsets into `Document.text` are offsets into the file.

Each test writes a file, decodes it independently (bytes.decode + "\\r\\n" -> "\\n") and checks
the document against that, never against numbers taken from the loader's own output.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.documents import (
    PLAIN,
    Document,
    EmptyDocumentError,
    ParagraphKind,
    TextRange,
    load_document,
)


def file_text(path, encoding="utf-8") -> str:
    return path.read_bytes().decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def spans_of(text: str, pieces: list[str]) -> list[TextRange]:
    """Where each piece first occurs, in order, searching on from the previous one."""
    out, pos = [], 0
    for piece in pieces:
        at = text.index(piece, pos)
        out.append(TextRange(at, at + len(piece)))
        pos = at + len(piece)
    return out


# --- plain text ---------------------------------------------------------------------------------------
TXT = ("  Title line  \r\n\r\n\r\nFirst paragraph,\r\nwrapped by hand.   \r\n \t \r\n"
       "\tSecond one, indented.\n\n\n\nLast line without newline")


def test_text_is_the_file_text_and_paragraphs_index_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(TXT.encode("utf-8"))
    doc = load_document(path)
    expected = file_text(path)
    assert doc.text == expected
    pieces = ["Title line", "First paragraph,\nwrapped by hand.", "Second one, indented.",
              "Last line without newline"]
    assert doc.paragraph_texts() == pieces
    assert list(doc.paragraphs) == spans_of(expected, pieces)
    assert doc.kinds == [] and doc.kind_of(0) == PLAIN


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_offsets_index_the_decoded_file_in_any_encoding(tmp_path, encoding):
    body = "Café au lait.\r\n\r\nDéjà vu, naïve.\r\n"
    path = tmp_path / "e.txt"
    path.write_bytes(body.encode(encoding))
    doc = load_document(path)
    expected = body.replace("\r\n", "\n")  # the decoded text, without its byte order mark
    assert doc.text == expected
    assert list(doc.paragraphs) == spans_of(expected, ["Café au lait.", "Déjà vu, naïve."])


def test_a_span_found_in_the_document_is_found_in_the_file(tmp_path):
    path = tmp_path / "find.txt"
    path.write_bytes(b"Intro.\r\n\r\n   Alice met Bob in Paris.   \r\n\r\nEnd.\r\n")
    doc = load_document(path)
    start = doc.text.index("Paris")
    assert file_text(path)[start:start + 5] == "Paris"
    assert doc.paragraph_of(start) == 1


def test_invisible_characters_are_kept_so_offsets_do_not_shift(tmp_path):
    path = tmp_path / "soft.txt"
    path.write_text("co\u00adop\u00adera\u00adtion\n\nnext word\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.text == "co\u00adop\u00adera\u00adtion\n\nnext word\n"
    assert doc.text[doc.paragraphs[1].start:doc.paragraphs[1].end] == "next word"


def test_lines_of_web_text_are_paragraphs_pointing_into_the_file(tmp_path):
    path = tmp_path / "web.txt"
    path.write_text("Heading\n  A first line.  \nA second line.\n", encoding="utf-8")
    doc = load_document(path)
    pieces = ["Heading", "A first line.", "A second line."]
    assert doc.paragraph_texts() == pieces
    assert list(doc.paragraphs) == spans_of(file_text(path), pieces)


def test_truncated_text_keeps_a_prefix_of_the_file(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("alpha beta\n\n" * 100, encoding="utf-8")
    doc = load_document(path, max_chars=30, truncate=True)
    assert doc.text == file_text(path)[:30]
    assert doc.paragraph_texts() == ["alpha beta", "alpha beta", "alpha"]
    assert any("first 30 characters" in w for w in doc.warnings)


def test_pasted_text_offsets_index_the_pasted_text():
    pasted = "One.\r\n\r\n  Two lines\r\nof text.  \r\n"
    doc = Document.from_text(pasted)
    assert doc.text == pasted.replace("\r\n", "\n")
    assert doc.paragraph_texts() == ["One.", "Two lines\nof text."]


def test_sentences_stay_inside_the_paragraph_ranges(tmp_path):
    from engine.tasks.sentences import split_sentences

    path = tmp_path / "s.txt"
    path.write_text("First one. Second one.\n\n\n   Third one here.  \n", encoding="utf-8")
    doc = load_document(path)
    ranges = [(p.start, p.end) for p in doc.paragraphs]
    sentences = split_sentences(doc.text, ranges)
    assert [doc.text[a:b] for a, b in sentences] == ["First one.", "Second one.",
                                                     "Third one here."]
    for a, b in sentences:
        assert any(p <= a and b <= q for p, q in ranges)


# --- Markdown ----------------------------------------------------------------------------------------------
MD = """---
title: The Title
---
# Main *heading* #

Intro paragraph with **bold**
and a [link](http://example.com).

## Second

- one
- two
  1. nested first
  2. nested second

> quoted text
> on two lines

| Name | Value |
|------|-------|
| a | 1 |

```
code line
```

Setext heading
--------------
"""


def test_markdown_text_is_the_file_and_blocks_point_into_it(tmp_path):
    path = tmp_path / "doc.md"
    path.write_bytes(MD.replace("\n", "\r\n").encode("utf-8"))
    doc = load_document(path)
    expected = file_text(path)
    assert doc.text == expected == MD
    pieces = ["Main *heading*", "Intro paragraph with **bold**\nand a [link](http://example.com).",
              "Second", "one", "two", "nested first", "nested second",
              "quoted text\n> on two lines", "Name | Value", "a | 1", "code line",
              "Setext heading"]
    assert doc.paragraph_texts() == pieces
    assert list(doc.paragraphs) == spans_of(expected, pieces)
    assert doc.title == "The Title"


def test_markdown_paragraph_kinds(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(MD, encoding="utf-8")
    doc = load_document(path)
    assert doc.kinds == [
        ParagraphKind("heading", 1), PLAIN, ParagraphKind("heading", 2),
        ParagraphKind("list_item", 1), ParagraphKind("list_item", 1),
        ParagraphKind("list_item", 2, ordered=True), ParagraphKind("list_item", 2, ordered=True),
        ParagraphKind("quote", 1), ParagraphKind("table_row"), ParagraphKind("table_row"),
        ParagraphKind("code"), ParagraphKind("heading", 2),
    ]
    assert [(level, doc.text[r.start:r.end]) for level, r in doc.headings()] == [
        (1, "Main *heading*"), (2, "Second"), (2, "Setext heading")]


def test_markdown_fallback_to_plain_text_still_indexes_the_file(tmp_path):
    path = tmp_path / "big.md"
    path.write_text("# Head\n\n" + "word " * 400 + "\n", encoding="utf-8")
    doc = load_document(path, max_markdown_bytes=1000)
    assert doc.text == file_text(path)
    assert doc.paragraph_texts() == ["# Head", ("word " * 400).strip()]
    assert doc.kinds == []


def test_other_formats_have_no_kinds_and_keep_joined_paragraphs(tmp_path):
    path = tmp_path / "p.html"
    path.write_text("<h1>Head</h1><p>Body text.</p>", encoding="utf-8")
    doc = load_document(path)
    assert doc.text == "Head\n\nBody text." and doc.kinds == [] and doc.headings() == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab #->*|1. \t"), max_size=30), max_size=40))
def test_every_letter_of_markdown_is_in_a_paragraph(tmp_path_factory, lines):
    source = "\n".join(lines)
    assume(source.strip())
    path = tmp_path_factory.mktemp("md") / "f.md"
    path.write_bytes(source.encode("utf-8"))
    try:
        doc = load_document(path)
    except EmptyDocumentError:
        assert "a" not in source and "b" not in source
        return
    assert doc.text == source
    covered = bytearray(len(source))
    previous_end = -1
    for r, kind in zip(doc.paragraphs, doc.kinds, strict=True):
        piece = doc.text[r.start:r.end]
        assert piece == piece.strip() and piece and r.start > previous_end
        assert "\n\n" not in piece and isinstance(kind, ParagraphKind)
        covered[r.start:r.end] = b"\x01" * len(piece)
        previous_end = r.end
    for i, c in enumerate(source):
        if c in "ab":
            assert covered[i], (source, i)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab #->*|1.`~[]():<>/!=_\\\t "), max_size=30),
                max_size=40))
def test_markdown_paragraphs_are_ordered_trimmed_ranges_of_the_file(tmp_path_factory, lines):
    source = "\n".join(lines)
    path = tmp_path_factory.mktemp("md") / "g.md"
    path.write_bytes(source.encode("utf-8"))
    try:
        doc = load_document(path)
    except EmptyDocumentError:
        return
    assert doc.text == source
    assert len(doc.kinds) == len(doc.paragraphs)
    previous_end = -1
    for r in doc.paragraphs:
        piece = doc.text[r.start:r.end]
        assert piece and piece == piece.strip() and "\n\n" not in piece
        assert r.start > previous_end
        previous_end = r.end
