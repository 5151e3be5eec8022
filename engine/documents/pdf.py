"""PDF: the text of each page in reading order, paragraphs rebuilt from line geometry.

pdfium (pypdfium2) gives each page's text line by line, in content order (which is reading order
for nearly all PDFs: columns come one after the other). Lines are grouped into paragraphs by
their geometry: a gap larger than the page's usual line spacing, a change of font size, a line
that ends early although the next word would have fit, or a jump back up the page (a new
column) start a new paragraph. Words hyphenated at a line end are joined again. Lines repeated
at the same place at the top or bottom of many pages (running headers, footers, page numbers)
are dropped, within limits that keep the body (see `drop_running_lines`).

pdfium runs in a child process (`engine.documents._sandbox`) with `READ_MEMORY_BYTES` of address
space and `READ_SECONDS` of time: a PDF built to make it allocate gigabytes, spin, or crash is
refused with a typed error, and the app goes on. Before that, a pre-scan in this process
refuses compression bombs cheaply (`inflated_stream_bytes`).

Pages become `Document.pages`. A password-protected PDF gives EncryptedDocumentError unless
`password` is given; a PDF whose pages hold only images gives NoTextLayerError.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

from engine.documents._sandbox import ChildFailed, Limits, Sandbox
from engine.documents.document import TextLimitReached
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    FileUnreadableError,
    NoTextLayerError,
)
from engine.sizes import format_size

_LINE = re.compile(r"[^\r\n]+")
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"\b[ivxlcdm]+\b")
_SENTENCE_END = ('.', '!', '?', ':', '"', "”", "’", ")", "»", ";")
_HYPHEN_MARKS = ("\ufffe", "\x02", "\u00ad")
_MAX_OBJECTS_SCANNED = 2000
_SAME_SIZE = 0.12  # line heights closer than this (relative) are one font size
_EDGE_LINES = 2  # running header/footer lines looked for at each edge of a page
_MAX_DROPPED_SHARE = 0.5  # header/footer removal never takes more of the document's text


@dataclass(slots=True)
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


def _detached(line: _Line, inner: _Line | None, layout: _Layout) -> bool:
    """Set apart from the next line towards the body: another size, or more than a line's gap.

    A running header or footer stands apart from the text; the first or last line of a body
    paragraph sits at the usual line spacing from its neighbour, even when it repeats on every
    page.
    """
    if inner is None or not (line.has_geometry and inner.has_geometry):
        return True
    height = max(line.height, inner.height)
    if abs(line.height - inner.height) > _SAME_SIZE * height:
        return True
    pitch = abs(line.bottom - inner.bottom)
    if pitch < 0.3 * height:
        return False  # on one baseline with the next piece: part of the same line
    typical = layout.pitch_for(inner.height)
    return pitch > (1.45 * typical if typical else 1.8 * height)


def drop_running_lines(pages: list[_Page], layout: _Layout | None = None) -> tuple[int, int]:
    """Remove running headers and footers: lines repeated at the same place on many pages.

    Only the outermost lines of a page can go (at most `_EDGE_LINES` at the top and at the
    bottom, taken from the edge inwards), as a block set apart from the text next to it. A page
    never loses all of its text, and the document never loses more than `_MAX_DROPPED_SHARE`
    of its characters: when repeated lines would take more, they are the body (a form, a
    page-a-day template) and only page numbers go (outermost lines that change from page to
    page in their numbers alone, like "Page n of m"). Returns (lines dropped, pages hit).
    """
    with_text = [p for p in pages if p.lines]
    if len(with_text) < 3:
        return 0, 0
    if layout is None:
        layout = measure_layout(with_text)
    counts: Counter = Counter()
    texts: dict[tuple, set[str]] = {}
    for page in with_text:
        keys = {}
        for k in range(min(_EDGE_LINES, len(page.lines))):
            for where, line in (("top", page.lines[k]), ("bottom", page.lines[-1 - k])):
                keys[(where, k, _key(line.text))] = " ".join(line.text.split())
        counts.update(keys.keys())
        for key, text in keys.items():
            texts.setdefault(key, set()).add(text)
    threshold = max(3, math.ceil(0.4 * len(with_text)))
    repeated = {key for key, count in counts.items() if count >= threshold and key[2]}
    if not repeated:
        return 0, 0
    # The outermost line, differing between pages in its numbers only: a page number.
    page_numbers = {key for key in repeated if key[1] == 0 and len(texts[key]) > 1}

    plans: list[tuple[_Page, dict[int, tuple]]] = []
    for page in with_text:
        lines = page.lines
        heights = [line.height for line in lines if line.has_geometry]
        body = median(heights) if heights else 0.0
        drop: dict[int, tuple] = {}
        for where in ("top", "bottom"):
            # The repeated lines from the edge inwards, then the longest such block that
            # stands apart from the line after it (a two-line header is one block).
            block: list[tuple[int, tuple]] = []
            for k in range(min(_EDGE_LINES, len(lines))):
                i = k if where == "top" else len(lines) - 1 - k
                key = (where, k, _key(lines[i].text))
                if i in drop or key not in repeated or \
                        not _looks_running(lines[i], page, body, where):
                    break
                block.append((i, key))
            while block:
                i = block[-1][0]
                inner = i + 1 if where == "top" else i - 1
                if _detached(lines[i], lines[inner] if 0 <= inner < len(lines) else None,
                             layout):
                    drop.update(block)
                    break
                block.pop()
        if len(drop) >= len(lines):  # never a page's whole text
            drop = {i: key for i, key in drop.items() if key in page_numbers}
            if len(drop) >= len(lines):
                drop = {}
        plans.append((page, drop))

    def share(plan) -> float:
        total = sum(len(line.text) for page, _ in plan for line in page.lines)
        gone = sum(len(page.lines[i].text) for page, drop in plan for i in drop)
        return gone / total if total else 0.0

    if share(plans) > _MAX_DROPPED_SHARE:
        plans = [(page, {i: key for i, key in drop.items() if key in page_numbers})
                 for page, drop in plans]
        if share(plans) > _MAX_DROPPED_SHARE:
            return 0, 0
    dropped = pages_hit = 0
    for page, drop in plans:
        if drop:
            page.lines = [line for i, line in enumerate(page.lines) if i not in drop]
            dropped += len(drop)
            pages_hit += 1
    return dropped, pages_hit


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
# content stream. Before pdfium sees the file, every stream that is not an image (images are not
# decoded to read text) is inflated once, streaming, to count its size, whatever its dictionary
# declares: a filter given indirectly (`/Filter 6 0 R`), far from the `stream` keyword, or as a
# chain (`[/FlateDecode /FlateDecode]`, each layer inflated in turn) is counted all the same.
# This is the quick, typed refusal; the bound that holds for any file is the child process's
# memory and time limit (see `load_pdf`).
_IMAGE = re.compile(rb"/Subtype\s*/Image(?![A-Za-z])")
_SCAN_BLOCK = 8 * 1024 * 1024
_SCAN_OVERLAP = 64
_MAX_DICTIONARY = 1024 * 1024  # the most of an object looked back at for /Subtype /Image
_MAX_KEYWORD_LINE = 256  # junk pdfium skips after `stream`, up to the line end, looked through
_MAX_STREAMS = 100_000  # streams examined (10 for each of 10,000 pages); the child bounds the rest
_MAX_KEYWORDS = 2_000_000  # "stream" words looked at (with "endstream" and junk)
_MAX_LAYERS = 16  # more Flate layers than this on one stream is a bomb, whatever it unpacks to
_INFLATE_STEP = 1024 * 1024


def inflated_stream_bytes(path, limit: int) -> int:
    """Total inflated size of the non-image zlib streams, counting stops just past `limit`.

    The work is bounded whatever the file holds: one pass over it with bytes.find (a regex
    would crawl through a gigabyte of digits or spaces), each object's dictionary read once
    (back from `stream` to the previous stream, at most `_MAX_DICTIONARY`), at most
    `_MAX_KEYWORDS` `stream` words looked at and `_MAX_STREAMS` streams tried, and inflating
    stops at `limit`. What it leaves unread is bounded by the child process.
    """
    from engine.documents._files import open_binary

    total = streams = keywords = 0
    with open_binary(path) as f:
        size = os.fstat(f.fileno()).st_size
        pos = 0
        previous_end = 0  # no dictionary starts before the end of the previous `stream`
        while pos < size and total <= limit:
            f.seek(pos)
            buf = f.read(_SCAN_BLOCK + _SCAN_OVERLAP)
            if not buf:
                break
            at = buf.find(b"stream")
            while 0 <= at < _SCAN_BLOCK:
                keywords += 1
                if keywords > _MAX_KEYWORDS:
                    return total
                where = pos + at
                if (at == 0 or buf[at - 1:at] not in _LETTERS) and \
                        buf[at + 6:at + 7] not in _LETTERS and where >= previous_end:
                    dictionary_from, previous_end = previous_end, where + 6
                    data = _stream_data_start(f, where + 6)
                    if data is not None and not _is_image(f, dictionary_from, where):
                        streams += 1
                        total += _inflate_count(f, data, limit - total)
                        if total > limit or streams >= _MAX_STREAMS:
                            return total
                at = buf.find(b"stream", at + 6)
            pos += _SCAN_BLOCK
    return total


_LETTERS = frozenset(bytes([c]) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _stream_data_start(f, after_keyword: int) -> int | None:
    """Where a stream's data starts: after the end of the keyword's line, as pdfium reads it."""
    f.seek(after_keyword)
    line = f.read(_MAX_KEYWORD_LINE)
    for i, byte in enumerate(line):
        if byte == 0x0A:
            return after_keyword + i + 1
        if byte == 0x0D:
            return after_keyword + i + (2 if line[i + 1:i + 2] == b"\n" else 1)
    return None


def _is_image(f, dictionary_from: int, stream_at: int) -> bool:
    begin = max(dictionary_from, stream_at - _MAX_DICTIONARY, 0)
    f.seek(begin)
    head = f.read(stream_at - begin)
    # The object's own dictionary: after the last `obj` keyword (a stray "obj" only shortens
    # it, so that an image counts; never the reverse).
    return bool(_IMAGE.search(head, max(0, head.rfind(b"obj"))))


class _Layers:
    """Inflates zlib data, and the output again while it is zlib data too (a filter chain)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.produced = 0  # all layers together: pdfium holds each layer's output whole
        self.layers = [zlib.decompressobj()]
        self.pending: list[bytes] = [b""]  # output held until it shows whether it is zlib
        self.chained: list[bool | None] = [None]
        self.failed = False

    @property
    def done(self) -> bool:
        return self.failed or self.layers[0].eof or self.produced > self.budget

    def feed(self, data: bytes, depth: int = 0) -> None:
        layer = self.layers[depth]
        while data and self.produced <= self.budget and not layer.eof:
            try:
                out = layer.decompress(data, _INFLATE_STEP)
            except zlib.error:
                if depth == 0:
                    self.failed = True  # not zlib data: nothing for pdfium to inflate either
                return
            data = layer.unconsumed_tail
            if out:
                self.produced += len(out)
                self._pass_on(out, depth)

    def _pass_on(self, out: bytes, depth: int) -> None:
        if self.chained[depth] is None:
            self.pending[depth] += out
            head = self.pending[depth]
            if len(head) < 2:
                return
            cmf, flg = head[0], head[1]
            self.chained[depth] = (cmf & 0x0F) == 8 and (cmf << 8 | flg) % 31 == 0
            out, self.pending[depth] = head, b""
            if self.chained[depth]:
                if depth + 1 >= _MAX_LAYERS:
                    self.produced = self.budget + 1
                    return
                self.layers.append(zlib.decompressobj())
                self.pending.append(b"")
                self.chained.append(None)
        if self.chained[depth]:
            self.feed(out, depth + 1)


