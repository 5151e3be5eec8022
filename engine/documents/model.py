"""The loaded document: one text, with paragraphs and pages as character ranges into it."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
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
    """

    text: str
    title: str
    paragraphs: list[TextRange] = field(default_factory=list)
    pages: list[TextRange] = field(default_factory=list)
    path: Path | None = None
    format: str = "text"
    warnings: list[str] = field(default_factory=list)

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
        index = bisect_right(self.paragraphs, offset, key=_start) - 1
        if index >= 0 and offset in self.paragraphs[index]:
            return index
        return None

    def paragraph_text(self, index: int) -> str:
        return self.paragraphs[index].slice(self.text)

    def paragraph_texts(self) -> list[str]:
        return [r.slice(self.text) for r in self.paragraphs]

    def iter_paragraphs(self) -> Iterator[tuple[TextRange, str]]:
        for r in self.paragraphs:
            yield r, r.slice(self.text)

    def page_text(self, number: int) -> str:
        """The text of 1-based page `number`."""
        if not 1 <= number <= len(self.pages):
            raise IndexError(f"page {number} is not in 1..{len(self.pages)}")
        return self.pages[number - 1].slice(self.text)

    # --- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, title: str | None = None, path: Path | str | None = None,
                  ) -> Document:
        """A document from text in memory (pasted text): same paragraph rules as a .txt file.

        Empty or blank text gives a document with no paragraphs (no error). Without a title, the
        first line (shortened) is used.
        """
        from engine.documents.text import add_plain_text

        builder = TextBuilder()
        add_plain_text(builder, text)
        body, paragraphs, _ = builder.build()
        if title is None:
            title = _title_from_text(body)
        return cls(text=body, title=title, paragraphs=paragraphs, pages=[],
                   path=Path(path) if path is not None else None, format="text", warnings=[])


def _start(r: TextRange) -> int:
    return r.start


def _title_from_text(text: str, limit: int = 80) -> str:
    first = text.split("\n", 1)[0].strip()
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
    """Raised by `TextBuilder.add` once `max_chars` is reached (internal, never leaves)."""


class TextBuilder:
    """Accumulates paragraphs (and pages) into one text with exact ranges."""

    def __init__(self, max_chars: int | None = None) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._max_chars = max_chars
        self.paragraphs: list[TextRange] = []
        self.pages: list[TextRange] = []
        self._page_first: int | None = None
        self.truncated = False

    def __len__(self) -> int:
        return self._length

    def add(self, paragraph: str, *, clean: bool = True) -> None:
        """Add text as one or more paragraphs: blank lines inside it split it."""
        if clean:
            paragraph = clean_text(paragraph)
        if "\n" in paragraph and _BLANK_LINES.search(paragraph):
            for chunk in _BLANK_LINES.split(paragraph):
                self._add_one(chunk)
        else:
            self._add_one(paragraph)

    def _add_one(self, paragraph: str) -> None:
        paragraph = paragraph.strip()
        if not paragraph:
            return
        sep = len(PARAGRAPH_SEPARATOR) if self._length else 0
        if self._max_chars is not None and self._length + sep + len(paragraph) > self._max_chars:
            room = self._max_chars - self._length - sep
            self.truncated = True
            if room > 0:
                self._append(paragraph[:room].rstrip(), sep)
            raise TextLimitReached
        self._append(paragraph, sep)

    def _append(self, paragraph: str, sep: int) -> None:
        if not paragraph:
            return
        if sep:
            self._parts.append(PARAGRAPH_SEPARATOR)
            self._length += sep
        start = self._length
        self._parts.append(paragraph)
        self._length += len(paragraph)
        self.paragraphs.append(TextRange(start, self._length))

    # --- pages -----------------------------------------------------------------------------------
    def begin_page(self) -> None:
        self.end_page()
        self._page_first = len(self.paragraphs)

    def end_page(self) -> None:
        if self._page_first is None:
            return
        first, self._page_first = self._page_first, None
        if first < len(self.paragraphs):
            self.pages.append(TextRange(self.paragraphs[first].start, self.paragraphs[-1].end))
        else:
            self.pages.append(TextRange(self._length, self._length))

    def build(self) -> tuple[str, list[TextRange], list[TextRange]]:
        self.end_page()
        text = "".join(self._parts)
        self._parts = [text]
        return text, self.paragraphs, self.pages
