"""HTML: the visible text only, one paragraph per block element.

The page is never executed or rendered: lxml's HTML parser streams start/end/data events into
`_VisibleText` (no tree is built, so memory stays proportional to the text kept). Skipped: head,
script, style, noscript, template and other non-text elements, and anything marked hidden
(`hidden`, `aria-hidden="true"`, inline `display:none` / `visibility:hidden`). Entities are
decoded by the parser; runs of white space collapse except inside <pre>; table rows become one
paragraph with cells joined by " | ".
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from engine.documents.text import DecodedText, decode_text, text_encoding

_SKIP = frozenset({
    "head", "script", "style", "noscript", "template", "iframe", "object", "embed", "applet",
    "canvas", "audio", "video", "select", "datalist", "map", "frameset", "frame", "button",
    "input", "textarea",
})
_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li",
    "listing", "main", "menu", "nav", "ol", "p", "plaintext", "pre", "section", "summary",
    "table", "tbody", "tfoot", "thead", "ul", "xmp", "option", "optgroup", "search",
})
_PRE = frozenset({"pre", "listing", "plaintext", "xmp"})
_CELLS = frozenset({"td", "th"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_WHITE = re.compile(r"[ \t\n\r\f]+")
_BR = "\x00"  # marks <br> in the buffer: the parser never passes NUL characters
_CHUNK = 1 << 20
# Each element costs a few microseconds of Python in the target: past this many (a 50 MB
# page of real prose has ~1 million) the page is refused, so no file can take minutes.
MAX_ELEMENTS = 8_000_000


class TooManyElements(Exception):
    """Raised by the parser target past MAX_ELEMENTS (caught in `extract_html`)."""


def _hidden(attrib) -> bool:
    if "hidden" in attrib:
        return True
    if attrib.get("aria-hidden", "").strip().lower() == "true":
        return True
    style = attrib.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


class _VisibleText:
    """An lxml parser target that turns events into paragraphs passed to `emit`."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self.elements = 0
        self._stack: list[str] = []
        self._skip_at: int | None = None  # stack depth where a skipped element opened
        self._buf: list[str] = []
        self._has_text = False
        self._raw = False  # buffer holds <pre> text: keep its white space
        self._pre = 0
        self._cells = 0
        self._title_parts: list[str] | None = None
        self._title_done = False
        self._h1_parts: list[str] | None = None
        self.title = ""
        self.first_h1 = ""

    # --- parser target interface ----------------------------------------------------------------
    def start(self, tag, attrib) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise TooManyElements
        tag = tag.lower() if isinstance(tag, str) else ""
        tag = tag.rpartition(":")[2]
        self._stack.append(tag)
        if tag == "title" and not self._title_done and "svg" not in self._stack[-8:]:
            self._title_parts = []
        if self._skip_at is not None:
            return
        if tag in _SKIP or (attrib and _hidden(attrib)):
            self._skip_at = len(self._stack)
            return
        if tag == "h1" and not self.first_h1 and self._h1_parts is None:
            self._h1_parts = []
        if tag in _CELLS:
            if self._has_text:
                self._buf.append(" | ")
            self._cells += 1
        elif tag == "tr":
            self._break()
        elif tag == "br":
            self._buf.append(" " if self._cells else _BR)
        elif tag in _BLOCK:
            self._break()
        if tag in _PRE:
            self._pre += 1

    def end(self, tag) -> None:
        tag = tag.lower() if isinstance(tag, str) else ""
        tag = tag.rpartition(":")[2]
        stack = self._stack
        if stack and stack[-1] == tag:
            self._close(stack.pop())
            return
        # Unbalanced end tag: close up to the nearest open element of that name, if any.
        for depth in range(len(stack) - 1, max(-1, len(stack) - 64), -1):
            if stack[depth] == tag:
                while len(stack) > depth:
                    self._close(stack.pop())
                return

    def _close(self, tag: str) -> None:
        depth = len(self._stack) + 1  # depth the element had while open
        if tag == "title" and self._title_parts is not None:
            self.title = _WHITE.sub(" ", "".join(self._title_parts)).strip()
            self._title_parts = None
            self._title_done = bool(self.title)
        if self._skip_at is not None:
            if depth == self._skip_at:
                self._skip_at = None
            return
        if tag == "h1" and self._h1_parts is not None:
            self.first_h1 = _WHITE.sub(" ", "".join(self._h1_parts)).strip()
            self._h1_parts = None
        if tag in _PRE:
            self._pre = max(0, self._pre - 1)
        if tag in _CELLS:
            self._cells = max(0, self._cells - 1)
        elif tag == "tr" or tag in _BLOCK:
            self._break()

    def data(self, text) -> None:
        if self._title_parts is not None:
            self._title_parts.append(text)
        if self._skip_at is not None:
            return
        if self._h1_parts is not None:
            self._h1_parts.append(text)
        if self._pre and not self._cells:
            self._raw = True
        self._buf.append(text)
        if not self._has_text and not text.isspace():
            self._has_text = True

    def close(self) -> None:
        self._break(force=True)

    # --- paragraphs -----------------------------------------------------------------------------
    def _break(self, force: bool = False) -> None:
        if self._cells and not force:
            self._buf.append(" ")  # blocks inside a table cell stay in the row
            return
        if not self._buf:
            return
        text = "".join(self._buf)
        self._buf.clear()
        if self._raw:
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace(_BR, "\n")
        elif _BR in text:
            text = "\n".join(" ".join(line.split()) for line in text.split(_BR))
        else:
            text = " ".join(text.split())  # collapses all white space, no-break spaces too
        self._raw = False
        self._has_text = False
        if "\xa0" in text:
            text = text.replace("\xa0", " ")
        if text and not text.isspace():
            self._emit(text)


