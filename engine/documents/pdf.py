"""PDF: the text of each page in reading order, paragraphs rebuilt from line geometry.

pdfium (pypdfium2) gives each page's text line by line, in content order (which is reading order
for nearly all PDFs: columns come one after the other). Lines are grouped into paragraphs by
their geometry: a gap larger than the page's usual line spacing, a change of font size, a line
that ends early although the next word would have fit, or a jump back up the page (a new
column) start a new paragraph. Words hyphenated at a line end are joined again. Lines repeated
at the same place at the top or bottom of many pages (running headers, footers, page numbers)
are dropped.

Pages become `Document.pages`. A password-protected PDF gives EncryptedDocumentError unless
`password` is given; a PDF whose pages hold only images gives NoTextLayerError.
"""

from __future__ import annotations

import math
import os
import re
import threading
import zlib
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

from engine.documents._files import human_size
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    FileUnreadableError,
    NoTextLayerError,
)

# pdfium is not thread-safe: one document at a time in this process.
_PDFIUM_LOCK = threading.Lock()
_LINE = re.compile(r"[^\r\n]+")
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"\b[ivxlcdm]+\b")
_SENTENCE_END = ('.', '!', '?', ':', '"', "”", "’", ")", "»", ";")
_HYPHEN_MARKS = ("\ufffe", "\x02", "\u00ad")
_MAX_OBJECTS_SCANNED = 2000
_SAME_SIZE = 0.12  # line heights closer than this (relative) are one font size


@dataclass
class _Line:
    text: str
    x0: float | None = None
    x1: float | None = None
    bottom: float | None = None
    top: float | None = None

    @property
    def height(self) -> float:
        if self.top is None or self.bottom is None:
            return 0.0
        return self.top - self.bottom

    @property
    def has_geometry(self) -> bool:
        return self.x0 is not None and self.height > 0


@dataclass
class _Page:
    lines: list[_Line]
    height: float
    has_images: bool = False


def _page_lines(textpage) -> list[_Line]:
    text = textpage.get_text_range()
    geometry = len(text) == textpage.count_chars()
    lines = []
    for match in _LINE.finditer(text):
        raw = match.group()
        stripped = raw.strip()
        if not stripped:
            continue
        line = _Line(stripped)
        if geometry:
            first = match.start() + (len(raw) - len(raw.lstrip()))
            last = match.start() + len(raw.rstrip()) - 1
            box = _line_box(textpage, first, last)
            if box is not None:
                line.x0, line.x1, line.bottom, line.top = box
        lines.append(line)
    return lines


def _line_box(textpage, first: int, last: int) -> tuple[float, float, float, float] | None:
    """(left, right, bottom, top) of a line from its first and last characters' font boxes."""
    try:
        left, bottom, _, top = textpage.get_charbox(first, loose=True)
        _, _, right, _ = textpage.get_charbox(last, loose=True)
    except Exception:  # noqa: BLE001 - geometry is a hint; without it, the text still comes
        return None
    return left, right, bottom, top


def _has_images(page) -> bool:
    from pypdfium2 import raw

    def scan(count, get, parent, depth) -> bool:
        total = min(count(parent), _MAX_OBJECTS_SCANNED)
        for i in range(total):
            obj = get(parent, i)
            if not obj:
                continue
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_IMAGE:
                return True
            if kind == raw.FPDF_PAGEOBJ_FORM and depth < 4 and scan(
                    raw.FPDFFormObj_CountObjects, raw.FPDFFormObj_GetObject, obj, depth + 1):
                return True
        return False

    try:
        return scan(raw.FPDFPage_CountObjects, raw.FPDFPage_GetObject, page.raw, 0)
    except Exception:  # noqa: BLE001
        return False


# --- running headers and footers ------------------------------------------------------------------
def _key(text: str) -> str:
    text = " ".join(text.lower().split())
    text = _DIGITS.sub("#", text)
    return _ROMAN.sub("#", text)


def _looks_running(line: _Line, page: _Page, body_height: float, where: str) -> bool:
    """Near the page's edge and not larger than the body text (a heading is larger)."""
    if not line.has_geometry or page.height <= 0:
        return True
    if body_height and line.height > 1.1 * body_height:
        return False
    if where == "top":
        return line.top >= page.height * 0.8
    return line.bottom <= page.height * 0.2