def _inflate_count(f, offset: int, budget: int) -> int:
    """Bytes the zlib stream at `offset` inflates to, all layers together (stops past `budget`)."""
    layers = _Layers(budget)
    f.seek(offset)
    step = 1024  # most streams that are not zlib data fail in their first two bytes
    while not layers.done:
        data = f.read(step)
        step = 64 * 1024
        if not data:
            break
        layers.feed(data)
    return layers.produced


# --- reading, in a child process ----------------------------------------------------------------------
# pdfium is not thread-safe: one document at a time in a process (only the in-process fallback
# needs this; every child reads one document).
_PDFIUM_LOCK = threading.Lock()
READ_MEMORY_BYTES = 1024 * 1024 * 1024  # what reading one PDF may take (the child's address space)
READ_SECONDS = 60.0  # and how long
_BATCH_PAGES = 32
# What one batch of pages may take as a message (its JSON is at most 12 bytes a character);
# below the sandbox's MAX_MESSAGE_BYTES.
_MAX_PAGE_MESSAGE = 48 * 1024 * 1024
# Lines of text kept in this process for one PDF (~150 bytes each, and seconds of layout work
# per million): 10,000 pages of 100 lines.
MAX_LINES = 1_000_000
_BATCH_SECONDS = 0.05
_READER = Sandbox(preload=("pypdfium2", "engine.documents.pdf"))

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


