"""Real document files for the document tests, written with the libraries that make them.

PDFs with fpdf2, DOCX with python-docx (footnotes injected as XML, which python-docx cannot
write), EPUB by hand with zipfile. Nothing is downloaded; everything is deterministic.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# shared/ sits beside the checkout (or inside it on some machines); a fresh clone has neither, so
# the samples shipped in tests/data/samples are always read too, and tests never need shared/.
SAMPLES = next((p for p in (_REPO.parent / "shared" / "samples", _REPO / "shared" / "samples")
                if p.is_dir()), _REPO.parent / "shared" / "samples")
SHIPPED_SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def sample_paths() -> list[Path]:
    """Every sample document (messy web text, look-alike letters): the shared ones when present,
    then those shipped with the tests. The one place tests find samples; never empty."""
    shared = sorted(SAMPLES.glob("*.txt")) if SAMPLES.is_dir() else []
    return shared + sorted(SHIPPED_SAMPLES.glob("*.txt"))


def sample_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sample_paths()]


def pick_samples(why: str, test: Callable[[str], bool]) -> list[Path]:
    """The samples whose text passes `test`; the calling test is skipped, saying `why`, if none."""
    found = [p for p in sample_paths() if test(p.read_text(encoding="utf-8"))]
    if not found:
        import pytest  # here, not at the top: the packaging smoke test imports this module bare

        pytest.skip(f"no sample document {why}")
    return found


_SCRIPTS_LIKE_LATIN = {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"}


def lookalike_words(text: str) -> list[str]:
    """Words spelled with Latin letters mixed with look-alikes from another alphabet ("Nоrth"
    with a Cyrillic о); a word wholly in one alphabet (a real Russian word) is not one."""
    found = []
    for word in text.split():
        scripts = {unicodedata.name(c, "?").split()[0] for c in word if c.isalpha()}
        if "LATIN" in scripts and scripts & _SCRIPTS_LIKE_LATIN:
            found.append(word)
    return found


def unicode_font() -> Path | None:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


# --- PDF ------------------------------------------------------------------------------------------
HEADER = "ACME Corporation - Annual Report 2024"


def make_pdf(path: Path, pages: list[list[str]], *, header: str | None = HEADER,
             footer: bool = True, headings: list[str] | None = None, font: Path | None = None,
             user_password: str | None = None, owner_password: str | None = None,
             title: str | None = None) -> Path:
    """A PDF with one list of paragraphs per page (each paragraph a wrapped block)."""
    from fpdf import FPDF

    total = len(pages)

    class _Pdf(FPDF):
        def header(self) -> None:
            if header:
                self.set_font(family, size=9)
                self.cell(0, 8, header, align="C")
                self.ln(12)

        def footer(self) -> None:
            if footer:
                self.set_y(-15)
                self.set_font(family, size=9)
                self.cell(0, 10, f"Page {self.page_no()} of {total}", align="C")

    pdf = _Pdf(format="A4")
    family = "Helvetica"
    if font is not None:
        pdf.add_font("Body", fname=str(font))
        family = "Body"
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    for index, paragraphs in enumerate(pages):
        pdf.add_page()
        if headings and headings[index]:
            pdf.set_font(family, size=18)
            pdf.multi_cell(0, 10, headings[index])
            pdf.ln(4)
        pdf.set_font(family, size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(5)
    if user_password or owner_password:
        pdf.set_encryption(owner_password=owner_password or "owner",
                           user_password=user_password)
    pdf.output(str(path))
    return path


def make_two_column_pdf(path: Path, left: list[str], right: list[str], *,
                        align: str = "L") -> Path:
    """One page, two text columns, paragraphs ragged-right (align="L") by default."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for x, paragraphs in ((10, left), (110, right)):
        pdf.set_xy(x, 20)
        for paragraph in paragraphs:
            pdf.set_x(x)
            pdf.multi_cell(90, 5, paragraph, align=align)
            pdf.ln(3)
    pdf.output(str(path))
    return path