def drop_running_lines(pages: list[_Page]) -> int:
    """Remove lines repeated at the same place (top/bottom two lines) on many pages."""
    with_text = [p for p in pages if p.lines]
    if len(with_text) < 3:
        return 0
    counts: Counter = Counter()
    for page in with_text:
        keys = set()
        for k in range(min(2, len(page.lines))):
            keys.add(("top", k, _key(page.lines[k].text)))
            keys.add(("bottom", k, _key(page.lines[-1 - k].text)))
        counts.update(keys)
    threshold = max(3, math.ceil(0.4 * len(with_text)))
    repeated = {key for key, count in counts.items() if count >= threshold and key[2]}
    if not repeated:
        return 0
    dropped = 0
    for page in with_text:
        lines = page.lines
        heights = [line.height for line in lines if line.has_geometry]
        body = median(heights) if heights else 0.0
        drop = set()
        for k in range(min(2, len(lines))):
            if ("top", k, _key(lines[k].text)) in repeated and \
                    _looks_running(lines[k], page, body, "top"):
                drop.add(k)
            j = len(lines) - 1 - k
            if ("bottom", k, _key(lines[j].text)) in repeated and \
                    _looks_running(lines[j], page, body, "bottom"):
                drop.add(j)
        if drop:
            page.lines = [line for i, line in enumerate(lines) if i not in drop]
            dropped += len(drop)
    return dropped


# --- paragraphs -----------------------------------------------------------------------------------
def _join(lines: list[_Line]) -> str:
    out = lines[0].text
    for line in lines[1:]:
        text = line.text
        hyphenated = out.endswith(_HYPHEN_MARKS) or (
            out.endswith("-") and len(out) > 1 and out[-2].isalpha() and text[:1].islower())
        if hyphenated:
            out = out[:-1] + text
        else:
            out += " " + text
    for mark in _HYPHEN_MARKS:
        if mark in out:
            out = out.replace(mark, "")
    return out


def _first_word_fits(prev: _Line, line: _Line, right: float) -> bool:
    """Whether the line's first word would have fitted at the end of the previous line."""
    if not (prev.has_geometry and line.has_geometry) or not line.text:
        return False
    char_width = (line.x1 - line.x0) / max(1, len(line.text))
    if char_width <= 0:
        return False
    word = line.text.split(None, 1)[0]
    return (right - prev.x1) > (len(word) + 2) * char_width


def _breaks(prev: _Line, line: _Line, pitch_typical: float | None, right: float,
            max_chars: int) -> bool:
    if prev.text.endswith(_HYPHEN_MARKS) or prev.text.endswith("-"):
        return False
    if not (prev.has_geometry and line.has_geometry):
        return prev.text.endswith(_SENTENCE_END) and len(prev.text) < 0.8 * max_chars
    height = max(prev.height, line.height)
    if abs(prev.height - line.height) > _SAME_SIZE * height:
        return True  # a change of font size: heading / body
    pitch = prev.bottom - line.bottom
    if abs(pitch) < 0.3 * height:
        return False  # same baseline: pieces of one line (table cells, spaced words)
    if pitch < 0:
        return True  # back up the page: a new column or a floating block
    limit = 1.45 * pitch_typical if pitch_typical else 1.8 * height
    if pitch > limit:
        return True
    return _first_word_fits(prev, line, right)


@dataclass
class _Layout:
    """Document-wide line spacing (per font height) and text columns (left edge -> right edge)."""

    pitches: dict[int, float]
    columns: list[tuple[float, float]]

    def pitch_for(self, height: float) -> float | None:
        return self.pitches.get(round(height))

    def right_for(self, x0: float) -> float:
        """The right edge of the column a line starting at `x0` sits in."""
        right = self.columns[0][1] if self.columns else 0.0
        for left, column_right in self.columns:
            if left <= x0 + 2:
                right = column_right
        return right


def measure_layout(pages: list[_Page]) -> _Layout:
    by_height: dict[int, list[float]] = {}
    edges: list[tuple[float, float]] = []
    for page in pages:
        lines = page.lines
        for line in lines:
            if line.has_geometry:
                edges.append((line.x0, line.x1))
        for prev, line in pairwise(lines):
            if prev.has_geometry and line.has_geometry:
                height = max(prev.height, line.height)
                pitch = prev.bottom - line.bottom
                if abs(prev.height - line.height) <= _SAME_SIZE * height and \
                        0.5 * height < pitch < 3 * height:
                    by_height.setdefault(round(line.height), []).append(pitch)
    # The usual spacing is the smallest common one: paragraph gaps are the exceptions.
    pitches = {h: _low_percentile(values) for h, values in by_height.items()}
    return _Layout(pitches, _columns(edges))


