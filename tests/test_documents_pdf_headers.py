"""Running headers and footers may go; the body may not.

Removal looks only at the outermost lines of a page, never takes a page's whole text or most of
the document, and says in `Document.warnings` how many lines it dropped.
"""

from __future__ import annotations

import pytest

from engine.documents import load_document
from tests import document_factory as factory
from tests.test_documents_pdf_hostile import raw_pdf, stream

BODY = ["The same words are printed on every page of this document,",
        "line after line, and only the number at the foot changes."]


def _page(lines: list[tuple[int, int, str]]) -> bytes:
    """A page content stream: (baseline y, font size, text) per line, at x = 72 pt."""
    ops = [b"BT /F1 %d Tf 72 %d Td (%s) Tj ET" % (size, y, text.encode("latin-1"))
           for y, size, text in lines]
    return stream(b"\n".join(ops))


def _write(tmp_path, name: str, pages: list[bytes]):
    path = tmp_path / name
    path.write_bytes(raw_pdf(pages, pages=len(pages)))
    return path


def _body_lines(top: int = 740) -> list[tuple[int, int, str]]:
    return [(top - 14 * i, 11, text) for i, text in enumerate(BODY)]


def test_same_body_on_every_page_with_page_numbers_keeps_the_body(tmp_path):
    # Issue 12: every line but the page number repeats on all 12 pages, all in one font size.
    pages = [_page([*_body_lines(), (40, 11, str(n))]) for n in range(1, 13)]
    doc = load_document(_write(tmp_path, "form.pdf", pages))
    body = " ".join(BODY)
    assert [doc.page_text(n) for n in range(1, 13)] == [body] * 12
    assert doc.warnings == ["Dropped 12 repeated header/footer lines on 12 pages."]


def test_same_single_line_on_every_page_is_kept(tmp_path):
    pages = [_page([(740, 11, BODY[0])]) for _ in range(12)]
    doc = load_document(_write(tmp_path, "one.pdf", pages))
    assert [doc.page_text(n) for n in range(1, 13)] == [BODY[0]] * 12
    assert doc.warnings == []


def test_a_page_with_only_its_number_and_a_repeated_line_keeps_the_line(tmp_path):
    # The page's whole text would go: only its page number (the outermost, changing line) does.
    pages = [_page([(740, 11, BODY[0]), (40, 11, f"Page {n}")]) for n in range(1, 13)]
    doc = load_document(_write(tmp_path, "short.pdf", pages))
    assert [doc.page_text(n) for n in range(1, 13)] == [BODY[0]] * 12
    assert doc.warnings == ["Dropped 12 repeated header/footer lines on 12 pages."]


def test_repeated_lines_that_are_most_of_the_document_stay(tmp_path):
    # A long repeated line at the top and at the bottom, one short line between that changes:
    # those lines are the document, not its header and footer.
    top, bottom = ("A long repeated line of text at the top of every page, set apart.",
                   "And another long repeated line of text at the bottom of every page.")
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    pages = [_page([(740, 11, top), (400, 11, word), (60, 11, bottom)]) for word in words]
    doc = load_document(_write(tmp_path, "most.pdf", pages))
    for n, word in enumerate(words, start=1):
        assert doc.page_text(n).split("\n\n") == [top, word, bottom]
    assert doc.warnings == []


def test_fpdf_report_with_the_same_body_on_every_page(tmp_path):
    paragraphs = [("This paragraph is the same on each of the twelve pages; it is long enough to "
                   "wrap over a few lines of the page, like any body text."),
                  "A second paragraph, also the same everywhere."]
    path = factory.make_pdf(tmp_path / "same.pdf", [paragraphs] * 12, header=None)
    doc = load_document(path)
    assert [doc.page_text(n) for n in range(1, 13)] == ["\n\n".join(paragraphs)] * 12
    assert "Page 3 of 12" not in doc.text
    assert doc.warnings == ["Dropped 12 repeated header/footer lines on 12 pages."]


@pytest.mark.parametrize("count", [3, 7])
def test_real_running_header_and_footer_are_dropped_and_counted(tmp_path, count):
    pages = [[(f"Chapter {n} tells its own story, which is not like any other page's story, "
               "and it goes on for a while so that it wraps.")] for n in range(1, count + 1)]
    path = factory.make_pdf(tmp_path / "report.pdf", pages)
    doc = load_document(path)
    assert factory.HEADER not in doc.text and f"Page 2 of {count}" not in doc.text
    assert [doc.page_text(n) for n in range(1, count + 1)] == [p[0] for p in pages]
    assert doc.warnings == [f"Dropped {2 * count} repeated header/footer lines on {count} pages."]


def test_header_on_a_page_with_nothing_else_stays(tmp_path):
    pages = [[f"Section {n} has text of its own on this page."] for n in range(1, 5)] + [[]]
    path = factory.make_pdf(tmp_path / "blank-last.pdf", pages)
    doc = load_document(path)
    assert doc.page_text(5) == factory.HEADER  # its page number went, not all of its text
    assert doc.warnings == ["Dropped 9 repeated header/footer lines on 5 pages."]


def test_a_two_line_running_header_goes_as_one_block(tmp_path):
    stories = [f"Page {n} tells of the {place}, at a length that makes it the body of the page."
               for n, place in enumerate(["harbour", "hills", "river", "town", "sea"], start=1)]
    pages = [_page([(770, 9, "ACME Corporation"), (759, 9, "Annual Report 2024"),
                    (720, 11, story), (40, 9, f"- {n} -")])
             for n, story in enumerate(stories, start=1)]
    doc = load_document(_write(tmp_path, "two.pdf", pages))
    assert [doc.page_text(n) for n in range(1, 6)] == stories
    assert doc.warnings == ["Dropped 15 repeated header/footer lines on 5 pages."]
