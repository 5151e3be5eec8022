"""Hostile inputs for the non-PDF loaders, small on disk, built on the spot.

Shared by tests/test_documents_loaders_*.py and benchmarks/document_loading.py. Every maker
writes one file and returns its path; nothing is downloaded.
"""

from __future__ import annotations

import bz2
import json
import lzma
import os
import resource
import subprocess
import sys
import zlib
from pathlib import Path

from tests import document_factory as factory

REPO = Path(__file__).resolve().parents[1]
GiB = 1 << 30
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCX_HEAD = (f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'
             ).encode()
DOCX_TAIL = b"</w:body></w:document>"


# --- compressed streams -------------------------------------------------------------------------------
def bzip2_bomb(copies: int, block_bytes: int = 45_000_000) -> bytes:
    """A bzip2 stream of `copies` x `block_bytes` zero bytes, ~36 bytes a copy.

    bzip2 blocks are bit-aligned, so one compressed block is repeated at the bit level and the
    stream's combined CRC recomputed: 4.5 GB of zeros fit in 3.6 KB without compressing them.
    """
    one = bz2.compress(b"\0" * block_bytes, 9)
    bits = format(int.from_bytes(one, "big"), f"0{len(one) * 8}b")
    end_marker = format(0x177245385090, "048b")
    end = bits.rfind(end_marker)
    block = bits[32:end]  # after "BZh9", up to the end-of-stream marker
    if bits[32:80] != format(0x314159265359, "048b") or bits.count(end_marker) != 1:
        raise RuntimeError("unexpected bzip2 layout")
    block_crc = int(block[48:80], 2)
    combined = 0
    for _ in range(copies):
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ block_crc
    out = bits[:32] + block * copies + end_marker + format(combined, "032b")
    out += "0" * (-len(out) % 8)
    return int(out, 2).to_bytes(len(out) // 8, "big")


def zip_lzma(data: bytes) -> bytes:
    """`data` as a ZIP method-14 (LZMA) member body: version, properties, raw LZMA1 stream."""
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 20}]
    props = lzma._encode_filter_properties(filters[0])
    raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
    return bytes([9, 4]) + len(props).to_bytes(2, "little") + props + raw


