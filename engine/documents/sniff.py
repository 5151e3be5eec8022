"""Tells a file's format from its first bytes (and, for ZIP files, from the names inside)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# Formats this package reads.
TEXT, MARKDOWN, HTML, PDF, DOCX, EPUB = "text", "markdown", "html", "pdf", "docx", "epub"
FORMATS = (TEXT, MARKDOWN, HTML, PDF, DOCX, EPUB)
# Containers that need a look inside, and everything else.
ZIP, OLE, BINARY = "zip", "ole", "binary"

EXTENSIONS = {
    ".txt": TEXT, ".text": TEXT, ".log": TEXT, ".csv": TEXT, ".tsv": TEXT, ".rst": TEXT,
    ".md": MARKDOWN, ".markdown": MARKDOWN, ".mdown": MARKDOWN, ".mkd": MARKDOWN,
    ".mkdn": MARKDOWN, ".mdwn": MARKDOWN, ".mdtxt": MARKDOWN,
    ".html": HTML, ".htm": HTML, ".xhtml": HTML, ".xht": HTML, ".shtml": HTML,
    ".pdf": PDF,
    ".docx": DOCX, ".docm": DOCX, ".dotx": DOCX, ".dotm": DOCX,
    ".epub": EPUB,
}

# Binary signatures at offset 0 -> what a person would call the file.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg media file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x00asm", "a WebAssembly module"),
    (b"{\\rtf", "an RTF document"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)

_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
         codecs.BOM_UTF16_BE)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c\x1b") + b"\x7f"
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
                         re.IGNORECASE | re.DOTALL)
_HTML_ANYWHERE = re.compile(rb"<(?:html|head|body)[\s>]|<meta\s[^>]*charset", re.IGNORECASE)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # one of FORMATS, ZIP, OLE or BINARY
    description: str  # for messages: "a PNG image", "HTML", "text"...


def extension_format(suffix: str) -> str | None:
    return EXTENSIONS.get(suffix.lower())


def sniff(head: bytes) -> Sniffed:
    """What the first bytes of a file say it is."""
    if b"%PDF-" in head[:1024]:
        return Sniffed(PDF, "a PDF document")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return Sniffed(ZIP, "a ZIP archive")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Sniffed(OLE, "an old-style Microsoft Office file")
    for magic, description in _MAGIC:
        if head.startswith(magic):
            return Sniffed(BINARY, description)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return Sniffed(BINARY, "an audio or video file")
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return Sniffed(BINARY, "an image, audio or video file")
    if head.startswith(b"MZ") and b"\x00" in head[:256]:
        return Sniffed(BINARY, "a Windows program")
    if looks_binary(head):
        return Sniffed(BINARY, "a binary file")
    if looks_like_html(head):
        return Sniffed(HTML, "HTML")
    return Sniffed(TEXT, "text")


def looks_binary(head: bytes) -> bool:
    """True for bytes that are not text in any encoding we read (many NULs or controls)."""
    if not head or head.startswith(_BOMS):
        return False
    from engine.documents.text import guess_utf16_or_32

    if guess_utf16_or_32(head) is not None:
        return False
    nul = head.count(b"\x00")
    if nul > max(1, len(head) // 100):  # more than 1% NUL bytes
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > len(head) // 10


def looks_like_html(head: bytes) -> bool:
    sample = head[:4096]
    if sample.startswith(codecs.BOM_UTF8):
        sample = sample[3:]
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            sample = sample.decode("utf-16", "ignore").encode("utf-8")
        except UnicodeError:
            return False
    if _HTML_START.match(sample):
        return True
    if sample.lstrip().startswith(b"<?xml") and re.search(rb"<html[\s>]", sample, re.IGNORECASE):
        return True
    return bool(sample.lstrip().startswith(b"<") and _HTML_ANYWHERE.search(sample))


def zip_kind(names: list[str]) -> Sniffed:
    """What a ZIP file holds, from its member names."""
    name_set = set(names)
    if "META-INF/container.xml" in name_set or "mimetype" in name_set and any(
            n.endswith(".opf") for n in names):
        return Sniffed(EPUB, "an EPUB book")
    if "word/document.xml" in name_set or any(n.startswith("word/") for n in names):
        return Sniffed(DOCX, "a Word document")
    if any(n.startswith("xl/") for n in names):
        return Sniffed(ZIP, "an Excel workbook")
    if any(n.startswith("ppt/") for n in names):
        return Sniffed(ZIP, "a PowerPoint presentation")
    if "content.xml" in name_set and "mimetype" in name_set:
        return Sniffed(ZIP, "an OpenDocument file")
    return Sniffed(ZIP, "a ZIP archive")
