"""Markdown: the file's own text, with paragraphs and headings found by a Markdown parser.

`Document.text` is the decoded file, markup and all (line endings made "\\n"), so every offset
indexes the file. markdown-it-py (CommonMark, plus tables and strikethrough) finds the blocks;
each becomes a paragraph range into the text, with a `ParagraphKind`:

- a heading: its text after the "#" marks (a setext heading: its lines, not the underline);
- a paragraph: its lines, from the first to the last character of its content, so a list
  item's range starts after its bullet, and a quote's after its first ">" (a ">" starting a
  later line of the same paragraph stays inside the range);
- a table row: the row without its outer pipes ("alpha | 1");
- a code block: the code, without the fences;
- a raw HTML block: each piece of its visible text that appears as it is in the source, else
  the whole block.

Inline markup (`**bold**`, `[link](url)`, `` `code` ``) stays inside the ranges: it is the
file's text. Front matter (`---` YAML at the top) is not a paragraph; its `title:` is used.
Files above `max_markdown_bytes` are read as plain text (with a warning), and so is whatever
is left when parsing has taken `PARSE_SECONDS` (hostile input such as 100,000 "[" parses a
hundred times slower than prose), and any line the parser skipped because it is nested deeper
than `MAX_NESTING` lists or quotes: such text is never dropped, and a warning says so.
"""

from __future__ import annotations

import re
import time
from array import array
from functools import lru_cache

from engine.documents.document import PLAIN, ParagraphKind
from engine.documents.html import extract_html
from engine.documents.text import (
    paragraph_runs,
    plain_text_ranges,
    plain_text_spans,
    read_decoded,
)
from engine.sizes import format_size

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
_INLINE_TEXT = {"text": None, "code_inline": None}
# markdown-it stops descending (and skips what is deeper) past this many open blocks.
MAX_NESTING = 40


def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable(
        ["table", "strikethrough"])


def split_front_matter(text: str) -> tuple[str, int]:
    """(title from the front matter or "", offset where the Markdown body starts)."""
    match = _FRONT_MATTER.match(text)
    if not match or match.end() > 64 * 1024:
        return "", 0
    title_match = _FM_TITLE.search(match.group(1))
    title = title_match.group(1).strip().strip("\"'") if title_match else ""
    return title, match.end()


def _inline(token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        kind = child.type
        if kind in _INLINE_TEXT:
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CHUNK_CHARS = 64 * 1024
# Pathological Markdown ("[[[[...") parses ~100x slower than prose: parsing stops after this
# many seconds and the rest is read as plain text, so no file can take long.
PARSE_SECONDS = 5.0


def _chunks(text: str, start: int = 0, size: int | None = None):
    """(start, end) pieces of about `size` characters, cut at blank lines outside code fences.

    Inside a long code fence, a piece is cut at a line end once it reaches 4 x `size`; a huge
    single line is cut near `size`, at a space if it has one.
    """
    size = size or CHUNK_CHARS
    n = len(text)
    while start < n:
        if n - start <= size:
            yield start, n
            return
        end = _cut(text, start, size)
        yield start, end
        start = end


def _cut(text: str, start: int, size: int) -> int:
    fence = None
    pos = start
    limit = min(len(text), start + 4 * size)
    last_line_end = -1
    while pos < limit:
        nl = text.find("\n", pos, limit)
        if nl < 0:
            break
        line = text[pos:nl]
        match = _FENCE.match(line)
        if match:
            marker = match.group(1)[0]
            if fence is None:
                fence = marker
            elif fence == marker:
                fence = None
        if nl + 1 - start >= size:
            if fence is None and not line.strip():
                return nl + 1
            last_line_end = nl + 1
        pos = nl + 1
    if last_line_end > 0:
        return last_line_end
    # No line end past `size`: one huge line. Cut it near `size`, at a space if there is one.
    hard = start + size
    space = text.rfind(" ", start + size // 2, hard)
    return space + 1 if space > start else hard


@lru_cache(maxsize=256)
def _kind(kind: str, level: int = 0, ordered: bool = False) -> ParagraphKind:
    return ParagraphKind(kind, level, ordered)  # shared: millions of paragraphs, few kinds


_NON_SPACE = re.compile(r"\S")
# A line that holds only quote marks and list bullets: nothing to read in it.
_MARKERS_ONLY = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])(?:[ \t>]+|$))*[ \t>]*$")
_REFERENCE = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t>]+)*\[[^\]\n]+\]:")