def _columns(edges: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Left edges shared by many lines (text columns) and each one's usual right edge."""
    if not edges:
        return []
    buckets = Counter(round(x0 / 4) for x0, _ in edges)
    enough = max(3, 0.03 * len(edges))
    lefts = sorted(bucket * 4 for bucket, count in buckets.items() if count >= enough)
    if not lefts:
        lefts = [min(x0 for x0, _ in edges)]
    rights: dict[float, list[float]] = {left: [] for left in lefts}
    for x0, x1 in edges:
        home = lefts[0]
        for left in lefts:
            if left <= x0 + 2:
                home = left
        rights[home].append(x1)
    columns = []
    for left in lefts:
        values = sorted(rights[left])
        if values:
            columns.append((left, values[int(0.9 * (len(values) - 1))]))
    return columns


def _low_percentile(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 10]


def page_paragraphs(lines: list[_Line], layout: _Layout | None = None) -> list[str]:
    if not lines:
        return []
    if layout is None:
        layout = measure_layout([_Page(lines, 0.0)])
    max_chars = max(len(line.text) for line in lines)
    paragraphs: list[list[_Line]] = [[lines[0]]]
    for prev, line in pairwise(lines):
        typical = layout.pitch_for(line.height) if line.has_geometry else None
        right = layout.right_for(prev.x0) if prev.has_geometry else 0.0
        if _breaks(prev, line, typical, right, max_chars):
            paragraphs.append([line])
        else:
            paragraphs[-1].append(line)
    return [_join(group) for group in paragraphs]


# --- compression bombs ------------------------------------------------------------------------------
# pdfium inflates a page's content streams, forms and fonts whole: a 1 MB PDF can hide a 1 GB
# content stream. Before pdfium sees the file, every Flate stream that is not an image (images are
# not decoded to read text) is inflated once, streaming, to count its size.
_STREAM_KEYWORD = re.compile(rb"(?<!end)stream\r?\n")
_FLATE = re.compile(rb"/(?:FlateDecode|Fl)(?![A-Za-z])")
_IMAGE = re.compile(rb"/Subtype\s*/Image(?![A-Za-z])")
_SCAN_BLOCK = 8 * 1024 * 1024
_HEADER_WINDOW = 2048
_INFLATE_STEP = 1024 * 1024


def inflated_stream_bytes(path, limit: int) -> int:
    """Total inflated size of the non-image Flate streams, counting stops just past `limit`."""
    from engine.documents._files import open_binary

    total = 0
    with open_binary(path) as f:
        size = os.fstat(f.fileno()).st_size
        pos = 0
        while pos < size and total <= limit:
            base = max(0, pos - _HEADER_WINDOW)
            f.seek(base)
            buf = f.read(pos + _SCAN_BLOCK + 16 - base)
            if not buf:
                break
            for match in _STREAM_KEYWORD.finditer(buf, pos - base):
                if base + match.start() >= pos + _SCAN_BLOCK:
                    break
                window = buf[max(0, match.start() - _HEADER_WINDOW):match.start()]
                obj = window.rfind(b" obj")
                header = window[obj:] if obj >= 0 else window
                if not _FLATE.search(header) or _IMAGE.search(header):
                    continue
                total += _inflate_count(f, base + match.end(), limit - total)
                if total > limit:
                    break
            pos += _SCAN_BLOCK
    return total


def _inflate_count(f, offset: int, budget: int) -> int:
    """Bytes one zlib stream at `offset` inflates to (stops once past `budget`)."""
    decompressor = zlib.decompressobj()
    produced = 0
    f.seek(offset)
    try:
        while produced <= budget and not decompressor.eof:
            data = f.read(64 * 1024)
            if not data:
                break
            while data and produced <= budget:
                produced += len(decompressor.decompress(data, _INFLATE_STEP))
                data = decompressor.unconsumed_tail
                if decompressor.eof:
                    break
    except zlib.error:
        pass  # not a zlib stream after all (or damaged): pdfium will judge
    return produced


# --- loading ----------------------------------------------------------------------------------------
_BAD_TITLES = re.compile(r"^(untitled|microsoft word - |document\d*$)|\.(docx?|pdf|tex|dvi|indd|"
                         r"qxd|rtf|odt|pages)$", re.IGNORECASE)


def _title(doc) -> str:
    try:
        title = " ".join((doc.get_metadata_value("Title") or "").split())
    except Exception:  # noqa: BLE001
        return ""
    if not title or _BAD_TITLES.search(title):
        return ""
    return title


def _open(ctx):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(ctx.path), password=ctx.options.password)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == 4:
            if ctx.options.password:
                raise EncryptedDocumentError(
                    f'"{ctx.name}" is an encrypted PDF and the password given is wrong. Try '
                    "again with the right password.", ctx.path) from None
            raise EncryptedDocumentError(
                f'"{ctx.name}" is an encrypted PDF protected by a password. Open it with its '
                "password, or save an unprotected copy.", ctx.path) from None
        if code == 5:
            raise EncryptedDocumentError(
                f'"{ctx.name}" is an encrypted PDF using a protection scheme that cannot be '
                "opened here. Save an unprotected copy and open that.", ctx.path) from None
        if code == 2:
            raise FileUnreadableError(
                f'"{ctx.name}" could not be opened for reading. Check that it still exists and '
                "that you may read it.", ctx.path) from None
        raise CorruptDocumentError(
            f'"{ctx.name}" is not a readable PDF: it is damaged or truncated (for example an '
            "unfinished download). Download or export it again.", ctx.path) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise FileUnreadableError(
            f'"{ctx.name}" could not be opened for reading. Check that it still exists and that '
            "you may read it.", ctx.path) from None


