"""Documents in, one plain text out: `load_document(path)` -> `Document`.

Formats: plain text (any common encoding), Markdown, HTML, PDF, DOCX and EPUB. The format comes
from the file extension, checked against the content; unknown extensions are sniffed. Whatever
goes wrong, the caller gets a `DocumentError` subclass (see `engine.documents.errors`) whose
message names the file and says what to do, within bounded time and memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.documents import sniff as _sniff
from engine.documents._context import LoadContext, LoadOptions
from engine.documents._files import FileInfo, inspect_file, read_bytes
from engine.documents.document import (
    PLAIN,
    Document,
    ParagraphKind,
    RangeList,
    TextBuilder,
    TextLimitReached,
    TextRange,
)
from engine.documents.errors import (
    ArchiveBombError,
    CorruptDocumentError,
    DocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    FileTooLargeError,
    FileUnreadableError,
    NoTextLayerError,
    UnsupportedFormatError,
)
from engine.documents.text import codec_name, decode_text
from engine.sizes import format_size

FORMAT_NAMES = {
    "text": "plain text", "markdown": "Markdown", "html": "HTML", "pdf": "PDF",
    "docx": "a Word document (DOCX)", "epub": "an EPUB book",
}
_SUPPORTED = "plain text, Markdown, HTML, PDF, Word (.docx) and EPUB"
# HTML, DOCX and EPUB are read element by element, a few microseconds of Python each: past
# this many paragraphs (a 10,000-page book has ~300,000) the file is refused, or with
# `truncate` cut, so that no file takes minutes. Plain text and Markdown cost far less a
# paragraph and have no such cap (their size limits bound them).
MAX_PARAGRAPHS = 1_000_000
_ELEMENT_FORMATS = ("html", "docx", "epub")
# Plain text and Markdown paragraphs are found in C at 8 bytes each; this cap only keeps a
# 200 MB file of one-letter lines (100 million of them) within the memory promise.
MAX_TEXT_PARAGRAPHS = 20_000_000


def _loader(fmt: str):
    if fmt == "text":
        from engine.documents.text import load_text as load
    elif fmt == "markdown":
        from engine.documents.markdown import load_markdown as load
    elif fmt == "html":
        from engine.documents.html import load_html as load
    elif fmt == "pdf":
        from engine.documents.pdf import load_pdf as load
    elif fmt == "docx":
        from engine.documents.docx import load_docx as load
    else:
        from engine.documents.epub import load_epub as load
    return load


def load_document(path: str | os.PathLike, **options: Any) -> Document:
    """Read a document file into one `Document` (text, title, paragraph and page ranges).

    Options (all keyword-only, all optional):

    - `max_bytes` (200 MiB): the largest text, Markdown or HTML file read. Above it:
      `FileTooLargeError`, or with `truncate=True` the first `max_bytes` are loaded and a warning
      says so. The file is never read whole before this check: a 2 GB file costs nothing.
    - `truncate` (False): load the beginning of a document that is over a limit (`max_bytes`,
      `max_chars`, `max_pages`) instead of refusing it; `Document.warnings` says what was cut.
    - `max_file_bytes` (1 GiB): the largest PDF, DOCX or EPUB file opened.
    - `max_decompressed_bytes` (256 MiB): the most a DOCX or EPUB may unpack to, all parts
      together, counted while unpacking (not trusting the sizes the ZIP declares), and the most
      a PDF's compressed non-image streams (page content, fonts) may inflate to: above it,
      `ArchiveBombError`. `max_archive_entries` (10,000): the most files such a ZIP may hold.
    - `max_chars` (200 million): the most characters of text kept, for any format.
    - `max_pages` (10,000): the most PDF pages read.
    - `max_markdown_bytes` (16 MiB): larger Markdown is shown as plain text (with a warning).
    - `password`: for an encrypted PDF. Without it (or with a wrong one):
      `EncryptedDocumentError`.
    - `encoding`: force a text encoding (text, Markdown, HTML) instead of detecting it.
    - `format`: force a format ("text", "markdown", "html", "pdf", "docx", "epub").
    - `drop_headers_footers` (True): drop PDF running headers/footers repeated on many pages.

    Errors (all `engine.errors.DocumentError`): `FileUnreadableError` (missing, folder, broken
    link, device or pipe, no permission), `EmptyDocumentError`, `UnsupportedFormatError`
    (binary, image, archive, old .doc), `FileTooLargeError`, `EncryptedDocumentError`,
    `NoTextLayerError` (scanned PDF), `CorruptDocumentError` (truncated or malformed),
    `ArchiveBombError`. No other exception escapes for a bad file; bad options raise
    `TypeError` / `ValueError`.
    """
    opts = LoadOptions.from_kwargs(options)
    if opts.encoding is not None:
        codec_name(opts.encoding)  # ValueError for an unknown or non-text codec
    if opts.format is not None and opts.format not in _sniff.FORMATS:
        raise ValueError(f"format must be one of {', '.join(_sniff.FORMATS)}, "
                         f"not {opts.format!r}")
    path = Path(os.fsdecode(path)).expanduser().absolute()
    info = inspect_file(path)
    if not info.head:
        raise EmptyDocumentError(f'"{info.name}" is empty (0 bytes). Choose a file with text in '
                                 "it.", path)
    ctx = LoadContext(info=info, options=opts, builder=TextBuilder(opts.max_chars))
    fmt = opts.format
    try:
        fmt = fmt or _choose_format(ctx)
        if fmt in (_sniff.PDF, _sniff.DOCX, _sniff.EPUB):
            _check_file_size(ctx, fmt)
        if fmt in _ELEMENT_FORMATS:
            ctx.builder.max_paragraphs = MAX_PARAGRAPHS
        elif fmt in ("text", "markdown"):
            ctx.builder.max_paragraphs = MAX_TEXT_PARAGRAPHS
        _loader(fmt)(ctx)
    except TextLimitReached as reached:
        if reached.args == ("paragraphs",):
            cap = ctx.builder.max_paragraphs
            if not opts.truncate:
                raise FileTooLargeError(
                    f'"{info.name}" holds more than {cap:,} paragraphs, far more than a book. '
                    "Split it into smaller files, or load only its beginning.", path) from None
            ctx.warn(f"only the first {cap:,} paragraphs were loaded")
        else:
            if not opts.truncate:
                raise FileTooLargeError(
                    f'"{info.name}" holds more than {opts.max_chars:,} characters of text, above '
                    "the limit. Split it into smaller files, or load only its beginning.",
                    path) from None
            ctx.warn(f"only the first {opts.max_chars:,} characters of text were loaded")
    except DocumentError:
        raise
    except MemoryError:
        raise FileTooLargeError(f'"{info.name}" is too large to load in the memory available. '
                                "Split it into smaller files.", path) from None
    except Exception as exc:  # the last line of defence: never leak a library error
        what = FORMAT_NAMES.get(fmt or "", "a document")
        raise CorruptDocumentError(
            f'"{info.name}" could not be read as {what}: it seems damaged '
            f"({type(exc).__name__}: {exc}). Try re-saving or re-downloading it.", path) from exc
    text, paragraphs, pages = ctx.builder.build()
    if not paragraphs:
        raise EmptyDocumentError(f'"{info.name}" contains no text (only white space or markup).',
                                 path)
    return Document(text=text, title=ctx.title or path.stem, paragraphs=paragraphs,
                    pages=pages if fmt == "pdf" else [], path=path, format=fmt,
                    warnings=ctx.warnings, kinds=ctx.builder.kinds or [])


def _check_file_size(ctx: LoadContext, fmt: str) -> None:
    info, limit = ctx.info, ctx.options.max_file_bytes
    if info.size > limit:
        raise FileTooLargeError(
            f'"{info.name}" is {format_size(info.size)}, above the {format_size(limit)} limit for '
            f"{fmt.upper()} files. Split it into smaller files, or raise the limit "
            "(max_file_bytes).", info.path)


def _choose_format(ctx: LoadContext) -> str:
    info = ctx.info
    by_extension = _sniff.extension_format(info.path.suffix)
    sniffed = _sniff.sniff(info.head)
    kind = sniffed.kind
    if kind in (_sniff.PDF, _sniff.ZIP, _sniff.OLE):
        _check_file_size(ctx, by_extension if by_extension in _sniff.FORMATS[3:] else
                         {"pdf": "pdf", "zip": "zip", "ole": "office"}[kind])
    if kind == _sniff.ZIP:
        sniffed = _zip_kind(ctx)
        kind = sniffed.kind
        if kind == _sniff.ZIP:
            raise UnsupportedFormatError(
                f'"{info.name}" is {sniffed.description}, which cannot be read here. Supported '
                f"formats: {_SUPPORTED}.", info.path)
    if kind == _sniff.OLE:
        if _ole_encrypted(info):
            raise EncryptedDocumentError(
                f'"{info.name}" is a password-protected Office document. Remove the password '
                "(in Word: File > Info > Protect Document) and save it again.", info.path)
        raise UnsupportedFormatError(
            f'"{info.name}" is an old-style Office file (.doc/.xls/.ppt, Office 97-2003). Save '
            "it as .docx (File > Save As) and open that.", info.path)
    if kind == _sniff.BINARY:
        if by_extension in (_sniff.PDF, _sniff.DOCX, _sniff.EPUB) and \
                sniffed.description == "a binary file":
            raise CorruptDocumentError(
                f'"{info.name}" is not a valid {by_extension.upper()} file: its content is '
                "unreadable binary data. It may be damaged; download or export it again.",
                info.path)
        raise UnsupportedFormatError(
            f'"{info.name}" is {sniffed.description}, not a document with text. Supported '
            f"formats: {_SUPPORTED}.", info.path)
    if kind in (_sniff.PDF, _sniff.DOCX, _sniff.EPUB):
        if by_extension is not None and by_extension != kind:
            ctx.warn(f"the file is named {info.path.suffix} but contains {sniffed.description}; "
                     "it was read as such")
        return kind
    # Text or HTML content.
    if by_extension in (_sniff.PDF, _sniff.DOCX, _sniff.EPUB):
        if kind == _sniff.HTML:
            ctx.warn(f"the file is named {info.path.suffix} but contains a web page (HTML); it "
                     "was read as HTML")
            return _sniff.HTML
        raise CorruptDocumentError(
            f'"{info.name}" is not a valid {by_extension.upper()} file: it holds plain text '
            "instead. It may be an error page saved by mistake; download or export it again.",
            info.path)
    return by_extension or kind


def _zip_kind(ctx: LoadContext) -> _sniff.Sniffed:
    from engine.documents._archive import BoundedZip

    opts = ctx.options
    kind = {".docx": "Word document", ".docm": "Word document", ".epub": "EPUB book"}.get(
        ctx.path.suffix.lower(), "ZIP package")
    with BoundedZip(ctx.path, kind, opts.max_decompressed_bytes,
                    opts.max_archive_entries) as archive:
        return _sniff.zip_kind(archive.names())


def _ole_encrypted(info: FileInfo) -> bool:
    data = read_bytes(info.path, 4 * 1024 * 1024)
    return "EncryptedPackage".encode("utf-16-le") in data


__all__ = [
    "MAX_PARAGRAPHS",
    "MAX_TEXT_PARAGRAPHS",
    "PLAIN",
    "ArchiveBombError",
    "CorruptDocumentError",
    "Document",
    "DocumentError",
    "EmptyDocumentError",
    "EncryptedDocumentError",
    "FileTooLargeError",
    "FileUnreadableError",
    "LoadOptions",
    "NoTextLayerError",
    "ParagraphKind",
    "RangeList",
    "TextRange",
    "UnsupportedFormatError",
    "decode_text",
    "load_document",
]