def read_pdf(send, path: str, password: str | None, max_pages: int, truncate: bool) -> None:
    """The untrusted part: pdfium opens the file and reads each page's lines.

    Sends ("open-error", code), or ("count", pages, title) and then ("pages", [page, ...]) in
    batches, a page being ("page", lines, height, has_images) with lines as (text, x0, x1,
    bottom, top) tuples, or ("page-error",) for a page pdfium could not read. Runs in the child
    process; batches (a few pages, or what 50 ms gave) spare the parent a wake-up per page.
    """
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as exc:
        send("open-error", getattr(exc, "err_code", None))
        return
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        send("open-error", 2)
        return
    try:
        count = len(doc)
        send("count", count, _title(doc))
        if count <= 0 or (count > max_pages and not truncate):
            return
        batch: list[tuple] = []
        size = 0
        sent = time.monotonic()
        for index in range(min(count, max_pages)):
            page = _read_page(pdfium, doc, index)
            page_size = sum(len(line[0]) for line in page[1]) * 12 + 96 * len(page[1]) \
                if page[0] == "page" else 0
            if page_size > _MAX_PAGE_MESSAGE:
                page = ("page-error",)  # tens of megabytes of text on one page: not a page
                page_size = 0
            if batch and size + page_size > _MAX_PAGE_MESSAGE:
                send("pages", batch)
                batch, size, sent = [], 0, time.monotonic()
            batch.append(page)
            size += page_size
            if len(batch) >= _BATCH_PAGES or time.monotonic() - sent > _BATCH_SECONDS:
                send("pages", batch)
                batch, size, sent = [], 0, time.monotonic()
        if batch:
            send("pages", batch)
    finally:
        doc.close()