class _Chunk:
    """One parsed piece of the text: source lines, and the ranges found in them."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.src = text[start:end]
        self.base = start
        self.line_starts = [0]
        find = self.src.find
        pos = find("\n")
        while pos >= 0:
            self.line_starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.covered = bytearray(len(self.line_starts))
        self.deepest = 0
        self.out: list[tuple[int, int, ParagraphKind]] = []

    def line_span(self, line: int) -> tuple[int, int]:
        a = self.line_starts[line]
        b = self.line_starts[line + 1] - 1 if line + 1 < len(self.line_starts) else len(self.src)
        return a, b

    def cover(self, first: int, stop: int) -> None:
        stop = min(stop, len(self.covered))
        if first < stop:
            self.covered[first:stop] = b"\x01" * (stop - first)

    def add(self, a: int, b: int, kind: ParagraphKind) -> None:
        """Add src[a:b], trimmed of white space, as a paragraph."""
        m = _NON_SPACE.search(self.src, a, b)
        if m is None:
            return
        a = m.start()
        while b > a and self.src[b - 1].isspace():
            b -= 1
        self.out.append((self.base + a, self.base + b, kind))

    def add_lines(self, first: int, stop: int, kind: ParagraphKind) -> None:
        """Lines first..stop-1 (code, a raw HTML block): one paragraph per run of non-blank
        lines, as no paragraph holds a blank line."""
        if first < stop:
            a, b = self.line_span(first)[0], self.line_span(stop - 1)[1]
            for x, y in paragraph_runs(self.src, a, b):
                self.out.append((self.base + x, self.base + y, kind))

    def add_content(self, token, kind: ParagraphKind) -> None:
        """A block whose inline token holds its content: from the content's first character
        to its last. The content's first line ends its source line (after the markers), and
        its last line starts its own; an ATX heading's closing "#"s are the exception."""
        first, stop = token.map
        last = min(stop, len(self.line_starts)) - 1
        content = token.content
        head = content.split("\n", 1)[0].strip()
        tail = content.rsplit("\n", 1)[-1].strip()
        fa, fb = self.line_span(first)
        line = self.src[fa:fb].rstrip()
        if head and line.endswith(head):
            a = fa + len(line) - len(head)
        else:
            at = self.src.find(head, fa, fb) if head else -1
            a = at if at >= 0 else fa
        la, lb = self.line_span(last)
        line = self.src[la:lb].rstrip()
        if first == last:
            b = a + len(head) if head else la + len(line)
        elif tail and line.endswith(tail):
            b = la + len(line)
        else:
            at = self.src.rfind(tail, la, lb) if tail else -1
            b = at + len(tail) if at >= 0 else la + len(line)
        self.add(a, max(a, b), kind)

    def add_row(self, line: int) -> None:
        """A table row without its outer pipes: "alpha | 1"."""
        a, b = self.line_span(line)
        src = self.src
        m = _NON_SPACE.search(src, a, b)
        if m is None:
            return
        a = m.start()
        while b > a and src[b - 1].isspace():
            b -= 1
        if src[a] == "|":
            a += 1
        if b > a and src[b - 1] == "|" and src[b - 2] != "\\":
            b -= 1
        self.add(a, b, _kind("table_row"))

    def add_html(self, token) -> None:
        first, stop = token.map
        stop = min(stop, len(self.line_starts))
        a, b = self.line_span(first)[0], self.line_span(stop - 1)[1]
        pieces: list[str] = []
        extract_html(token.content, pieces.append)
        if not pieces:
            return
        found = []
        pos = a
        for piece in pieces:
            at = self.src.find(piece, pos, b)
            if at < 0:
                self.add_lines(first, stop, PLAIN)
                return
            found.append((at, at + len(piece)))
            pos = at + len(piece)
        for x, y in found:
            self.add(x, y, PLAIN)

    def lost_lines(self) -> int:
        """Lines the parser produced nothing for that hold text (skipped as nested too
        deeply): added as plain paragraphs. -> how many."""
        lost = 0
        run_start = None
        src = self.src
        for line in range(len(self.line_starts) + 1):
            keep = False
            if line < len(self.line_starts) and not self.covered[line]:
                a, b = self.line_span(line)
                text = src[a:b]
                keep = (bool(text.strip()) and not _MARKERS_ONLY.match(text)
                        and not _REFERENCE.match(text))
            if keep:
                lost += 1
                if run_start is None:
                    run_start = line
            elif run_start is not None:
                a, b = self.line_span(run_start)[0], self.line_span(line - 1)[1]
                for x, y in plain_text_ranges(src, a, b):
                    self.add(x, y, PLAIN)
                run_start = None
        return lost


