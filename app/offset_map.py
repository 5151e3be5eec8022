"""Code-point offsets (the engine's currency) to Qt positions (UTF-16 code units) and back.

Python counts a character outside the BMP (emoji, 𝔘) as one, Qt as two. Every offset that crosses
from the engine into a QTextDocument goes through `OffsetMap`, so a highlight after an emoji lands
on exactly the characters the engine meant.
"""

from __future__ import annotations

import re
from bisect import bisect_left

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class OffsetMap:
    """Converts between code-point offsets and UTF-16 positions in one text.

    The table is the sorted code-point index of every astral character; the UTF-16 position of
    offset `i` is `i` plus how many of them come before it. Texts without astral characters (the
    common case) skip the table entirely.
    """

    __slots__ = ("_astral", "_astral_u16", "length", "utf16_length")

    def __init__(self, text: str) -> None:
        self._astral = [m.start() for m in _ASTRAL.finditer(text)]
        # Where each astral character starts in UTF-16, for the way back.
        self._astral_u16 = [cp + k for k, cp in enumerate(self._astral)]
        self.length = len(text)
        self.utf16_length = len(text) + len(self._astral)

    @property
    def identity(self) -> bool:
        return not self._astral

    def to_utf16(self, offset: int) -> int:
        """Qt position of code-point `offset` (0 <= offset <= len(text))."""
        offset = min(max(offset, 0), self.length)
        if not self._astral:
            return offset
        return offset + bisect_left(self._astral, offset)

    def to_code_point(self, position: int) -> int:
        """Code-point offset of Qt `position`; the middle of a surrogate pair maps to its start."""
        position = min(max(position, 0), self.utf16_length)
        if not self._astral:
            return position
        before = bisect_left(self._astral_u16, position)
        if before and self._astral_u16[before - 1] + 1 == position:
            return self._astral[before - 1]
        return position - before