def pdf_file_bytes(objects: list[bytes]) -> bytes:
    """A PDF file of these object bodies (numbered from 1, object 1 the catalog) with its xref."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


def make_raw_pdf(path: Path, content: bytes, *, compressed: bool = True) -> Path:
    """A one-page PDF written byte by byte around the given page content stream."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
         b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length %d%s >>\nstream\n" % (len(content), b" /Filter /FlateDecode" if compressed
                                           else b"") + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(pdf_file_bytes(objects))
    return path


def make_flate_bomb_pdf(path: Path, unpacked: int) -> Path:
    """A small PDF whose page content stream inflates to `unpacked` bytes (mostly spaces)."""
    import zlib

    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET\n")]
    chunk = b" " * (1 << 20)
    for _ in range(unpacked // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return make_raw_pdf(path, b"".join(parts))


def make_image_pdf(path: Path, pages: int = 2) -> Path:
    """A "scanned" PDF: every page is one picture, no text at all."""
    from fpdf import FPDF
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 400), (230, 230, 225)).save(buffer, format="PNG")
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        buffer.seek(0)
        pdf.image(buffer, x=10, y=10, w=180)
    pdf.output(str(path))
    return path


# --- DOCX -----------------------------------------------------------------------------------------
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_FOOTNOTES_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:footnotes xmlns:w="{_W}">
<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>
<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r>
</w:p></w:footnote>
{{notes}}
</w:footnotes>"""
_NOTE = ('<w:footnote w:id="{id}"><w:p><w:r><w:footnoteRef/></w:r>'
         '<w:r><w:t xml:space="preserve"> {text}</w:t></w:r></w:p></w:footnote>')


def make_docx(path: Path, *, title: str | None = "Quarterly Report",
              footnotes: dict[int, str] | None = None) -> Path:
    """A Word document with a title, headings, paragraphs, a table and (injected) footnotes.

    Expected paragraphs: see DOCX_EXPECTED.
    """
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("Quarterly Report", level=0)
    document.add_heading("Summary", level=1)
    first = document.add_paragraph("Revenue grew by ")
    first.add_run("twelve percent").bold = True
    first.add_run(" in the third quarter.")
    notes = footnotes if footnotes is not None else {1: "Unaudited figures."}
    for note_id in notes:
        run = first.add_run()._r
        ref = OxmlElement("w:footnoteReference")
        ref.set(qn("w:id"), str(note_id))
        run.append(ref)
    document.add_paragraph("Costs stayed flat.\tTabs are kept.")
    hidden = document.add_paragraph("Visible part.")
    hidden.add_run(" Secret hidden part.").font.hidden = True
    document.add_heading("Regional figures", level=2)
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([("Region", "Sales"), ("North", "1,200"), ("South", "950")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Item one", style="List Bullet")
    document.add_paragraph("Item two", style="List Bullet")
    document.add_paragraph("The end.")
    buffer = io.BytesIO()
    document.save(buffer)
    data = buffer.getvalue()
    if notes:
        data = _inject_footnotes(data, notes)
    path.write_bytes(data)
    return path


DOCX_EXPECTED = [
    "Quarterly Report",
    "Summary",
    "Revenue grew by twelve percent in the third quarter.[1]",
    "Costs stayed flat.\tTabs are kept.",
    "Visible part.",
    "Regional figures",
    "Region | Sales",
    "North | 1,200",
    "South | 950",
    "Item one",
    "Item two",
    "The end.",
    "[1] Unaudited figures.",
]


def _inject_footnotes(data: bytes, notes: dict[int, str]) -> bytes:
    body = "\n".join(_NOTE.format(id=k, text=v) for k, v in notes.items())
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/word/footnotes.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>')
            elif info.filename == "word/_rels/document.xml.rels":
                content = content.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdNotes1" Type="http://schemas.openxmlformats.org/'
                    b'officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/>'
                    b"</Relationships>")
            target.writestr(info.filename, content)
        target.writestr("word/footnotes.xml", _FOOTNOTES_XML.replace("{notes}", body))
    return out.getvalue()


# --- EPUB -----------------------------------------------------------------------------------------
_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""


def chapter_xhtml(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>")


def make_epub(path: Path, chapters: list[tuple[str, str, list[str]]], spine: list[str], *,
              title: str = "A Small Book", encrypt: list[str] | None = None,
              nonlinear: tuple[str, ...] = ()) -> Path:
    """chapters: (id, file name, paragraphs) in *file* order; spine: ids in reading order."""
    manifest = "".join(
        f'<item id="{cid}" href="text/{name}" media-type="application/xhtml+xml"/>'
        for cid, name, _ in chapters)
    no = ' linear="no"'
    itemrefs = "".join(f'<itemref idref="{cid}"{no if cid in nonlinear else ""}/>' for cid in spine)
    opf = (f'<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://www.idpf.org/2007/opf"'
           f' version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/'
           f'elements/1.1/"><dc:identifier id="id">urn:test:1</dc:identifier><dc:title>{title}'
           f"</dc:title><dc:language>en</dc:language></metadata><manifest>{manifest}"
           f'<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
           f"</manifest><spine>{itemrefs}</spine></package>")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr("META-INF/container.xml", _CONTAINER, zipfile.ZIP_DEFLATED)
        if encrypt:
            refs = "".join(
                '<enc:EncryptedData xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
                '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
                f'<enc:CipherData><enc:CipherReference URI="OEBPS/text/{name}"/></enc:CipherData>'
                "</enc:EncryptedData>" for name in encrypt)
            z.writestr("META-INF/encryption.xml",
                       f'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                       f"{refs}</encryption>")
        z.writestr("OEBPS/content.opf", opf, zipfile.ZIP_DEFLATED)
        z.writestr("OEBPS/nav.xhtml", chapter_xhtml("Contents", ["Table of contents"]))
        for _, name, paragraphs in chapters:
            z.writestr(f"OEBPS/text/{name}", chapter_xhtml(name.split(".")[0].title(),
                                                          paragraphs), zipfile.ZIP_DEFLATED)
    return path


# --- hostile archives -----------------------------------------------------------------------------
def deflate_repeated(size: int, byte: bytes = b"a") -> tuple[bytes, int]:
    """Raw-deflated `size` bytes of one repeated byte, and their CRC-32."""
    import zlib

    chunk = byte * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = []
    crc = 0
    left = size
    while left > 0:
        piece = chunk if left >= len(chunk) else chunk[:left]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts), crc


def raw_zip(path: Path, entries: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A ZIP written by hand: entries are (name, stored bytes, crc, declared size, method).

    Lets a test declare sizes that lie, which zipfile refuses to write.
    """
    import struct

    body = b""
    central = b""
    for name, stored, crc, declared, method in entries:
        encoded = name.encode()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                            len(stored), declared, len(encoded), 0) + encoded + stored
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                               len(stored), declared, len(encoded), 0, 0, 0, 0, 0,
                               offset) + encoded
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                       len(central), len(body), 0)
    path.write_bytes(body + central + eocd)
    return path


def stored_entry(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    import zlib

    return name, data, zlib.crc32(data), len(data), 0


def make_zip_bomb_docx(path: Path, unpacked: int, *, declare: int | None = None) -> Path:
    """A .docx whose word/document.xml inflates to `unpacked` bytes; `declare` can lie."""
    compressed, crc = deflate_repeated(unpacked)
    return raw_zip(path, [
        stored_entry("[Content_Types].xml", b"<Types/>"),
        stored_entry("_rels/.rels", b"<Relationships/>"),
        ("word/document.xml", compressed, crc, unpacked if declare is None else declare, 8),
    ])
