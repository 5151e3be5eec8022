"""Issue 13: hostile DOCX, EPUB, HTML and Markdown files are refused or loaded within bounds.

The bombs are built here (a few KB to ~1 MB on disk); the ones that used to need gigabytes are
loaded in a child Python whose address space is capped at 1 GiB (`load_in_child`), so a
regression fails the test instead of taking the machine down.
"""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest

from engine.documents import Document, load_document
from engine.documents._archive import (
    Budget,
    MemberTooLargeError,
    UnsafeCompressionError,
    open_member,
    read_member,
)
from engine.documents.errors import FileTooLargeError, UnsupportedFormatError
from tests import document_factory as factory
from tests import loader_bombs as bombs

MB = 1 << 20


# --- 1. ZIP members compressed with bzip2 / LZMA -------------------------------------------------------
def test_bzip2_docx_bomb_is_refused_before_unpacking(tmp_path):
    # 3.6 KB of bzip2 that unpacks to 4.5 GB, declared as 1,000 bytes: no budget may trust that.
    path = bombs.docx_with_member(tmp_path / "bz.docx", bombs.bzip2_bomb(100), 12,
                                  declare=1000)
    assert path.stat().st_size < 8 * 1024
    outcome = bombs.load_in_child(path)
    assert outcome["type"] == "UnsupportedFormatError", outcome
    assert outcome["message"].startswith('"bz.docx" packs its part word/document.xml with '
                                         "bzip2 compression (ZIP method 12)")
    assert outcome["peak_rss"] < 200 * MB


def test_bzip2_epub_chapter_bomb_is_refused(tmp_path):
    path = bombs.epub_with_chapter(tmp_path / "bz.epub", bombs.bzip2_bomb(100), 12,
                                   declare=2000)
    outcome = bombs.load_in_child(path)
    assert outcome["type"] == "UnsupportedFormatError", outcome
    assert "OEBPS/c1.xhtml" in outcome["message"] and "bzip2" in outcome["message"]


def test_lzma_member_is_refused_even_when_small_and_honest(tmp_path):
    xml = bombs.DOCX_HEAD + b"<w:p><w:r><w:t>Hello</w:t></w:r></w:p>" + bombs.DOCX_TAIL
    path = bombs.docx_with_member(tmp_path / "lz.docx", bombs.zip_lzma(xml), 14,
                                  declare=len(xml), crc=zlib.crc32(xml))
    with zipfile.ZipFile(path) as z:  # a genuine LZMA member: zipfile itself would read it
        assert z.read("word/document.xml") == xml
    with pytest.raises(UnsupportedFormatError, match=r"LZMA compression \(ZIP method 14\)"):
        load_document(path)


def test_deflate_and_stored_members_still_load(tmp_path):
    path = factory.make_docx(tmp_path / "ok.docx")
    assert load_document(path).paragraph_texts() == factory.DOCX_EXPECTED


def _zip_of(method: int, name: str, data: bytes) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(name, data, compress_type=method)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


