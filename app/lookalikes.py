"""Look-alike letters in the app: the indicator's words, the layer's marks and their tooltips,
from the engine's fold of a document (`engine.fold_lookalikes`: same length as the text, so its
positions are the document's)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from app.document_view import Highlight
from app.palette import LOOKALIKE_COLOUR
from app.text_format import percent

if TYPE_CHECKING:
    from engine.lookalikes import FoldedText, Lookalike

LAYER = "lookalikes"


def fold_text(text: str) -> FoldedText:
    """The engine's fold of `text` (about 5 ms per 10,000 words once Unicode's data is read)."""
    import engine

    return engine.fold_lookalikes(text)


def scripts_phrase(scripts: tuple[str, ...]) -> str:
    """("Latin", "Cherokee") → "Latin with Cherokee"; three → "Latin with Cyrillic and Greek"."""
    main, *others = scripts or ("",)
    if not others:
        return main
    mixed = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1]
    return f"{main} with {mixed}"


def lookalike_tooltip(item: Lookalike) -> str:
    """Plain text (the view escapes tooltips), naming the letters that only look Latin, since
    "AᏞBERT reads as ALBERT" shows two identical words:
    "AᏞBERT reads as ALBERT — Latin with Cherokee: Ꮮ is CHEROKEE LETTER TLE, not L"."""
    swaps = dict.fromkeys((a, b) for a, b in zip(item.text, item.folded, strict=True) if a != b)
    letters = ", ".join(f"{a} is {unicodedata.name(a, f'U+{ord(a):04X}')}, not {b}"
                        for a, b in list(swaps)[:3])
    more = " …" if len(swaps) > 3 else ""
    return f"{item.text} reads as {item.folded} — {scripts_phrase(item.scripts)}: {letters}{more}"


def indicator_text(folded: FoldedText) -> str:
    """"Look-alikes: 154 words (12%)"; empty when the text has none."""
    count = folded.count
    if not count:
        return ""
    words = "word" if count == 1 else "words"
    return f"Look-alikes: {count:,} {words} ({percent(folded.share)})"


def lookalike_highlights(folded: FoldedText) -> list[Highlight]:
    return [Highlight(item.start, item.end, LOOKALIKE_COLOUR, tooltip=lookalike_tooltip(item),
                      data=item) for item in folded.lookalikes]
