"""engine.load_document on real files of every format, made here by the libraries that write them."""

from __future__ import annotations

import codecs
import re
import zipfile

import pytest

import engine
from engine.documents import Document, TextRange, load_document
from engine.documents.errors import ArchiveBombError, EncryptedDocumentError, FileTooLargeError
from tests import document_factory as factory


def check_invariants(doc: Document) -> list[str]:
    """The contract every Document keeps; returns the paragraph texts."""
    texts = doc.paragraph_texts()
    assert texts, "a loaded document has paragraphs"
    own_text = doc.format in ("text", "markdown")  # the file's text, not paragraphs re-joined
    if not own_text:
        assert doc.text == "\n\n".join(texts)
    previous_end = -2
    for r, text in zip(doc.paragraphs, texts):
        assert isinstance(r, TextRange)
        if own_text:
            assert r.start > previous_end
        else:
            assert r.start == previous_end + 2
        assert text == text.strip() and text
        assert "\n\n" not in text and "\r" not in text
        previous_end = r.end
    if not own_text:
        assert doc.paragraphs[-1].end == len(doc.text)
    for i, r in enumerate(doc.paragraphs):
        assert doc.paragraph_of(r.start) == i
        assert doc.paragraph_of(r.end - 1) == i
    if doc.pages:
        starts = [p.start for p in doc.pages]
        assert starts == sorted(starts)
        for page in doc.pages:
            assert 0 <= page.start <= page.end <= len(doc.text)
    return texts


# --- plain text -------------------------------------------------------------------------------------
def test_text_paragraphs_and_line_endings(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"First paragraph,\r\nwrapped by hand.\r\n\r\n\r\n  Second one.  \r\rThird\n")
    doc = load_document(path)
    assert check_invariants(doc) == ["First paragraph,\nwrapped by hand.", "Second one.", "Third"]
    assert doc.text == "First paragraph,\nwrapped by hand.\n\n\n  Second one.  \n\nThird\n"
    assert doc.format == "text" and doc.title == "notes" and doc.pages == []
    assert doc.path == path and doc.warnings == []
    assert doc.page_of(0) is None


def test_text_without_blank_lines_is_one_paragraph_per_line(tmp_path):
    path = tmp_path / "web.txt"
    path.write_text("Heading\nA first long line.\nA second line.\n", encoding="utf-8")
    assert check_invariants(load_document(path)) == ["Heading", "A first long line.",
                                                      "A second line."]


def test_text_blocks_of_unwrapped_lines_split_per_line(tmp_path):
    long_a, long_b = "a" * 150, "b " * 80
    path = tmp_path / "mixed.txt"
    path.write_text(f"Title\n\n{long_a}\n{long_b}\n\nshort\nlines\n", encoding="utf-8")
    assert check_invariants(load_document(path)) == ["Title", long_a, long_b.strip(),
                                                      "short\nlines"]


@pytest.mark.parametrize("source", factory.sample_paths(), ids=lambda p: p.name)
def test_real_samples_load_exactly(tmp_path, source):
    sample = source.read_text(encoding="utf-8")
    if re.search(r"\n[^\S\n]*\n", sample):
        pytest.skip(f"{source.name} has blank lines: its paragraphs are blocks, not lines")
    path = tmp_path / "sample.txt"
    path.write_text(sample, encoding="utf-8")
    doc = load_document(path)
    texts = check_invariants(doc)
    expected = [line.strip() for line in sample.split("\n") if line.strip()]
    assert texts == expected  # no blank lines in the samples: one paragraph per line
    assert doc.warnings == []


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "utf-32", "utf-32-be"])
def test_real_samples_in_unicode_encodings_round_trip(tmp_path, encoding):
    samples = factory.sample_texts()
    if not samples:
        pytest.skip("shared samples not available")
    for i, sample in enumerate(samples):
        reference = tmp_path / f"ref{i}.txt"
        reference.write_text(sample, encoding="utf-8")
        path = tmp_path / f"s{i}.txt"
        path.write_bytes(sample.encode(encoding))
        assert load_document(path).text == load_document(reference).text


