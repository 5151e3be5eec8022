"""Look-alike letters: words that mix scripts, read as the word they spell.

Scraped and obfuscated text writes "AᏞBERT" with a Cherokee L, "tһe" with a Cyrillic shha. A
word counts as written with look-alikes when its letters come from more than one script (Unicode
Technical Standard #39, mixed-script detection) and every letter outside the word's main script
has a confusable in that script (Unicode's confusables data, through the confusable_homoglyphs
package, which ships confusables.txt and Scripts.txt as JSON). Folding replaces each such letter by
its one-code-point look-alike, so the folded text has the same length as the original and every
offset computed on it is an offset into the original. A word written wholly in one script
(Russian, Greek, Armenian, Cherokee) is never changed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

# A word with at least one letter or digit outside ASCII (digits too: a Tai Lue digit can stand
# in for an "o").
_CANDIDATE = re.compile(r"\b\w*[^\W\x00-\x7f]\w*")
_WORD = re.compile(r"\w+")
MAX_WORD = 64        # longer runs of letters are not words: never folded
MAX_LISTED = 100_000  # look-alike words kept as items (all are counted and folded)
# TR39 treats these as one writing system: Japanese, Chinese and Korean text mixes them.
_CJK = frozenset({"HAN", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO"})
_NO_SCRIPT = frozenset({"COMMON", "INHERITED", "Unknown"})
LATIN = "LATIN"


@dataclass(frozen=True)
class Lookalike:
    """One word written with look-alike letters: `text == original[start:end]`."""

    start: int
    end: int
    text: str
    folded: str                 # what it spells: same length, one letter for one
    scripts: tuple[str, ...]    # the scripts it mixes, main one first ("Latin", "Cherokee")


@dataclass(frozen=True)
class FoldedText:
    """A text with its look-alike words folded. Same length: a span of `text` is the same span
    of `original` (take a span's characters from `original`). `count` is every look-alike word;
    `lookalikes` lists the first MAX_LISTED of them (a hostile file can hold millions)."""

    original: str
    text: str
    lookalikes: tuple[Lookalike, ...]
    words: int
    count: int = -1

    def __post_init__(self) -> None:
        if self.count < 0:
            object.__setattr__(self, "count", len(self.lookalikes))

    @property
    def changed(self) -> bool:
        return self.count > 0

    @property
    def share(self) -> float:
        """The share of the text's words written with look-alikes (0 for an empty text)."""
        return self.count / self.words if self.words else 0.0


@functools.cache
def _data():
    from confusable_homoglyphs import categories, confusables

    return categories.alias, confusables.confusables_data


@functools.lru_cache(maxsize=16384)
def script_of(char: str) -> str | None:
    """The script of a letter or digit for mixed-script purposes; None for common characters."""
    if char.isascii():
        return LATIN if char.isalpha() else None
    name = _data()[0](char)
    if name in _NO_SCRIPT:
        return None
    return "CJK" if name in _CJK else name


def _homoglyphs(char: str) -> list[str]:
    # Right-to-left letters come wrapped in U+200E marks in the package's data.
    return [h["c"].strip("\u200e") for h in _data()[1].get(char) or ()]


@functools.lru_cache(maxsize=16384)
def lookalike_in(char: str, script: str) -> str | None:
    """One code point of `script` that Unicode's confusables data says looks like `char`.

    Looked for among its confusables and theirs (one step further): the data maps many letters
    to one prototype ("Ӏ" and "I" both to "l"), and the capital that looks like a capital is
    one step away from the prototype.
    """
    hops = {char: 0}
    frontier = [char]
    for hop in (1, 2):
        frontier = [t for c in frontier for t in _homoglyphs(c) if len(t) == 1 and t not in hops]
        hops.update((t, hop) for t in frontier)
    found = [c for c in hops if c != char and script_of(c) == script]
    if not found:
        return None
    # ASCII first (what ALBERT's vocabulary spells), then the same case, then the nearest, then
    # one that NFKC leaves alone.
    return min(found, key=lambda c: (not c.isascii(), c.isupper() != char.isupper(), hops[c],
                                     unicodedata.normalize("NFKC", c) != c, c))


def _script_name(script: str) -> str:
    return script.replace("_", " ").title()


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> tuple[str, tuple[str, ...]] | None:
    # Cached: a text repeats its words, so most candidates cost one dictionary look-up.
    if len(word) > MAX_WORD:
        return None  # no word is that long; a run of letters that is stays as it is
    scripts = [script_of(c) for c in word]
    counts = Counter(s for s in scripts if s is not None)
    if len(counts) < 2:
        return None
    # Most letters wins; a tie goes to Latin (the vocabulary's script), then to the first seen.
    order = {s: i for i, s in reversed(list(enumerate(scripts))) if s is not None}
    main = min(counts, key=lambda s: (-counts[s], s != LATIN, order[s]))
    out = []
    for char, script in zip(word, scripts, strict=True):
        if script is None or script == main:
            out.append(char)
            continue
        twin = lookalike_in(char, main)
        if twin is None:
            return None  # a letter with no look-alike: a real mixed-script word, left as it is
        out.append(twin)
    others = sorted(set(counts) - {main}, key=lambda s: order[s])
    return "".join(out), tuple(_script_name(s) for s in (main, *others))


def find_lookalikes(text: str, limit: int | None = None) -> list[Lookalike]:
    """The words of `text` written with look-alike letters, in text order (the first `limit`)."""
    found: list[Lookalike] = []
    for m in _CANDIDATE.finditer(text):
        folded = _fold_word(m.group())
        if folded is not None:
            found.append(Lookalike(m.start(), m.end(), m.group(), *folded))
            if limit is not None and len(found) >= limit:
                break
    return found


def fold_lookalikes(text: str) -> FoldedText:
    """`text` with every look-alike word replaced by what it spells, positions unchanged.

    Time and memory grow with the text alone: the folded text is assembled by re.sub, and only
    the first MAX_LISTED look-alike words are kept as items."""
    listed: list[Lookalike] = []
    count = 0

    def fold(m: re.Match) -> str:
        nonlocal count
        folded = _fold_word(m.group())
        if folded is None:
            return m.group()
        count += 1
        if len(listed) < MAX_LISTED:
            listed.append(Lookalike(m.start(), m.end(), m.group(), *folded))
        return folded[0]

    result = _CANDIDATE.sub(fold, text)
    assert len(result) == len(text)  # one code point for one: offsets carry over unchanged
    words = _WORD.subn("", text)[1]  # counted without a list of every word
    return FoldedText(text, result if count else text, tuple(listed), words, count)