def test_bounded_member_reader_for_other_callers():
    # What engine/albert/torch_pickle.py can call for pytorch_model.bin archives.
    data = b"0123456789" * 1000
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert read_member(_zip_of(method, "archive/data.pkl", data), "archive/data.pkl",
                           10_000) == data
    for method, name in ((zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")):
        with pytest.raises(UnsafeCompressionError, match=name) as caught:
            open_member(_zip_of(method, "archive/data.pkl", data), "archive/data.pkl", 10**9)
        assert caught.value.member == "archive/data.pkl" and caught.value.method == method
    # A declared size over the budget is refused before reading...
    with pytest.raises(MemberTooLargeError):
        open_member(_zip_of(zipfile.ZIP_DEFLATED, "x", data), "x", 9_999)


def test_bounded_member_reader_shares_one_budget(tmp_path):
    data = b"x" * (2 * MB)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a", data)
        z.writestr("b", data)
    budget = Budget(3 * MB)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        assert read_member(z, "a", budget) == data
        assert budget.used == 2 * MB
        with pytest.raises(MemberTooLargeError) as caught:
            read_member(z, "b", budget)
    assert caught.value.member == "b" and caught.value.unpacked == 4 * MB


# --- 2. charsets that are not text encodings -------------------------------------------------------------
def test_meta_charset_zlib_does_not_inflate_the_page(tmp_path):
    # 1.3 MB on disk that zlib inflates to 1.3 GB: the charset is ignored, the page read as text.
    path = bombs.zlib_charset_html(tmp_path / "packed.html", 1_300_000_000)
    assert path.stat().st_size < 2 * MB
    outcome = bombs.load_in_child(path)
    assert outcome["type"] == "Document", outcome
    assert "Visible words of a page that names a compressor" in outcome["head"]
    assert outcome["peak_rss"] < 512 * MB


def test_epub_chapter_with_zlib_charset_is_read_as_text(tmp_path):
    chapter = bombs.zlib_charset_html(tmp_path / "c1.xhtml", 1_300_000_000).read_bytes()
    path = bombs.epub_with_chapter(tmp_path / "packed.epub", chapter, 0, declare=len(chapter),
                                   crc=zlib.crc32(chapter))
    outcome = bombs.load_in_child(path)
    assert outcome["type"] == "Document", outcome
    assert "Visible words of a page" in outcome["head"]


@pytest.mark.parametrize("label", ["zlib", "zlib_codec", "bz2", "base64", "hex", "rot13",
                                   "uu", "quopri", "punycode", "idna", "unicode_escape"])
def test_non_text_charsets_are_ignored(tmp_path, label):
    path = tmp_path / "page.html"
    path.write_bytes(f'<?xml version="1.0" encoding="{label}"?><html><head>'
                     f'<meta charset="{label}"></head><body><p>Caf\u00e9 au lait</p></body>'
                     "</html>".encode())
    doc = load_document(path)
    assert doc.paragraph_texts() == ["Caf\u00e9 au lait"]


def test_xml_declaration_zlib_is_ignored(tmp_path):
    path = tmp_path / "page.xhtml"
    path.write_bytes(b'<?xml version="1.0" encoding="zlib"?><html><body><p>Hello there</p>'
                     b"</body></html>")
    assert load_document(path).paragraph_texts() == ["Hello there"]


@pytest.mark.parametrize("label", ["zlib", "base64", "rot13", "punycode"])
def test_forcing_a_non_text_codec_is_a_value_error(tmp_path, label):
    path = tmp_path / "t.txt"
    path.write_bytes(b"eJzLSM3JyQcABiwCFQ==")
    with pytest.raises(ValueError, match="not a text encoding"):
        load_document(path, encoding=label)


# --- 3. Markdown nested deeper than the parser goes --------------------------------------------------------
def test_deeply_nested_markdown_keeps_every_line_and_warns(tmp_path):
    source = bombs.deep_markdown(list_depth=30, quote_depth=60)
    path = tmp_path / "deep.md"
    path.write_text(source, encoding="utf-8")
    doc = load_document(path)
    assert doc.text == source
    texts = doc.paragraph_texts()
    joined = "\n".join(texts)
    for i in range(30):
        assert f"item {i}\n" in joined + "\n"
    for i in range(60):
        assert f"quote {i}\n" in joined + "\n"
    assert texts[-1] == "The paragraph after them."
    assert texts[:3] == ["Deep", "item 0", "item 1"]
    warned = [w for w in doc.warnings if "nested too deeply" in w]
    assert warned and warned[0].startswith(f"{_skipped_lines(source)} line(s)")


def _skipped_lines(source: str) -> int:
    """Lines markdown-it itself produces no block for (independent of our loader)."""
    from markdown_it import MarkdownIt

    from engine.documents.markdown import MAX_NESTING

    tokens = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).parse(source)
    covered = set()
    for token in tokens:
        if token.type in ("paragraph_open", "heading_open") and token.map:
            covered.update(range(*token.map))
    return sum(1 for i, line in enumerate(source.split("\n"))
               if line.strip() and i not in covered)


def test_moderately_nested_markdown_has_no_warning(tmp_path):
    path = tmp_path / "ok.md"
    path.write_text(bombs.deep_markdown(list_depth=5, quote_depth=5), encoding="utf-8")
    doc = load_document(path)
    assert doc.warnings == []
    assert [k.kind for k in doc.kinds[1:6]] == ["list_item"] * 5
    assert [k.level for k in doc.kinds[1:6]] == [1, 2, 3, 4, 5]


# --- 4. EPUB: linear in entries x missing chapters ---------------------------------------------------------
def test_epub_missing_chapters_do_not_rescan_the_archive(tmp_path, monkeypatch):
    path = bombs.epub_with_missing_chapters(tmp_path / "holes.epub", missing=3000, filler=3000)
    calls = []
    real = zipfile.ZipFile.namelist

    def counting(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(zipfile.ZipFile, "namelist", counting)
    doc = load_document(path)
    assert doc.paragraph_texts()[-1] == "The only chapter that is there."
    assert "3000 chapter(s) listed in the book's reading order are missing" in doc.warnings
    assert len(calls) <= 4  # was one scan of all 6,000 names per missing chapter


def test_epub_case_insensitive_lookup_still_works(tmp_path):
    opf = bombs._OPF.format(title="Case", items='<item id="c" href="TEXT/ONE.XHTML" '
                            'media-type="application/xhtml+xml"/>', refs='<itemref idref="c"/>')
    path = factory.raw_zip(tmp_path / "case.epub", [
        factory.stored_entry("mimetype", b"application/epub+zip"),
        factory.stored_entry("META-INF/container.xml", factory._CONTAINER.encode()),
        factory.stored_entry("OEBPS/content.opf", opf.encode()),
        factory.stored_entry("OEBPS/text/one.xhtml", factory.chapter_xhtml(
            "One", ["First chapter text."]).encode()),
    ])
    doc = load_document(path)
    assert "First chapter text." in doc.paragraph_texts() and doc.warnings == []


# --- 5. millions of tiny paragraphs: within 1 GiB ----------------------------------------------------------
@pytest.mark.parametrize(("name", "make", "size"), [
    ("tiny.txt", bombs.tiny_paragraph_text, 48 * MB),    # 16.8M paragraphs: was 2.4 GB
    ("tiny.md", bombs.tiny_paragraph_markdown, 15 * MB),  # 5.2M: was 770 MB
])
def test_millions_of_tiny_paragraphs_load_within_1_gib(tmp_path, name, make, size):
    path = make(tmp_path / name, size)
    outcome = bombs.load_in_child(path, address_space=bombs.GiB)
    assert outcome["type"] == "Document", outcome
    assert outcome["paragraphs"] == size // 3
    assert outcome["chars"] == path.stat().st_size


def test_too_many_lines_of_text_are_cut_at_the_cap(tmp_path):
    # 25M one-letter lines (one paragraph each) in 48 MB: the old loader ran out of 3 GB.
    from engine.documents import MAX_TEXT_PARAGRAPHS

    path = bombs.tiny_line_text(tmp_path / "lines.txt", 48 * MB)
    outcome = bombs.load_in_child(path, address_space=bombs.GiB, truncate=True)
    assert outcome["type"] == "Document", outcome
    assert outcome["paragraphs"] == MAX_TEXT_PARAGRAPHS
    assert outcome["chars"] == 2 * MAX_TEXT_PARAGRAPHS - 1  # up to the last paragraph kept
    assert f"only the first {MAX_TEXT_PARAGRAPHS:,} paragraphs were loaded" in \
        outcome["warnings"]


def test_text_paragraph_cap_refuses_without_truncate(tmp_path, monkeypatch):
    from engine import documents

    monkeypatch.setattr(documents, "MAX_TEXT_PARAGRAPHS", 3)
    path = tmp_path / "four.txt"
    path.write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")
    with pytest.raises(FileTooLargeError, match=r'^"four.txt" holds more than 3 paragraphs'):
        load_document(path)
    doc = load_document(path, truncate=True)
    assert doc.text == "one\ntwo\nthree" and doc.paragraph_texts() == ["one", "two", "three"]
    md = tmp_path / "four.md"
    md.write_text("# one\n\ntwo\n\n- three\n\nfour\n", encoding="utf-8")
    doc = load_document(md, truncate=True)
    assert doc.paragraph_texts() == ["one", "two", "three"] and len(doc.kinds) == 3


@pytest.mark.parametrize(("name", "make", "count", "why"), [
    # Just past each cap: the work done before refusing is the cap's, whatever the file holds.
    ("tiny.docx", bombs.tiny_paragraph_docx, 1_100_000, "more than 1,000,000 paragraphs"),
    ("tiny.epub", bombs.tiny_element_epub, 1_100_000, "more than 1,000,000 paragraphs"),
    ("tiny.html", bombs.tiny_element_html, 9 * MB, "more than 1,000,000 paragraphs"),
    ("br.html", bombs.br_spam_html, 33 * MB, "more than 8,000,000 HTML elements"),
    ("empty.docx", bombs.empty_paragraph_docx, 2_100_000, "more than 2,000,000 paragraphs"),
    ("runs.docx", bombs.run_spam_docx, 2_100_000,
     "more than 2,000,000 XML elements in one paragraph or table"),
])
def test_millions_of_tiny_parts_are_refused_quickly(tmp_path, name, make, count, why):
    # These used to load, taking minutes of Python (6M DOCX paragraphs: 8 minutes), and
    # 40M empty runs in one DOCX paragraph would build a multi-gigabyte lxml tree.
    path = make(tmp_path / name, count)
    outcome = bombs.load_in_child(path, address_space=bombs.GiB)
    assert outcome["type"] == "FileTooLargeError", outcome
    assert outcome["message"].startswith(f'"{name}" holds {why}')


def test_the_paragraph_cap_truncates(tmp_path):
    from engine.documents import MAX_PARAGRAPHS

    path = bombs.tiny_paragraph_docx(tmp_path / "tiny.docx", MAX_PARAGRAPHS + 10)
    outcome = bombs.load_in_child(path, address_space=bombs.GiB, truncate=True)
    assert outcome["type"] == "Document", outcome
    assert outcome["paragraphs"] == MAX_PARAGRAPHS
    assert f"only the first {MAX_PARAGRAPHS:,} paragraphs were loaded" in outcome["warnings"]


def test_a_range_list_reads_like_a_list():
    from engine.documents import RangeList, TextRange

    ranges = [TextRange(0, 3), TextRange(5, 9)]
    packed = RangeList(ranges)
    assert packed == ranges and list(packed) == ranges and len(packed) == 2
    assert packed[1] == TextRange(5, 9) and packed[-1] == TextRange(5, 9)
    assert packed[1:] == [TextRange(5, 9)] and TextRange(0, 3) in packed
    doc = Document(text="abc  defg", title="t", paragraphs=packed)
    assert [doc.paragraph_of(i) for i in range(10)] == [0, 0, 0, None, None, 1, 1, 1, 1, None]
    import pickle

    assert pickle.loads(pickle.dumps(packed)) == packed