def _walk(tokens, chunk: _Chunk) -> tuple[str, str]:
    """Paragraph ranges of one chunk's tokens. -> (first h1, first heading) as plain text."""
    lists: list[bool] = []  # open lists: ordered or not
    quotes = 0
    item_fresh = False  # the next block is the first one of a list item
    first_h1 = first_heading = ""
    heading_level = 0
    in_heading = in_cell = False
    for token in tokens:
        kind = token.type
        chunk.deepest = max(chunk.deepest, token.level)
        if token.map is not None and kind in ("paragraph_open", "heading_open", "fence",
                                              "code_block", "html_block", "hr",
                                              "table_open"):
            chunk.cover(*token.map)
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(kind == "ordered_list_open")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            if lists:
                lists.pop()
        elif kind == "list_item_open":
            item_fresh = True
        elif kind == "list_item_close":
            item_fresh = False
        elif kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes = max(0, quotes - 1)
        elif kind == "heading_open":
            heading_level = int(token.tag[1:]) if token.tag[1:].isdigit() else 6
            in_heading = True
        elif kind == "heading_close":
            in_heading = False
        elif kind in ("th_open", "td_open"):
            in_cell = True
        elif kind in ("th_close", "td_close"):
            in_cell = False
        elif kind == "inline" and token.map is not None and not in_cell:
            if in_heading:
                flat = " ".join(_inline(token).split())
                first_heading = first_heading or flat
                if heading_level == 1 and not first_h1:
                    first_h1 = flat
                chunk.add_content(token, _kind("heading", heading_level))
            else:
                chunk.add_content(token, _block_kind(lists, quotes, item_fresh))
            item_fresh = False
        elif kind == "tr_open" and token.map is not None:
            chunk.add_row(token.map[0])
        elif kind == "fence" and token.map is not None:
            first, stop = token.map
            if stop - first >= 2 and _FENCE.match(chunk.src[slice(*chunk.line_span(stop - 1))]):
                stop -= 1  # the closing fence
            chunk.add_lines(first + 1, stop, _kind("code", len(lists) or quotes))
            item_fresh = False
        elif kind == "code_block" and token.map is not None:
            chunk.add_lines(*token.map, _kind("code", len(lists) or quotes))
            item_fresh = False
        elif kind == "html_block" and token.map is not None:
            chunk.add_html(token)
            item_fresh = False
    return first_h1, first_heading


def _block_kind(lists: list[bool], quotes: int, item_fresh: bool) -> ParagraphKind:
    if item_fresh and lists:
        return _kind("list_item", len(lists), lists[-1])
    if lists:
        return _kind("paragraph", len(lists))
    if quotes:
        return _kind("quote", quotes)
    return PLAIN


def markdown_ranges(text: str, start: int = 0, seconds: float | None = None):
    """Paragraphs of the Markdown in `text[start:]`, as offsets into `text`.

    -> (flat array of ranges start0, end0, start1..., their kinds, first heading (level 1 if
    any) as plain text, characters parsed (less than len(text) only when `seconds` ran out),
    lines kept as plain text because they were nested too deeply).
    """
    parser = _parser()
    env: dict = {}  # shared by the pieces, so link references carry over
    deadline = time.monotonic() + (PARSE_SECONDS if seconds is None else seconds)
    first_h1 = first_heading = ""
    flat = array("q")  # not a list of tuples: ~100 bytes a paragraph, millions of them
    kinds: list[ParagraphKind] = []
    lost = 0
    for a, b in _chunks(text, start):
        if time.monotonic() > deadline:
            return flat, kinds, first_h1 or first_heading, a, lost
        chunk = _Chunk(text, a, b)
        tokens = parser.parse(chunk.src, env)
        h1, heading = _walk(tokens, chunk)
        del tokens
        if chunk.deepest >= MAX_NESTING - 1:  # only then can markdown-it have skipped lines
            lost += chunk.lost_lines()
        chunk.out.sort(key=_first)
        for x, y, kind in chunk.out:
            flat.append(x)
            flat.append(y)
            kinds.append(kind)
        first_h1 = first_h1 or h1
        first_heading = first_heading or heading
    return flat, kinds, first_h1 or first_heading, len(text), lost


def _first(item: tuple[int, int, ParagraphKind]) -> int:
    return item[0]


def load_markdown(ctx) -> None:
    text = read_decoded(ctx)
    fm_title, body_start = split_front_matter(text)
    limit = ctx.options.max_markdown_bytes
    builder = ctx.builder
    if len(text) - body_start > limit:
        ctx.warn(f"the Markdown file is too large to format "
                 f"({format_size(len(text) - body_start)} of text, above {format_size(limit)}); "
                 "it is read as plain text")
        ctx.title = fm_title or ctx.path.stem
        builder.set_text(text, plain_text_spans(text, body_start, limit=builder.max_paragraphs))
        return
    flat, kinds, heading, parsed, lost = markdown_ranges(text, body_start)
    ctx.title = fm_title or heading or ctx.path.stem
    if lost:
        ctx.warn(f"{lost} line(s) inside lists or quotes nested too deeply to format are kept "
                 "as plain text")
    if parsed < len(text):
        ctx.warn("the Markdown took too long to format; from "
                 f"{100 * (parsed - body_start) // max(1, len(text) - body_start)}% on it is "
                 "read as plain text")
        rest = plain_text_spans(text, parsed, limit=builder.max_paragraphs)
        flat.extend(iter(rest))  # another typecode: element by element, still in C
        kinds.extend([PLAIN] * (len(rest) // 2))
        del rest
    builder.set_text(text, flat, kinds)
