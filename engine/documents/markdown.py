"""Markdown: the text a reader sees, markup removed.

markdown-it-py (CommonMark, plus tables and strikethrough) parses; its tokens become paragraphs:
headings, paragraphs, list items, block quotes, code blocks and table rows (cells joined by
" | "). Emphasis, links and inline code keep their text; images and raw inline HTML tags are
dropped; raw HTML blocks go through the HTML extractor. A YAML front matter block is removed
(its `title:` is used). Files above `max_markdown_bytes` are shown as plain text, markup and all,
with a warning, and so is whatever is left when parsing has taken `PARSE_SECONDS` (hostile
input such as 100,000 "[" parses a hundred times slower than prose).
"""

from __future__ import annotations

import re

from engine.documents._files import human_size
from engine.documents.html import extract_html
from engine.documents.text import add_plain_text, read_decoded

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
_INLINE_TEXT = {"text": None, "code_inline": None}


def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"maxNesting": 40}).enable(["table", "strikethrough"])


def split_front_matter(text: str) -> tuple[str, str]:
    """(title from the front matter or "", text without it)."""
    match = _FRONT_MATTER.match(text)
    if not match or match.end() > 64 * 1024:
        return "", text
    title_match = _FM_TITLE.search(match.group(1))
    title = title_match.group(1).strip().strip("\"'") if title_match else ""
    return title, text[match.end():]


def _inline(token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        kind = child.type
        if kind in _INLINE_TEXT:
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
    return "".join(parts)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CHUNK_CHARS = 64 * 1024
# Pathological Markdown ("[[[[...") parses ~100x slower than prose: parsing stops after this
# many seconds and the rest is shown as plain text, so no file can take long.
PARSE_SECONDS = 5.0


def _chunks(text: str, size: int | None = None):
    """(start, end) pieces of about `size` characters, cut at blank lines outside code fences.

    Inside a long code fence, a piece is cut at a line end once it reaches 4 x `size`; a huge
    single line is cut near `size`, at a space if it has one.
    """
    size = size or CHUNK_CHARS
    start = 0
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


def markdown_paragraphs(text: str, emit, seconds: float | None = None) -> tuple[str, int]:
    """Emit the paragraphs of Markdown `text`.

    -> (the first heading, level 1 if any; how many characters were parsed, less than
    len(text) only when `seconds` ran out).
    """
    import time

    parser = _parser()
    env: dict = {}  # shared by the pieces, so link references carry over
    deadline = time.monotonic() + (PARSE_SECONDS if seconds is None else seconds)
    first_h1 = first_heading = ""
    for start, end in _chunks(text):
        if time.monotonic() > deadline:
            return first_h1 or first_heading, start
        h1, heading = _emit_tokens(parser.parse(text[start:end], env), emit)
        first_h1 = first_h1 or h1
        first_heading = first_heading or heading
    return first_h1 or first_heading, len(text)


def _emit_tokens(tokens, emit) -> tuple[str, str]:
    pending: list[str] = []
    cells: list[str] = []
    in_cell = False
    first_h1 = first_heading = ""
    heading_level = 0
    for token in tokens:
        kind = token.type
        if kind == "inline":
            content = _inline(token)
            if in_cell:
                cells.append(content.strip())
            else:
                pending.append(content)
        elif kind == "heading_open":
            heading_level = int(token.tag[1:]) if token.tag[1:].isdigit() else 6
        elif kind in ("paragraph_close", "heading_close"):
            paragraph = "".join(pending)
            pending.clear()
            if kind == "heading_close":
                flat = " ".join(paragraph.split())
                first_heading = first_heading or flat
                if heading_level == 1 and not first_h1:
                    first_h1 = flat
            emit(paragraph)
        elif kind in ("th_open", "td_open"):
            in_cell = True
        elif kind in ("th_close", "td_close"):
            in_cell = False
        elif kind == "tr_close":
            emit(" | ".join(cell for cell in cells if cell))
            cells.clear()
        elif kind in ("fence", "code_block"):
            emit(token.content)
        elif kind == "html_block":
            extract_html(token.content, emit)
    if pending:
        emit("".join(pending))
    return first_h1, first_heading


def load_markdown(ctx) -> None:
    text = read_decoded(ctx)
    fm_title, body = split_front_matter(text)
    limit = ctx.options.max_markdown_bytes
    if len(body) > limit:
        ctx.warn(f"the Markdown file is too large to format ({human_size(len(body))} of text, "
                 f"above {human_size(limit)}); it is shown as plain text with its markup")
        ctx.title = fm_title or ctx.path.stem
        add_plain_text(ctx.builder, body)
        return
    heading, parsed = markdown_paragraphs(body, ctx.builder.add)
    if parsed < len(body):
        ctx.warn("the Markdown took too long to format; from "
                 f"{100 * parsed // len(body)}% on it is shown as plain text with its markup")
        add_plain_text(ctx.builder, body[parsed:])
    ctx.title = fm_title or heading or ctx.path.stem
