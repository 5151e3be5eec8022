"""The loaded document: one text, with paragraphs and pages as character ranges into it."""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PARAGRAPH_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True, order=True)
class TextRange:
    """A half-open range of code-point offsets into `Document.text`: `text[r.start:r.end]`."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid text range {self.start}..{self.end}")

    def __len__(self) -> int:
        return self.end - self.start

    def __contains__(self, offset: object) -> bool:
        return isinstance(offset, int) and self.start <= offset < self.end

    def slice(self, text: str) -> str:
        """The characters of `text` this range covers."""
        return text[self.start:self.end]

    def to_range(self) -> range:
        return range(self.start, self.end)


class RangeList(Sequence):
    """A list of `TextRange`s stored as one flat integer array: start0, end0, start1...

    A document may have millions of one-word paragraphs; a list of objects would cost ~90
    bytes a range, more than its text. Here a range costs 16 bytes (8 when built from a text
    under 2 GB). Reads like a list (index, iterate, len, compare with a list); ranges are made
    on access.
    """

    __slots__ = ("flat",)

    def __init__(self, ranges: Iterable[TextRange] = (), *, flat: array | None = None) -> None:
        self.flat = flat if flat is not None else array("q")
        for r in ranges:
            self.append(r.start, r.end)

    def append(self, start: int, end: int) -> None:
        self.flat.append(start)
        self.flat.append(end)

    def start_at(self, index: int) -> int:
        return self.flat[2 * index]

    def end_at(self, index: int) -> int:
        return self.flat[2 * index + 1]

    def index_before(self, offset: int) -> int:
        """The index of the last range starting at or before `offset` (-1 if none)."""
        flat = self.flat
        lo, hi = 0, len(flat) // 2
        while lo < hi:
            mid = (lo + hi) // 2
            if flat[2 * mid] <= offset:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def __len__(self) -> int:
        return len(self.flat) // 2

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return RangeList(flat=self.flat[2 * start:2 * max(start, stop)])
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("range index out of range")
        return TextRange(self.flat[2 * index], self.flat[2 * index + 1])

    def __iter__(self) -> Iterator[TextRange]:
        it = iter(self.flat)
        for start, end in zip(it, it):
            yield TextRange(start, end)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RangeList):
            return self.flat == other.flat  # element-wise, whatever the two typecodes
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        shown = ", ".join(f"({r.start}, {r.end})" for r in self[:6])
        more = f", ... {len(self)} in all" if len(self) > 6 else ""
        return f"RangeList([{shown}{more}])"

    def __reduce__(self):
        return (_range_list, (self.flat,))


def _range_list(flat: array) -> RangeList:
    return RangeList(flat=flat)


@dataclass(frozen=True, slots=True)
class ParagraphKind:
    """What a paragraph is, where the format says (Markdown for now).

    `kind`: "paragraph", "heading", "list_item", "quote", "code" or "table_row". `level`: the
    heading level (1-6) for a heading, the nesting depth (1 = top level) for a list item, a
    quote or a paragraph inside them, 0 otherwise. `ordered`: a list item of a numbered list.
    """

    kind: str = "paragraph"
    level: int = 0
    ordered: bool = False


PLAIN = ParagraphKind()


@dataclass
class Document:
    """A document as plain text, ready for the tasks and for a plain text view.

    - `text`: the whole text; paragraphs are separated by one blank line ("\\n\\n"), line breaks
      are "\\n" only, and no paragraph holds a blank line.
    - `paragraphs`: one `TextRange` per paragraph, in order, each stripped of surrounding
      whitespace, so `text[r.start:r.end]` is exactly the paragraph.
    - `pages`: one `TextRange` per page for paged formats (PDF), empty otherwise. A page range
      runs from its first paragraph's start to its last paragraph's end; a page without text
      is an empty range where it would have been.
    - `path`: the file it came from (None for pasted text); `format`: "text", "markdown",
      "html", "pdf", "docx" or "epub"; `warnings`: what a person should know about how the
      text was read (guessed encoding, truncation, dropped parts...).
    - `kinds`: one `ParagraphKind` per paragraph (heading level, list item...) when the format
      says (Markdown), else empty; `kind_of(i)` and `headings()` read it.

    Plain text and Markdown are the exception to the first rule: their `text` is the file's
    own text (line endings made "\\n"), so offsets index the file; paragraphs are ranges into it
    and may be separated by any white space (see `engine.documents.text`).
    """

    text: str
    title: str
    paragraphs: list[TextRange] = field(default_factory=list)
    pages: list[TextRange] = field(default_factory=list)
    path: Path | None = None
    format: str = "text"
    warnings: list[str] = field(default_factory=list)
    kinds: list[ParagraphKind] = field(default_factory=list)

    # --- lookups ---------------------------------------------------------------------------------
    def page_of(self, offset: int) -> int | None:
        """The 1-based page number that holds character `offset`, or None (unpaged / outside).

        An offset in the blank line between two pages belongs to the page before it.
        """
        if not self.pages or not 0 <= offset <= len(self.text):
            return None
        index = bisect_right(self.pages, offset, key=_start) - 1
        if index < 0:
            return 1
        # Empty pages and the separator after a page count as the last page with text.
        while index > 0 and not len(self.pages[index]):
            index -= 1
        return index + 1

    def paragraph_of(self, offset: int) -> int | None:
        """The 0-based index into `paragraphs` of the paragraph holding character `offset`.

        None when the offset falls in the blank line between paragraphs or outside the text.
        """
        if isinstance(self.paragraphs, RangeList):
            index = self.paragraphs.index_before(offset)
        else:
            index = bisect_right(self.paragraphs, offset, key=_start) - 1
        if index >= 0 and offset in self.paragraphs[index]:
            return index
        return None

    def kind_of(self, index: int) -> ParagraphKind:
        """What paragraph `index` is; a plain paragraph when the format does not say."""
        return self.kinds[index] if index < len(self.kinds) else PLAIN

    def headings(self) -> list[tuple[int, TextRange]]:
        """(level, range) of every heading, in order (Markdown; empty for other formats)."""
        return [(kind.level, self.paragraphs[i]) for i, kind in enumerate(self.kinds)
                if kind.kind == "heading"]

    def paragraph_text(self, index: int) -> str:
        return self.paragraphs[index].slice(self.text)

    def paragraph_texts(self) -> list[str]:
        return [r.slice(self.text) for r in self.paragraphs]

    def page_text(self, number: int) -> str:
        """The text of 1-based page `number`."""
        if not 1 <= number <= len(self.pages):
            raise IndexError(f"page {number} is not in 1..{len(self.pages)}")
        return self.pages[number - 1].slice(self.text)

    # --- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, title: str | None = None, path: Path | str | None = None,
                  ) -> Document:
        """A document from text in memory (pasted text): same rules as a .txt file.

        `text` is kept as it is (line endings made "\\n"), so offsets index it. Empty or blank
        text gives a document with no paragraphs (no error). Without a title, the first line
        (shortened) is used.
        """
        from engine.documents.text import add_plain_text, normalize_newlines

        builder = TextBuilder()
        add_plain_text(builder, normalize_newlines(text))
        body, paragraphs, _ = builder.build()
        if title is None:
            title = _title_from_text(body)
        return cls(text=body, title=title, paragraphs=paragraphs, pages=[],
                   path=Path(path) if path is not None else None, format="text", warnings=[])


def _start(r: TextRange) -> int:
    return r.start


def _title_from_text(text: str, limit: int = 80) -> str:
    first = text.lstrip()[:4 * limit].split("\n", 1)[0].strip()
    if len(first) > limit:
        cut = first[:limit].rsplit(" ", 1)[0] or first[:limit]
        first = cut.rstrip(" ,;:.") + "…"
    return first or "Untitled"


# --- text clean-up shared by every format -----------------------------------------------------------
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028]")
# C0/C1 controls except tab and newline, soft hyphens, BOMs and non-characters: invisible noise.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f\x80-\x84\x86-\x9f\u00ad\ufeff\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n\s*\n")
_ANY_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u2028\u2029\ufeff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Line breaks to '\\n', paragraph separators to a blank line, invisible controls removed."""
    if not _ANY_SPECIAL.search(text):
        return text
    if _LINE_BREAKS.search(text):
        text = _LINE_BREAKS.sub("\n", text)
    if "\u2029" in text:
        text = text.replace("\u2029", "\n\n")
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    return text


