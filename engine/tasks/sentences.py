"""Sentences as exact character ranges of a text.

pysbd (a rule-based splitter that knows abbreviations, decimals, quotes and ellipses) does the
splitting; around it:

- paragraphs (blank lines, or the document's own paragraphs) are never crossed;
- inside a paragraph a line break ends a sentence before a list item ("- x", "2. x", "b) x"),
  after a heading-like line (short, no final punctuation, next line capitalised) and after a line
  that ends a sentence; other line breaks are hard wraps and left to pysbd;
- pysbd's sentences are aligned back onto the text, so every range is exact;
- a split after an abbreviation followed by a lower-case word ("approx. three") is undone, and a
  split that leaves only closing quotes or brackets is glued back;
- a "sentence" longer than `max_chars` (tables, code, lists without punctuation) is cut at a
  clause or word boundary so that no unit runs away.

Every range is trimmed of surrounding whitespace and non-empty.
"""

from __future__ import annotations

import re
import threading

from engine.tasks._common import LRU, text_key, trim

Range = tuple[int, int]

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_LIST_ITEM = re.compile(
    r"[^\S\n]*(?:[-*+\u2022\u2023\u25aa\u25e6\u2043\u2013\u2014>]"  # bullets and dashes
    r"|\(?\d{1,3}[.)]|\(?[A-Za-z][.)]|\(?[ivxIVX]{1,4}[.)])[^\S\n]+"
)
_ENDS_SENTENCE = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s*$|[:;]\s*$")
_CONTINUES = re.compile(
    r"[,\-\u2013(/&]\s*$|\b(?:and|or|of|the|a|an|to|in|with|for)\s*$", re.IGNORECASE
)
# Abbreviations after which pysbd may still cut before a lower-case word.
_ABBREVIATION_LIST = """
    a.m p.m e.g i.e etc vs cf al approx appx ca fig figs no nos vol vols pp p ed eds dept est
    inc ltd co corp jr sr mr mrs ms dr prof st ave blvd mt ft rev gen gov sen rep sgt capt col
    lt cmdr adm jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    u.s u.k u.n e.u ph.d b.a m.a b.sc m.sc
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\.\s*$")
_ONLY_CLOSERS = re.compile(r"^[\"'\u201d\u2019)\]}]+$")
_CLAUSE_BREAK = re.compile(r"[;:,]\s|\s[\u2013\u2014-]\s|\s")

_cache: LRU = LRU(16)


_local = threading.local()


def _segmenter():
    """One pysbd Segmenter per thread: a Segmenter keeps the text it is working on in its own
    attributes, so sharing one between worker threads mixes up their sentences."""
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        import pysbd

        segmenter = _local.segmenter = pysbd.Segmenter(language="en", clean=False,
                                                       char_span=False)
    return segmenter


def split_sentences(text: str, paragraphs: list[Range] | None = None,
                    max_chars: int = 1000) -> list[Range]:
    """(start, end) of every sentence of `text`, in order; cached per text."""
    key = (text_key(text), tuple(paragraphs) if paragraphs else None, max_chars)
    return list(_cache.get_or(key, lambda: _split(text, paragraphs, max_chars)))


def _split(text: str, paragraphs: list[Range] | None, max_chars: int) -> list[Range]:
    blocks = paragraphs if paragraphs else paragraph_ranges(text)
    out: list[Range] = []
    for a, b in blocks:
        for ua, ub in _units(text, a, b):
            for sa, sb in _pysbd_ranges(text, ua, ub):
                out.extend(_cap_length(text, sa, sb, max_chars))
    return _repair(text, out)


def paragraph_ranges(text: str) -> list[Range]:
    """Blocks of `text` separated by blank lines, trimmed, empty ones dropped."""
    ranges = []
    pos = 0
    for m in _BLANK_LINES.finditer(text):
        ranges.append((pos, m.start()))
        pos = m.end()
    ranges.append((pos, len(text)))
    return [r for r in (trim(text, a, b) for a, b in ranges) if r[0] < r[1]]


def _units(text: str, a: int, b: int) -> list[Range]:
    """Cut a paragraph at the line breaks that end a sentence for sure."""
    lines = []
    pos = a
    while pos < b:
        nl = text.find("\n", pos, b)
        stop = b if nl < 0 else nl
        lines.append((pos, stop))
        pos = stop + 1
    units: list[Range] = []
    start = lines[0][0] if lines else a
    for i, (la, lb) in enumerate(lines[:-1]):
        line = text[la:lb]
        nxt = text[lines[i + 1][0]:lines[i + 1][1]]
        if _breaks_after(line, nxt):
            units.append((start, lb))
            start = lines[i + 1][0]
    units.append((start, b))
    return [r for r in (trim(text, x, y) for x, y in units) if r[0] < r[1]]


def _breaks_after(line: str, nxt: str) -> bool:
    if not line.strip():
        return True
    stripped = nxt.lstrip()
    if _LIST_ITEM.match(nxt):
        return True
    if _LIST_ITEM.match(line) and not stripped[:1].islower():
        return True
    if _ENDS_SENTENCE.search(line):
        return True
    heading = (len(line.split()) <= 12 and not _CONTINUES.search(line)
               and stripped[:1].isupper())
    return heading


def _pysbd_ranges(text: str, a: int, b: int) -> list[Range]:
    # Line breaks left inside a unit are hard wraps: pysbd sees spaces (same length, same offsets).
    unit = text[a:b].replace("\n", " ")
    if len(unit) < 3 or not any(c in unit for c in ".!?\u2026"):
        return [(a, b)]
    try:
        pieces = _segmenter().segment(unit)
    except Exception:  # noqa: BLE001 - pysbd raises on some odd inputs; the unit stays one sentence
        return [(a, b)]
    return [(a + x, a + y) for x, y in _align(unit, pieces)]


def _align(unit: str, pieces: list[str]) -> list[Range]:
    """Where each of pysbd's sentences lies in `unit`; robust to changed whitespace."""
    ranges: list[Range] = []
    cursor = 0
    for piece in pieces:
        body = piece.strip()
        if not body:
            continue
        at = unit.find(body, cursor)
        if at >= 0 and not unit[cursor:at].strip():
            ranges.append((at, at + len(body)))
            cursor = at + len(body)
            continue
        # The piece differs from the text (pysbd rewrote something): walk the non-space chars.
        want = [c for c in body if not c.isspace()]
        k = cursor
        while k < len(unit) and unit[k].isspace():
            k += 1
        start = k
        matched = 0
        while k < len(unit) and matched < len(want):
            if not unit[k].isspace():
                matched += 1
            k += 1
        ranges.append((start, k))
        cursor = k
    if not ranges:
        return [(0, len(unit))]
    # Whatever pysbd dropped belongs to its neighbours: the ranges tile the unit.
    tiled = []
    for i, (x, _) in enumerate(ranges):
        start = 0 if i == 0 else x
        stop = ranges[i + 1][0] if i + 1 < len(ranges) else len(unit)
        tiled.append((start, stop))
    return [r for r in (trim(unit, x, y) for x, y in tiled) if r[0] < r[1]]


def _cap_length(text: str, a: int, b: int, max_chars: int) -> list[Range]:
    out = []
    while b - a > max_chars:
        window = text[a:a + max_chars]
        cut = -1
        for m in _CLAUSE_BREAK.finditer(window, max_chars // 2):
            cut = m.end()
        if cut <= 0:
            cut = max_chars
        head = trim(text, a, a + cut)
        if head[0] < head[1]:
            out.append(head)
        a, b = trim(text, a + cut, b)
    if a < b:
        out.append((a, b))
    return out


def _repair(text: str, ranges: list[Range]) -> list[Range]:
    """Undo pysbd's cuts after abbreviations and before lone closing quotes."""
    out: list[Range] = []
    for a, b in ranges:
        if out:
            pa, pb = out[-1]
            gap = text[pb:a]
            same_line = "\n" not in gap
            cur = text[a:b]
            if same_line and _ONLY_CLOSERS.match(cur):
                out[-1] = (pa, b)
                continue
            m = _LAST_WORD.search(text[pa:pb])
            if (same_line and m and m.group(1).lower() in _ABBREVIATIONS
                    and (cur[:1].islower() or cur[:1].isdigit())):
                out[-1] = (pa, b)
                continue
        out.append((a, b))
    return out