def extract_html(text: str, emit: Callable[[str], None], *, name: str = "The page",
                 path=None) -> tuple[str, str]:
    """Feed HTML `text` through the parser; paragraphs go to `emit`. -> (title, first <h1>).

    More than MAX_ELEMENTS elements: FileTooLargeError (`name` and `path` say whose).
    """
    from lxml import etree

    target = _VisibleText(emit)
    parser = etree.HTMLParser(target=target, recover=True, no_network=True, remove_pis=True,
                              remove_comments=True, huge_tree=True)
    try:
        for i in range(0, len(text), _CHUNK):
            parser.feed(text[i:i + _CHUNK])
        parser.close()
    except etree.LxmlError as exc:
        if _too_many(exc):
            raise _too_many_error(name, path) from None
        # recover=True makes syntax errors rare; what was read so far is kept.
        target.close()
    except TooManyElements:
        raise _too_many_error(name, path) from None
    return target.title, target.first_h1


def _too_many(exc: BaseException) -> bool:
    # lxml may wrap an exception raised inside the target.
    seen = exc
    while seen is not None:
        if isinstance(seen, TooManyElements):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _too_many_error(name: str, path):
    from engine.documents.errors import FileTooLargeError

    return FileTooLargeError(f"{name} holds more than {MAX_ELEMENTS:,} HTML elements, far more "
                             "than any real page. Split it into smaller files.", path)


# --- decoding -------------------------------------------------------------------------------------
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([-\w.:]+)", re.IGNORECASE)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([-\w.:]+)", re.IGNORECASE)
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii",
                        "us-ascii", "windows-1252", "cp1252", "iso_8859-1", "cp819"}


def declared_encoding(data: bytes) -> str | None:
    """The encoding named by a <meta charset> or an XML declaration in the first 4 KB."""
    head = data[:4096]
    match = _XML_DECL.match(head) or _META_CHARSET.search(head)
    if not match:
        return None
    label = match.group(1).decode("ascii", "ignore").strip().lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    name = text_encoding(label)  # "zlib", "bz2"... are not charsets: ignored
    if name is None:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # bytes we can read as ASCII cannot be UTF-16: the label is wrong
    return name


def decode_html(data: bytes, encoding: str | None = None, *, truncated: bool = False,
                ) -> DecodedText:
    """HTML bytes to text: a BOM wins, then <meta charset>, then the text detector."""
    if encoding is None and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                                 codecs.BOM_UTF16_BE)):
        declared = declared_encoding(data)
        if declared is not None:
            try:
                text = codecs.getincrementaldecoder(declared)("strict").decode(
                    data, final=not truncated)
                return DecodedText(text.replace("\r\n", "\n").replace("\r", "\n"), declared)
            except UnicodeDecodeError:
                pass  # mislabelled: let the detector decide
    return decode_text(data, encoding, truncated=truncated)


def load_html(ctx) -> None:
    data, truncated = ctx.read_all()
    decoded = decode_html(data, ctx.options.encoding, truncated=truncated)
    for message in decoded.warnings:
        ctx.warn(message)
    del data
    title, h1 = extract_html(decoded.text, ctx.builder.add, name=f'"{ctx.name}"',
                             path=ctx.path)
    ctx.title = title or h1 or ctx.path.stem