class TextLimitReached(Exception):
    """Raised by `TextBuilder.add` once `max_chars` (or `max_paragraphs`: then the argument is
    "paragraphs") is reached (internal, never leaves)."""


class TextBuilder:
    """Accumulates paragraphs (and pages) into one text with exact ranges.

    Either paragraph by paragraph (`add`: joined by a blank line), or a whole text at once with
    its own ranges (`set_text`: plain text and Markdown, whose text is the file's).
    """

    _JOIN_EVERY = 4096  # parts joined into one string: tiny paragraphs cost their text only

    def __init__(self, max_chars: int | None = None) -> None:
        self._chunks: list[str] = []
        self._parts: list[str] = []
        self._length = 0
        self._max_chars = max_chars
        # Formats read element by element cost Python work per paragraph: their loaders set
        # this so that no file can take minutes (see engine.documents.MAX_PARAGRAPHS).
        self.max_paragraphs: int | None = None
        self.paragraphs = RangeList()
        self.kinds: list[ParagraphKind] | None = None
        self.pages: list[TextRange] = []
        self._page_first: int | None = None

    def __len__(self) -> int:
        return self._length

    def add(self, paragraph: str, *, clean: bool = True, kind: ParagraphKind | None = None,
            ) -> None:
        """Add text as one or more paragraphs: blank lines inside it split it."""
        if clean:
            paragraph = clean_text(paragraph)
        if "\n" in paragraph and _BLANK_LINES.search(paragraph):
            for chunk in _BLANK_LINES.split(paragraph):
                self._add_one(chunk, kind)
        else:
            self._add_one(paragraph, kind)

    def _add_one(self, paragraph: str, kind: ParagraphKind | None) -> None:
        paragraph = paragraph.strip()
        if not paragraph:
            return
        sep = len(PARAGRAPH_SEPARATOR) if self._length else 0
        if self._max_chars is not None and self._length + sep + len(paragraph) > self._max_chars:
            room = self._max_chars - self._length - sep
            if room > 0:
                self._append(paragraph[:room].rstrip(), sep, kind)
            raise TextLimitReached
        self._append(paragraph, sep, kind)

    def _append(self, paragraph: str, sep: int, kind: ParagraphKind | None) -> None:
        if not paragraph:
            return
        if self.max_paragraphs is not None and len(self.paragraphs) >= self.max_paragraphs:
            raise TextLimitReached("paragraphs")
        if sep:
            self._parts.append(PARAGRAPH_SEPARATOR)
            self._length += sep
        start = self._length
        self._parts.append(paragraph)
        self._length += len(paragraph)
        self._note_kind(kind)
        self.paragraphs.append(start, self._length)
        if len(self._parts) >= self._JOIN_EVERY:
            self._chunks.append("".join(self._parts))
            self._parts.clear()

    def _note_kind(self, kind: ParagraphKind | None) -> None:
        if kind is not None and self.kinds is None:
            self.kinds = [PLAIN] * len(self.paragraphs)
        if self.kinds is not None:
            self.kinds.append(kind or PLAIN)

    def set_text(self, text: str, ranges: Iterable[tuple[int, int]] | array,
                 kinds: Iterable[ParagraphKind] | None = None) -> None:
        """The whole text at once, with its paragraph ranges (in order, trimmed, not
        overlapping): (start, end) pairs, or one flat array('q'/'i') start0, end0, start1...

        Past `max_paragraphs` (flat arrays) the text is cut after the last paragraph allowed,
        past `max_chars` at that many characters; either way TextLimitReached is raised once
        the builder holds what is kept.
        """
        if self._length or self._parts or self._chunks:
            raise RuntimeError("set_text() on a builder that already holds text")
        reason: tuple = ()
        kind_list = list(kinds) if kinds is not None else None
        cap = self.max_paragraphs
        if isinstance(ranges, array) and cap is not None and len(ranges) > 2 * cap:
            ranges = ranges[:2 * cap]
            text = text[:ranges[-1]] if ranges else ""
            if kind_list is not None:
                del kind_list[cap:]
            reason = ("paragraphs",)
        limit = self._max_chars
        if limit is not None and len(text) > limit:
            text = text[:limit]
            reason = ()
            pairs = zip(ranges[0::2], ranges[1::2]) if isinstance(ranges, array) else ranges
            kept = RangeList()
            kept_kinds = [] if kind_list is not None else None
            for i, (start, end) in enumerate(pairs):
                if end > limit:
                    end = start + len(text[start:limit].rstrip()) if start < limit else start
                    if end > start:
                        kept.append(start, end)
                        if kept_kinds is not None:
                            kept_kinds.append(kind_list[i])
                    break
                kept.append(start, end)
                if kept_kinds is not None:
                    kept_kinds.append(kind_list[i])
            self._finish(text, kept, kept_kinds)
            raise TextLimitReached
        if isinstance(ranges, array):
            paragraphs = RangeList(flat=ranges)
        else:
            paragraphs = RangeList()
            for start, end in ranges:
                paragraphs.append(start, end)
        self._finish(text, paragraphs, kind_list)
        if reason:
            raise TextLimitReached(*reason)

    def _finish(self, text: str, paragraphs: RangeList, kinds: list | None) -> None:
        self.paragraphs = paragraphs
        if kinds is not None:
            self.kinds = kinds
        self._chunks.append(text)
        self._length = len(text)

    # --- pages -----------------------------------------------------------------------------------
    def begin_page(self) -> None:
        self.end_page()
        self._page_first = len(self.paragraphs)

    def end_page(self) -> None:
        if self._page_first is None:
            return
        first, self._page_first = self._page_first, None
        if first < len(self.paragraphs):
            self.pages.append(TextRange(self.paragraphs.start_at(first),
                                        self.paragraphs.end_at(len(self.paragraphs) - 1)))
        else:
            self.pages.append(TextRange(self._length, self._length))

    def build(self) -> tuple[str, RangeList, list[TextRange]]:
        self.end_page()
        if self._parts:
            self._chunks.append("".join(self._parts))
            self._parts.clear()
        text = self._chunks[0] if len(self._chunks) == 1 else "".join(self._chunks)
        self._chunks = [text]
        return text, self.paragraphs, self.pages