def test_look_alike_sample_is_not_folded_into_a_legacy_code_page(tmp_path):
    for i, source in enumerate(factory.pick_samples("with look-alike letters",
                                                    factory.lookalike_words)):
        sample = source.read_text(encoding="utf-8")
        words = factory.lookalike_words(sample)  # e.g. "Intгoduction", with a Cyrillic г
        with pytest.raises(UnicodeEncodeError):
            sample.encode("cp1252")  # the look-alikes do not exist in cp1252...
        path = tmp_path / f"s{i}.txt"
        path.write_bytes(sample.encode("utf-8"))
        doc = load_document(path)  # ...so their UTF-8 bytes must stay UTF-8, letter for letter
        assert doc.warnings == [], source.name
        assert [w for w in words if w not in doc.text] == [], source.name


LEGACY = [
    ("cp1252", "Le café coûte 5 € — «déjà vu», naïve. Où est la bibliothèque? Très bien."),
    ("latin-1", "Grüße aus München: schöne Größe, süße Äpfel."),
    ("cp1252", "El niño comió el pan. ¿Dónde está la estación? Mañana será otro día."),
    ("cp1250", "Zażółć gęślą jaźń. Łódź jest pięknym miastem w Polsce."),
    ("cp1251", "Привет, мир! Это тестовый текст на русском языке."),
    ("koi8-r", "Привет, мир! Это тестовый текст на русском языке."),
    ("cp1253", "Καλημέρα κόσμε, αυτό είναι ένα ελληνικό κείμενο."),
    ("shift_jis", "日本語のテキストです。これはテストの文章で、文字コードを判定します。"),
    ("euc_jp", "日本語のテキストです。これはテストの文章で、文字コードを判定します。"),
    ("gb18030", "这是一个中文文本的例子，用于测试编码检测。我们希望它能正确识别。"),
    ("big5", "這是一個中文文本的例子，用於測試編碼檢測。我們希望它能正確識別。"),
    ("euc-kr", "안녕하세요 이것은 한국어 테스트 문장입니다. 인코딩을 확인합니다."),
]


@pytest.mark.parametrize(("encoding", "text"), LEGACY, ids=[e for e, _ in LEGACY])
def test_legacy_encodings_are_detected(tmp_path, encoding, text):
    path = tmp_path / "legacy.txt"
    path.write_bytes((text + "\r\n\r\n" + text).encode(encoding))
    doc = load_document(path)
    assert check_invariants(doc) == [text, text]
    assert any("encoding guessed" in w for w in doc.warnings)