def deflate_zeros(total: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """Raw deflate of `total` zero bytes, made by repeating one fully-flushed block (a full
    flush is byte-aligned and resets the window), so it costs one chunk's compression."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\0" * chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    copies, rest = divmod(total, chunk)
    tail = compressor.compress(b"\0" * rest) + compressor.flush(zlib.Z_FINISH)
    return block * copies + tail, copies


def zlib_charset_html(path: Path, inflated: int) -> Path:
    """An HTML file that is also a zlib stream inflating to `inflated` bytes: its first
    (stored, so literal) block is a page that says `<meta charset="zlib">`."""
    page = ('<html><head><meta charset="zlib"><title>Packed</title></head><body>'
            + "<p>Visible words of a page that names a compressor as its charset.</p>\n" * 1200)
    literal = page.encode("ascii")[:65535]  # one stored block, longer than the sniffed head
    deflated, copies = deflate_zeros(inflated)
    del copies
    adler = zlib.adler32(literal)
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + inflated * a) % 65521  # Adler-32 over zero bytes: the sum of sums grows by a each
    adler = (b << 16) | a
    stored = b"\x00" + len(literal).to_bytes(2, "little") + \
        (len(literal) ^ 0xFFFF).to_bytes(2, "little") + literal
    path.write_bytes(b"\x78\x01" + stored + deflated + adler.to_bytes(4, "big"))
    return path


# --- packages -------------------------------------------------------------------------------------------
def docx_with_member(path: Path, body: bytes, method: int, *, declare: int,
                     crc: int = 0) -> Path:
    """A .docx whose word/document.xml is `body` as stored in the ZIP, with `method`."""
    return factory.raw_zip(path, [
        factory.stored_entry("[Content_Types].xml", b"<Types/>"),
        factory.stored_entry("_rels/.rels", b"<Relationships/>"),
        ("word/document.xml", body, crc, declare, method),
    ])


_OPF = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
        "</metadata><manifest>{items}</manifest><spine>{refs}</spine></package>")


def epub_with_chapter(path: Path, chapter: bytes, method: int, *, declare: int,
                      crc: int = 0, extra: list | None = None) -> Path:
    """An EPUB of one chapter stored as `chapter` (already compressed with `method`)."""
    opf = _OPF.format(title="Packed", items='<item id="c1" href="c1.xhtml" '
                      'media-type="application/xhtml+xml"/>', refs='<itemref idref="c1"/>')
    return factory.raw_zip(path, [
        factory.stored_entry("mimetype", b"application/epub+zip"),
        factory.stored_entry("META-INF/container.xml", factory._CONTAINER.encode()),
        factory.stored_entry("OEBPS/content.opf", opf.encode()),
        ("OEBPS/c1.xhtml", chapter, crc, declare, method),
        *(extra or []),
    ])


def epub_with_missing_chapters(path: Path, missing: int, filler: int) -> Path:
    """An EPUB with one real chapter, `missing` spine items whose files are absent, and
    `filler` unrelated files (the case that was entries x missing items)."""
    items = ['<item id="real" href="real.xhtml" media-type="application/xhtml+xml"/>']
    refs = ['<itemref idref="real"/>']
    for i in range(missing):
        items.append(f'<item id="m{i}" href="gone/m{i}.xhtml" '
                     'media-type="application/xhtml+xml"/>')
        refs.append(f'<itemref idref="m{i}"/>')
    opf = _OPF.format(title="Holes", items="".join(items), refs="".join(refs))
    entries = [
        factory.stored_entry("mimetype", b"application/epub+zip"),
        factory.stored_entry("META-INF/container.xml", factory._CONTAINER.encode()),
        factory.stored_entry("OEBPS/content.opf", opf.encode()),
        factory.stored_entry("OEBPS/real.xhtml", factory.chapter_xhtml(
            "Real", ["The only chapter that is there."]).encode()),
    ]
    entries += [factory.stored_entry(f"OEBPS/img/f{i}.png", b"x") for i in range(filler)]
    return factory.raw_zip(path, entries)


def _deflate_repeated(head: bytes, unit: bytes, count: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate (+ CRC, size) of head + unit * count + tail, compressed piece by piece."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    per = max(1, (1 << 20) // len(unit))
    piece = unit * per
    parts, crc, size = [compressor.compress(head)], zlib.crc32(head), len(head)
    left = count
    while left > 0:
        block = piece if left >= per else unit * left
        parts.append(compressor.compress(block))
        crc = zlib.crc32(block, crc)
        size += len(block)
        left -= per
    parts.append(compressor.compress(tail))
    parts.append(compressor.flush())
    return b"".join(parts), zlib.crc32(tail, crc), size + len(tail)


def tiny_paragraph_docx(path: Path, count: int) -> Path:
    """A .docx of `count` one-letter paragraphs (~36 bytes of XML each, ~1/500 on disk)."""
    body, crc, size = _deflate_repeated(DOCX_HEAD, b"<w:p><w:r><w:t>a</w:t></w:r></w:p>", count,
                                        DOCX_TAIL)
    return docx_with_member(path, body, 8, declare=size, crc=crc)


def tiny_element_epub(path: Path, count: int) -> Path:
    """An EPUB whose one chapter holds `count` one-letter paragraphs."""
    head = (b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            b"<head><title>Tiny</title></head><body>")
    body, crc, size = _deflate_repeated(head, b"<p>a</p>", count, b"</body></html>")
    return epub_with_chapter(path, body, 8, declare=size, crc=crc)


def tiny_paragraph_text(path: Path, size: int) -> Path:
    """Plain text of one-letter paragraphs: "a\\n\\n" repeated to `size` bytes."""
    with open(path, "wb") as f:
        f.write(b"a\n\n" * (size // 3))
    return path


def tiny_line_text(path: Path, size: int) -> Path:
    """Plain text of one-letter lines, no blank line: one paragraph per line."""
    with open(path, "wb") as f:
        f.write(b"a\n" * (size // 2))
    return path


def tiny_element_html(path: Path, size: int) -> Path:
    """HTML of one-letter paragraphs: "<p>a</p>" repeated to `size` bytes."""
    with open(path, "wb") as f:
        f.write(b"<html><body>")
        f.write(b"<p>a</p>" * (size // 8))
        f.write(b"</body></html>")
    return path


def br_spam_html(path: Path, size: int) -> Path:
    """HTML of nothing but line breaks: "<br>" repeated to `size` bytes."""
    with open(path, "wb") as f:
        f.write(b"<html><body><p>x")
        f.write(b"<br>" * (size // 4))
        f.write(b"</p></body></html>")
    return path


def empty_paragraph_docx(path: Path, count: int) -> Path:
    """A .docx of `count` empty paragraphs ("<w:p/>", 6 bytes each)."""
    body, crc, size = _deflate_repeated(DOCX_HEAD, b"<w:p/>", count, DOCX_TAIL)
    return docx_with_member(path, body, 8, declare=size, crc=crc)


def run_spam_docx(path: Path, count: int) -> Path:
    """A .docx of one paragraph with `count` empty runs ("<w:r/>")."""
    body, crc, size = _deflate_repeated(DOCX_HEAD + b"<w:p>", b"<w:r/>", count,
                                        b"</w:p>" + DOCX_TAIL)
    return docx_with_member(path, body, 8, declare=size, crc=crc)


def tiny_paragraph_markdown(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(b"a\n\n" * (size // 3))
    return path


def deep_markdown(list_depth: int = 30, quote_depth: int = 60) -> str:
    """A list nested `list_depth` deep and a quote `quote_depth` deep, then a paragraph."""
    lines = ["# Deep", ""]
    lines += ["  " * i + f"- item {i}" for i in range(list_depth)]
    lines += [""]
    lines += ["> " * (i + 1) + f"quote {i}" for i in range(quote_depth)]
    lines += ["", "The paragraph after them."]
    return "\n".join(lines) + "\n"


# --- loading in a child under a memory cap --------------------------------------------------------------
_CHILD = """
import json, resource, sys, time
limit = int(sys.argv[3])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from engine.documents import load_document
started = time.perf_counter()
try:
    doc = load_document(sys.argv[1], **json.loads(sys.argv[2]))
    out = {"type": "Document", "chars": len(doc.text), "paragraphs": len(doc.paragraphs),
           "warnings": doc.warnings, "head": doc.text[:200]}
except BaseException as exc:
    out = {"type": type(exc).__name__, "message": str(exc)}
out["seconds"] = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_seconds"] = usage.ru_utime + usage.ru_stime
try:  # this process's own high-water mark (ru_maxrss keeps the parent's across exec)
    with open("/proc/self/status") as f:
        out["peak_rss"] = next(int(line.split()[1]) * 1024 for line in f
                               if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    out["peak_rss"] = usage.ru_maxrss * 1024
print(json.dumps(out))
"""


def load_in_child(path: Path, *, address_space: int = GiB, timeout: float = 300,
                  **options) -> dict:
    """load_document(path, **options) in a fresh Python under RLIMIT_AS = `address_space`
    (0: none). -> {"type": "Document" or the exception's class name, "message", "chars",
    "paragraphs", "warnings", "head", "seconds", "cpu_seconds", "peak_rss" (bytes)}; a child that dies
    (killed, crashed) gives {"type": "died", "message": its stderr}."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), json.dumps(options), str(address_space)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"type": "died", "message": f"rc={proc.returncode}: {proc.stderr[-2000:]}"}


def self_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