def load_pdf(ctx) -> None:
    limit = ctx.options.max_decompressed_bytes
    inflated = inflated_stream_bytes(ctx.path, limit)
    if inflated > limit:
        raise ArchiveBombError(
            f'"{ctx.name}" holds compressed page content that would unpack to more than '
            f"{human_size(limit)}. It may be a decompression bomb; it was not opened. If it is "
            "genuine, raise max_decompressed_bytes.", ctx.path)
    with _PDFIUM_LOCK:
        doc = _open(ctx)
        try:
            _read_pages(ctx, doc)
        finally:
            doc.close()


def _read_pages(ctx, doc) -> None:
    import pypdfium2 as pdfium

    opts = ctx.options
    count = len(doc)
    if count <= 0:
        raise EmptyDocumentError(f'"{ctx.name}" is a PDF with no pages.', ctx.path)
    if count > opts.max_pages:
        if not opts.truncate:
            raise FileTooLargeError(
                f'"{ctx.name}" has {count} pages, above the limit of {opts.max_pages}. Split it '
                "into smaller PDFs, or load only its first pages.", ctx.path)
        ctx.warn(f"only the first {opts.max_pages} of {count} pages were loaded")
        count = opts.max_pages
    ctx.title = _title(doc) or ctx.path.stem

    pages: list[_Page] = []
    unreadable: list[int] = []
    for index in range(count):
        try:
            page = doc[index]
        except pdfium.PdfiumError:
            unreadable.append(index + 1)
            pages.append(_Page([], 0.0))
            continue
        try:
            textpage = page.get_textpage()
            try:
                lines = _page_lines(textpage)
            finally:
                textpage.close()
            height = page.get_height()
            info = _Page(lines, height)
            if not lines:
                info.has_images = _has_images(page)
            pages.append(info)
        except pdfium.PdfiumError:
            unreadable.append(index + 1)
            pages.append(_Page([], 0.0))
        finally:
            page.close()

    if not any(p.lines for p in pages):
        if any(p.has_images for p in pages):
            raise NoTextLayerError(
                f'"{ctx.name}" contains only scanned images, no text. Run it through OCR (text '
                "recognition, e.g. ocrmypdf) and open the result.", ctx.path)
        if unreadable:
            raise CorruptDocumentError(
                f'"{ctx.name}" is a damaged PDF: none of its pages could be read. Download or '
                "export it again.", ctx.path)
        raise EmptyDocumentError(f'"{ctx.name}" is a PDF with no text in it.', ctx.path)
    if unreadable:
        ctx.warn(f"{len(unreadable)} page(s) could not be read: {_page_list(unreadable)}")
    scanned = [i + 1 for i, p in enumerate(pages) if p.has_images]
    if scanned:
        ctx.warn(f"{len(scanned)} page(s) are images without text (scanned?): "
                 f"{_page_list(scanned)}")
    if opts.drop_headers_footers:
        drop_running_lines(pages)

    layout = measure_layout(pages)
    builder = ctx.builder
    for page in pages:
        builder.begin_page()
        for paragraph in page_paragraphs(page.lines, layout):
            builder.add(paragraph)
    builder.end_page()


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