def test_forced_encoding(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("Türkçe: ğüşıöç İstanbul".encode("cp1254"))
    doc = load_document(path, encoding="cp1254")
    assert doc.text == "Türkçe: ğüşıöç İstanbul" and doc.warnings == []
    with pytest.raises(ValueError):
        load_document(path, encoding="no-such-codec")


def test_utf16_without_bom_is_detected(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_bytes("Plain text in UTF-16, no BOM.\nSecond line.".encode("utf-16-le"))
    doc = load_document(path)
    assert doc.paragraph_texts() == ["Plain text in UTF-16, no BOM.", "Second line."]
    assert any("utf-16-le" in w for w in doc.warnings)


def test_from_text_for_pasted_text():
    doc = Document.from_text("A pasted title line\r\n\r\nBody text here.\u00ad")
    assert doc.paragraph_texts() == ["A pasted title line", "Body text here.\u00ad"]
    assert doc.title == "A pasted title line" and doc.path is None and doc.format == "text"
    assert Document.from_text("x" * 200).title.endswith("…")
    assert Document.from_text("   \n").paragraphs == []
    assert Document.from_text("Hi", title="Mine").title == "Mine"


# --- Markdown ---------------------------------------------------------------------------------------
MARKDOWN = """---
title: "Front Matter Title"
author: someone
---
# The *Main* Heading

Some **bold** text with a [link](https://example.com) and `inline code`,
continued on a soft-wrapped line.  ![a picture](pic.png)

## Second heading

- first item
- second *item*

1. one
2. two

> A quoted paragraph.

| Name | Value |
|------|-------|
| alpha | 1 |

```python
print("code")
```

<div class="note">Raw <b>HTML</b> block<script>alert(1)</script></div>

Final &amp; last paragraph.
"""
# Document.text is the file's text: paragraphs are ranges into it, markup inside them kept.
MARKDOWN_EXPECTED = [
    "The *Main* Heading",
    ("Some **bold** text with a [link](https://example.com) and `inline code`,\n"
     "continued on a soft-wrapped line.  ![a picture](pic.png)"),
    "Second heading",
    "first item",
    "second *item*",
    "one",
    "two",
    "A quoted paragraph.",
    "Name | Value",
    "alpha | 1",
    'print("code")',
    '<div class="note">Raw <b>HTML</b> block<script>alert(1)</script></div>',
    "Final &amp; last paragraph.",
]


def test_markdown_text_without_markup(tmp_path):
    path = tmp_path / "readme.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_document(path)
    assert check_invariants(doc) == MARKDOWN_EXPECTED
    assert doc.text == MARKDOWN
    assert doc.title == "Front Matter Title" and doc.format == "markdown"


def test_markdown_title_from_first_heading(tmp_path):
    path = tmp_path / "notes.markdown"
    path.write_text("Intro line\n\n## Sub\n\n# Top Title\n\ntext\n", encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "Top Title"
    assert doc.paragraph_texts() == ["Intro line", "Sub", "Top Title", "text"]


def test_large_markdown_falls_back_to_plain_text(tmp_path):
    path = tmp_path / "big.md"
    path.write_text("# Head\n\n" + "word " * 400, encoding="utf-8")
    doc = load_document(path, max_markdown_bytes=1000)
    assert doc.paragraph_texts()[0] == "# Head"
    assert any("plain text" in w for w in doc.warnings)


# --- HTML -------------------------------------------------------------------------------------------
HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>  The  Page Title </title>
<style>p { color: red }</style><script>document.write("script text")</script></head>
<body>
<noscript>Enable JavaScript</noscript>
<template><p>template text</p></template>
<h1>Main &amp; Only Heading</h1>
<p>First   paragraph
 with <b>bold</b>, <a href="#">a link</a> and&nbsp;entities: &lt;tag&gt; &eacute; &#8364;.</p>
<div hidden>hidden div</div><p aria-hidden="true">aria hidden</p>
<p style="color: blue; DISPLAY : none">display none</p>
<div>Block <span style="visibility:hidden">invisible</span>text<br>after a break</div>
<!-- a comment -->
<ul><li>one</li><li>two <em>items</em></li></ul>
<table><tr><th>Name</th><th>Age</th></tr><tr><td><p>Ann</p></td><td>31</td></tr></table>
<pre>  preformatted
    keeps   spacing</pre>
<p>Last<p>Unclosed paragraph
</body></html>"""
HTML_EXPECTED = [
    "Main & Only Heading",
    "First paragraph with bold, a link and entities: <tag> é €.",
    "Block text\nafter a break",
    "one",
    "two items",
    "Name | Age",
    "Ann | 31",
    "preformatted\n    keeps   spacing",
    "Last",
    "Unclosed paragraph",
]


def test_html_visible_text_only(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_document(path)
    assert check_invariants(doc) == HTML_EXPECTED
    assert doc.title == "The Page Title" and doc.format == "html"
    for hidden in ("script", "color", "template", "hidden", "display", "invisible", "comment",
                   "JavaScript"):
        assert hidden not in doc.text


def test_html_meta_charset_and_bom(tmp_path):
    body = "<p>Café crème — 5 €</p>"
    legacy = tmp_path / "legacy.htm"
    legacy.write_bytes(f'<html><head><meta http-equiv="Content-Type" content="text/html; '
                       f'charset=windows-1252"></head><body>{body}</body></html>'
                       .encode("cp1252"))
    assert load_document(legacy).text == "Café crème — 5 €"
    wide = tmp_path / "wide.html"
    wide.write_bytes(codecs.BOM_UTF16_LE + f"<html><body>{body}</body></html>"
                     .encode("utf-16-le"))
    assert load_document(wide).text == "Café crème — 5 €"


def test_html_head_of_a_large_file(tmp_path):
    path = tmp_path / "long.html"
    path.write_text("<html><body>" + "<p>Paragraph text here.</p>" * 2000 + "</body></html>")
    with pytest.raises(FileTooLargeError):
        load_document(path, max_bytes=10_000)
    doc = load_document(path, max_bytes=10_000, truncate=True)
    texts = check_invariants(doc)
    assert 300 < len(texts) < 400 and set(texts[:-1]) == {"Paragraph text here."}
    assert any("only the first" in w for w in doc.warnings)


def test_html_title_falls_back_to_h1(tmp_path):
    path = tmp_path / "x.html"
    path.write_text("<h1>Only H1</h1><p>text</p>", encoding="utf-8")
    assert load_document(path).title == "Only H1"


# --- PDF --------------------------------------------------------------------------------------------
PDF_PAGES = [
    [("The first paragraph of the report is long enough that it wraps over several lines of the "
      "page, so that the lines have to be joined again into one paragraph."),
     "A second, shorter paragraph."],
    [("Page two starts with this paragraph, which also runs over more than one line of text "
      "because it is rather long.")],
    ["The third page holds the conclusion.", "And a final remark."],
]
PDF_HEADINGS = ["Introduction", "", "Conclusion"]


def _expected_pdf_pages():
    pages = []
    for heading, paragraphs in zip(PDF_HEADINGS, PDF_PAGES):
        pages.append(([heading] if heading else []) + paragraphs)
    return pages


def test_pdf_pages_paragraphs_and_running_headers(tmp_path):
    path = factory.make_pdf(tmp_path / "report.pdf", PDF_PAGES, headings=PDF_HEADINGS,
                            title="Annual Report")
    doc = load_document(path)
    expected = _expected_pdf_pages()
    assert check_invariants(doc) == [p for page in expected for p in page]
    assert doc.format == "pdf" and doc.title == "Annual Report"
    assert doc.warnings == ["Dropped 6 repeated header/footer lines on 3 pages."]
    assert len(doc.pages) == 3
    for number, paragraphs in enumerate(expected, start=1):
        assert doc.page_text(number) == "\n\n".join(paragraphs)
    # The running header and "Page n of 3" footers are gone.
    assert factory.HEADER not in doc.text and "Page 1 of 3" not in doc.text
    offset = doc.text.index("conclusion")
    assert doc.page_of(offset) == 3
    assert doc.page_of(doc.text.index("Page two")) == 2
    assert doc.page_of(doc.pages[0].end) == 1  # the blank line after page 1
    assert doc.page_of(len(doc.text)) == 3 and doc.page_of(len(doc.text) + 1) is None


def test_pdf_keeps_headers_when_asked(tmp_path):
    path = factory.make_pdf(tmp_path / "r.pdf", PDF_PAGES)
    doc = load_document(path, drop_headers_footers=False)
    assert factory.HEADER in doc.paragraph_texts()
    assert "Page 2 of 3" in doc.text


def test_pdf_hyphenation_at_line_end_is_joined(tmp_path):
    path = factory.make_pdf(tmp_path / "h.pdf", [[
        "This sentence breaks in the middle of a compli-\ncated word, and goes on.",
        "Hyphens inside words like state-of-the-art stay."]], header=None, footer=False)
    doc = load_document(path)
    assert doc.paragraph_texts() == [
        "This sentence breaks in the middle of a complicated word, and goes on.",
        "Hyphens inside words like state-of-the-art stay."]


COLUMN_TEXT = [
    ("Columns are read one after the other: all of the left column first, from top to bottom, "
     "and only then the right column."),
    "Short lines at the end of a paragraph, like this one, end it.",
    ("A paragraph whose last line is full also ends when the space below it is larger than the "
     "usual distance between two lines."),
    "Ragged-right text leaves room at line ends without ending paragraphs.",
]


@pytest.mark.parametrize("align", ["L", "J"])
def test_pdf_two_columns(tmp_path, align):
    left, right = COLUMN_TEXT[:2], COLUMN_TEXT[2:]
    path = factory.make_two_column_pdf(tmp_path / "cols.pdf", left, right, align=align)
    assert check_invariants(load_document(path)) == COLUMN_TEXT


def test_pdf_with_unicode_samples(tmp_path):
    font = factory.unicode_font()
    if font is None:
        pytest.skip("needs a Unicode TTF font")
    from fontTools.ttLib import TTFont

    covered = TTFont(str(font)).getBestCmap()  # fpdf2 leaves out glyphs the font lacks

    def pdf_lines(sample: str) -> list[str]:
        # A PDF keeps the glyphs its font has and no runs of spaces, tabs or odd blanks.
        text = "".join(c for c in sample if c.isspace() or ord(c) in covered)
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        return [line for line in lines if line == " ".join(line.split())]

    source = factory.pick_samples("with nine lines a PDF can hold",
                                  lambda sample: len(pdf_lines(sample)) >= 9)[0]
    lines = pdf_lines(source.read_text(encoding="utf-8"))
    pages = [lines[i:i + 3] for i in range(0, 9, 3)]
    path = factory.make_pdf(tmp_path / "u.pdf", pages, font=font)
    doc = load_document(path)
    assert check_invariants(doc) == [p for page in pages for p in page]
    assert [doc.page_text(n) for n in (1, 2, 3)] == ["\n\n".join(p) for p in pages]


def test_pdf_with_password(tmp_path):
    path = factory.make_pdf(tmp_path / "secret.pdf", PDF_PAGES, user_password="s3cret")
    with pytest.raises(EncryptedDocumentError, match="password"):
        load_document(path)
    doc = load_document(path, password="s3cret")
    assert doc.paragraph_texts()[0] == PDF_PAGES[0][0]


def test_pdf_with_owner_password_only_opens(tmp_path):
    path = factory.make_pdf(tmp_path / "perm.pdf", PDF_PAGES, owner_password="boss")
    assert load_document(path).paragraph_texts()[0] == PDF_PAGES[0][0]


def test_pdf_written_by_hand_and_uncompressed(tmp_path):
    content = b"BT /F1 12 Tf 72 700 Td (Hand made) Tj ET"
    doc = load_document(factory.make_raw_pdf(tmp_path / "raw.pdf", content, compressed=False))
    assert doc.text == "Hand made" and len(doc.pages) == 1


def test_pdf_compressed_content_under_the_cap_loads(tmp_path):
    path = factory.make_flate_bomb_pdf(tmp_path / "airy.pdf", 8 * 1024 * 1024)
    assert load_document(path).text == "Hello"
    with pytest.raises(ArchiveBombError):
        load_document(path, max_decompressed_bytes=1024 * 1024)


def test_pdf_max_pages_truncates_with_warning(tmp_path):
    path = factory.make_pdf(tmp_path / "r.pdf", PDF_PAGES)
    doc = load_document(path, max_pages=2, truncate=True)
    assert len(doc.pages) == 2
    assert any("first 2 of 3 pages" in w for w in doc.warnings)


# --- DOCX -------------------------------------------------------------------------------------------
def test_docx_paragraphs_headings_tables_footnotes(tmp_path):
    path = factory.make_docx(tmp_path / "report.docx")
    doc = load_document(path)
    assert check_invariants(doc) == factory.DOCX_EXPECTED
    assert doc.title == "Quarterly Report" and doc.format == "docx" and doc.pages == []
    assert "Secret" not in doc.text


def test_docx_title_from_title_style(tmp_path):
    path = factory.make_docx(tmp_path / "untitled.docx", title=None, footnotes={})
    doc = load_document(path)
    assert doc.title == "Quarterly Report"
    assert doc.paragraph_texts()[2] == "Revenue grew by twelve percent in the third quarter."


TRICKY_BODY = """
<w:p><w:r><w:t xml:space="preserve">Kept </w:t></w:r><w:del w:id="1"><w:r><w:delText>deleted
</w:delText></w:r></w:del><w:ins w:id="2"><w:r><w:t>inserted</w:t></w:r></w:ins></w:p>
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>HYPERLINK "x"</w:instrText>
</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>field result</w:t></w:r>
<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>
<w:p><w:hyperlink r:id="rId9"><w:r><w:t>a link</w:t></w:r></w:hyperlink><w:r><w:tab/>
<w:t>after tab</w:t><w:br/><w:t>new line</w:t></w:r></w:p>
<w:sdt><w:sdtContent><w:p><w:r><w:t>content control</w:t></w:r></w:p></w:sdtContent></w:sdt>
<w:p><w:r><w:t>Before box</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps">
<w:drawing><wp:anchor><a:graphic><a:graphicData><wps:wsp><wps:txbx><w:txbxContent>
<w:p><w:r><w:t>text box</w:t></w:r></w:p></w:txbxContent></wps:txbx></wps:wsp>
</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict>
<w:txbxContent><w:p><w:r><w:t>text box</w:t></w:r></w:p></w:txbxContent></w:pict>
</mc:Fallback></mc:AlternateContent></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>outer</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r>
<w:t>inner</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc><w:tc><w:p/></w:tc></w:tr></w:tbl>
<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden</w:t></w:r><w:r><w:rPr><w:vanish w:val="0"/>
</w:rPr><w:t>shown</w:t></w:r></w:p>
<w:sectPr/>
"""


def test_docx_revisions_fields_text_boxes_and_controls(tmp_path):
    namespaces = (
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"')
    xml = f"<w:document {namespaces}><w:body>{TRICKY_BODY}</w:body></w:document>"
    path = tmp_path / "tricky.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", xml)
    doc = load_document(path)
    assert check_invariants(doc) == [
        "Kept inserted", "field result", "a link\tafter tab\nnew line", "content control",
        "Before box", "text box", "outer inner", "shown"]
    assert doc.title == "tricky"


# --- EPUB -------------------------------------------------------------------------------------------
def test_epub_chapters_in_spine_order(tmp_path):
    chapters = [("c1", "one.xhtml", ["Chapter one text &amp; more."]),
                ("c2", "two.xhtml", ["Chapter two text."]),
                ("c3", "three.xhtml", ["Chapter three text."]),
                ("notes", "notes.xhtml", ["A note."])]
    path = factory.make_epub(tmp_path / "book.epub", chapters, ["notes", "c3", "c1", "c2"],
                             nonlinear=("notes",))
    doc = load_document(path)
    assert check_invariants(doc) == ["Three", "Chapter three text.", "One",
                                     "Chapter one text & more.", "Two", "Chapter two text.",
                                     "Notes", "A note."]
    assert doc.title == "A Small Book" and doc.format == "epub"


# --- formats found by content ---------------------------------------------------------------------
def test_unknown_extensions_are_sniffed(tmp_path):
    pdf = factory.make_pdf(tmp_path / "a.pdf", PDF_PAGES, header=None, footer=False)
    docx = factory.make_docx(tmp_path / "a.docx")
    epub = factory.make_epub(tmp_path / "a.epub", [("c", "c.xhtml", ["Text."])], ["c"])
    cases = {"pdf": pdf.read_bytes(), "docx": docx.read_bytes(), "epub": epub.read_bytes(),
             "html": b"<!doctype html><title>T</title><p>Hello</p>",
             "text": b"just some words"}
    for fmt, data in cases.items():
        path = tmp_path / f"download-{fmt}"
        path.write_bytes(data)
        doc = load_document(path)
        assert doc.format == fmt
        assert not doc.warnings


def test_wrong_extension_is_read_by_content_with_a_warning(tmp_path):
    path = tmp_path / "really-a-pdf.txt"
    path.write_bytes(factory.make_pdf(tmp_path / "r.pdf", PDF_PAGES).read_bytes())
    doc = load_document(path)
    assert doc.format == "pdf" and len(doc.pages) == 3
    assert any("named .txt" in w for w in doc.warnings)


def test_forced_format(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<p>x &amp; y</p>", encoding="utf-8")
    assert load_document(path, format="text").text == "<p>x &amp; y</p>"
    with pytest.raises(ValueError):
        load_document(path, format="rtf")
    with pytest.raises(TypeError):
        load_document(path, no_such_option=1)


def test_engine_level_entry_point(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello", encoding="utf-8")
    assert engine.load_document(path).text == "hello"
    assert engine.load_document(str(path)).path == path


# --- the model ----------------------------------------------------------------------------------------
def test_text_range():
    r = TextRange(2, 5)
    assert len(r) == 3 and 2 in r and 5 not in r and r.slice("abcdefg") == "cde"
    assert r.to_range() == range(2, 5)
    with pytest.raises(ValueError):
        TextRange(5, 2)
    with pytest.raises(ValueError):
        TextRange(-1, 2)


def test_page_of_with_empty_pages_and_paragraph_of():
    text = "aaa\n\nbbb\n\nccc"
    doc = Document(text=text, title="t",
                   paragraphs=[TextRange(0, 3), TextRange(5, 8), TextRange(10, 13)],
                   pages=[TextRange(0, 3), TextRange(3, 3), TextRange(5, 8), TextRange(8, 8),
                          TextRange(10, 13)], format="pdf")
    assert [doc.page_of(i) for i in range(len(text) + 1)] == \
        [1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 5, 5, 5, 5]
    assert doc.page_of(-1) is None and doc.page_of(99) is None
    assert [doc.paragraph_of(i) for i in (0, 2, 3, 4, 5, 12, 13)] == [0, 0, None, None, 1, 2,
                                                                       None]