def _read_page(pdfium, doc, index: int) -> tuple:
    try:
        page = doc[index]
    except pdfium.PdfiumError:
        return ("page-error",)
    try:
        textpage = page.get_textpage()
        try:
            lines = _page_lines(textpage)
        finally:
            textpage.close()
        height = page.get_height()
        has_images = not lines and _has_images(page)
        return ("page", [(line.text, line.x0, line.x1, line.bottom, line.top) for line in lines],
                height, has_images)
    except pdfium.PdfiumError:
        return ("page-error",)
    finally:
        page.close()


def _open_error(ctx, code) -> Exception:
    if code == 4:
        if ctx.options.password:
            return EncryptedDocumentError(
                f'"{ctx.name}" is an encrypted PDF and the password given is wrong. Try '
                "again with the right password.", ctx.path)
        return EncryptedDocumentError(
            f'"{ctx.name}" is an encrypted PDF protected by a password. Open it with its '
            "password, or save an unprotected copy.", ctx.path)
    if code == 5:
        return EncryptedDocumentError(
            f'"{ctx.name}" is an encrypted PDF using a protection scheme that cannot be '
            "opened here. Save an unprotected copy and open that.", ctx.path)
    if code == 2:
        return FileUnreadableError(
            f'"{ctx.name}" could not be opened for reading. Check that it still exists and '
            "that you may read it.", ctx.path)
    return CorruptDocumentError(
        f'"{ctx.name}" is not a readable PDF: it is damaged or truncated (for example an '
        "unfinished download). Download or export it again.", ctx.path)


class _Enough(Exception):
    """Stop reading: the pages collected so far are all that will be used."""


class _Collector:
    """The parent's side: turns the child's messages into pages (and errors, and progress)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.pages: list[_Page] = []
        self.unreadable: list[int] = []
        self.total = 0
        self.progress = getattr(ctx, "progress", None)
        self.refusal: Exception | None = None
        self.lines = 0
        self.chars = 0
        self.past_max_chars = False

    def __call__(self, message: tuple) -> None:
        kind, ctx, opts = message[0], self.ctx, self.ctx.options
        # The child stops by itself after these (and stays healthy for the next PDF): they are
        # raised once it is done.
        if kind == "open-error":
            self.refusal = _open_error(ctx, message[1])
            return
        if kind == "count":
            count, title = message[1], message[2]
            if count <= 0:
                self.refusal = EmptyDocumentError(f'"{ctx.name}" is a PDF with no pages.',
                                                  ctx.path)
                return
            if count > opts.max_pages:
                if not opts.truncate:
                    self.refusal = FileTooLargeError(
                        f'"{ctx.name}" has {count} pages, above the limit of {opts.max_pages}. '
                        "Split it into smaller PDFs, or load only its first pages.", ctx.path)
                    return
                ctx.warn(f"only the first {opts.max_pages} of {count} pages were loaded")
            self.total = min(count, opts.max_pages)
            ctx.title = title or ctx.path.stem
            return
        if kind != "pages":
            raise CorruptDocumentError(f'"{ctx.name}": unexpected answer from the PDF reader '
                                       f"({kind!r}).", ctx.path)
        for page in message[1]:
            if page[0] == "page":
                self._over_budget(page[1])
                self.pages.append(_Page([_Line(*line) for line in page[1]], page[2], page[3]))
            else:
                self.unreadable.append(len(self.pages) + 1)
                self.pages.append(_Page([], 0.0))
        if self.progress is not None:
            self.progress(len(self.pages), self.total)

    def _over_budget(self, lines: list[tuple]) -> None:
        """This process keeps every line until the pages are laid out: a small PDF of many
        pages of one-letter lines must not fill it. Past `MAX_LINES` lines, or past
        `max_chars` characters, the pages so far are what there is (`_Enough`)."""
        ctx, opts = self.ctx, self.ctx.options
        self.lines += len(lines)
        self.chars += sum(len(line[0]) for line in lines)
        if self.chars > opts.max_chars:
            self.past_max_chars = True  # load_document says what that means (truncate or not)
            raise _Enough
        if self.lines > MAX_LINES:
            if not opts.truncate:
                raise FileTooLargeError(
                    f'"{ctx.name}" holds more than {MAX_LINES:,} lines of text, above the limit. '
                    "Split it into smaller PDFs, or load only its first pages.", ctx.path)
            ctx.warn(f"only the first {len(self.pages)} of {self.total} pages were loaded (more "
                     f"than {MAX_LINES:,} lines of text)")
            raise _Enough



def load_pdf(ctx) -> None:
    started = time.monotonic()
    limit = ctx.options.max_decompressed_bytes
    inflated = inflated_stream_bytes(ctx.path, limit)
    if inflated > limit:
        raise ArchiveBombError(
            f'"{ctx.name}" holds compressed page content that would unpack to more than '
            f"{format_size(limit)}. It may be a decompression bomb; it was not opened. If it is "
            "genuine, raise max_decompressed_bytes.", ctx.path)
    collect = _Collector(ctx)
    args = (str(ctx.path), ctx.options.password, ctx.options.max_pages, ctx.options.truncate)
    # The pre-scan's time counts: READ_SECONDS is for the whole read.
    seconds = max(min(READ_SECONDS, 1.0), READ_SECONDS - (time.monotonic() - started))
    try:
        _READER.run(read_pdf, args, Limits(READ_MEMORY_BYTES, seconds), collect,
                    cancel=getattr(ctx, "cancel", None))
    except _Enough:
        pass
    except ChildFailed as failure:
        if failure.kind == "start":
            _read_here(ctx, collect, args, failure.detail)
        elif failure.kind == "memory":
            raise FileTooLargeError(
                f'"{ctx.name}": this PDF needs more than {format_size(READ_MEMORY_BYTES)} of memory '
                "to read; it was refused (it may be built to exhaust readers).",
                ctx.path) from None
        elif failure.kind == "time":
            raise FileTooLargeError(
                f'"{ctx.name}": reading this PDF took longer than {READ_SECONDS:g} s; it was '
                "refused (it may be built to stall readers).", ctx.path) from None
        else:
            raise CorruptDocumentError(
                f'"{ctx.name}" made the PDF reader fail ({failure.detail}); it is damaged or '
                "built to attack readers. Download or export it again.", ctx.path) from None
    if collect.refusal is not None:
        raise collect.refusal
    _build(ctx, collect)
    if collect.past_max_chars:
        # Dropped headers and joined hyphens may have kept the text itself under the limit:
        # the pages after it were not read all the same.
        raise TextLimitReached


def _read_here(ctx, collect: _Collector, args: tuple, why: str) -> None:
    """No child process can be started here (e.g. inside a daemonic worker process): read in
    this process, with only the inflate pre-scan between the file and pdfium."""
    ctx.warn(f"the PDF was read without the protection of a separate process ({why})")
    with _PDFIUM_LOCK:
        try:
            read_pdf(lambda *message: collect(message), *args)
        except _Enough:
            pass


def _build(ctx, collect: _Collector) -> None:
    pages, unreadable = collect.pages, collect.unreadable
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
    layout = measure_layout(pages)
    if ctx.options.drop_headers_footers:
        lines, hit = drop_running_lines(pages, layout)
        if lines:
            ctx.warn(f"Dropped {lines} repeated header/footer line{'s' if lines > 1 else ''} "
                     f"on {hit} page{'s' if hit > 1 else ''}.")
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
