"""Plain text: the encoding detector and the .txt loader.

`decode_text` turns bytes into text in any common encoding: a byte order mark wins (UTF-8,
UTF-16, UTF-32), then UTF-16/32 without a mark (told by their NUL bytes), then strict UTF-8, then
UTF-8 with a few bad bytes replaced, then the CJK multi-byte encodings charset-normalizer finds,
then the single-byte code page whose letters make the most sense (cp1252 first). Line endings
become '\\n'. It never fails: what cannot be decoded becomes U+FFFD, with a warning.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, islice

from engine.documents.document import TextBuilder

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 256 * 1024
_SCORE_SAMPLE = 16 * 1024
_MULTIBYTE = {
    "shift_jis", "cp932", "euc_jp", "iso2022_jp", "euc_jis_2004", "shift_jis_2004",
    "shift_jisx0213", "euc_jisx0213", "gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs",
    "cp950", "euc_kr", "cp949", "johab", "iso2022_kr",
}
# Single-byte code pages tried in order of preference (ties go to the first).
_SINGLE_BYTE = ("cp1252", "cp1250", "cp1251", "koi8_r", "cp1253", "cp1254", "cp1257", "cp1255",
                "cp1256", "iso8859_15", "latin_1")


@dataclass
class DecodedText:
    text: str
    encoding: str
    warnings: list[str] = field(default_factory=list)


_CR = re.compile("\r\n?")


def normalize_newlines(text: str) -> str:
    """Line endings: "\\r\\n" and a lone "\\r" become "\\n" (one new string, not two)."""
    if "\r" in text:
        text = _CR.sub("\n", text)
    return text


def decode_text(data: bytes, encoding: str | None = None, *, truncated: bool = False,
                ) -> DecodedText:
    """Decode `data` (a whole file, or its head when `truncated`) and normalise line endings.

    With `encoding`, that codec is used (bad bytes replaced, with a warning). `truncated` drops
    an incomplete character at the very end silently.
    """
    warnings: list[str] = []
    if encoding is not None:
        name = codec_name(encoding)
        text = _decode(data, name, "replace", truncated)
        _warn_replaced(text, name, warnings)
        return DecodedText(normalize_newlines(text), name, warnings)

    for bom, name in _BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            if name.startswith("utf-32") and (
                    not (len(body) % 4 == 0 or truncated) or _try(body, name, truncated) is None):
                continue  # FF FE 00 00 can also be UTF-16 text starting with a NUL
            text = _decode(body, name, "replace", truncated)
            _warn_replaced(text, name, warnings)
            return DecodedText(normalize_newlines(text), name, warnings)

    wide = guess_utf16_or_32(data[:4096])
    if wide is not None:
        text = _decode(data, wide, "replace", truncated)
        warnings.append(f"text encoding guessed as {wide} (the file has no byte order mark)")
        _warn_replaced(text, wide, warnings)
        return DecodedText(normalize_newlines(text), wide, warnings)

    text = _try(data, "utf-8", truncated)
    if text is not None:
        return DecodedText(normalize_newlines(text), "utf-8", warnings)

    sample = data[:_SAMPLE]
    if _mostly_utf8(sample):
        text = _decode(data, "utf-8", "replace", truncated)
        bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
        warnings.append(f"the file is not valid UTF-8: {max(bad, 1)} invalid byte sequence(s) "
                        "were replaced by \ufffd")
        return DecodedText(normalize_newlines(text), "utf-8", warnings)

    name = _guess_legacy(sample)
    text = _decode(data, name, "replace", truncated)
    warnings.append(f"text encoding guessed as {name}")
    _warn_replaced(text, name, warnings)
    return DecodedText(normalize_newlines(text), name, warnings)


# Codecs Python counts as text encodings that are not how any file stores its characters
# (punycode decoding is also quadratic in the input).
_NOT_FILE_ENCODINGS = frozenset({"idna", "punycode", "undefined", "unicode-escape",
                                 "raw-unicode-escape"})


def text_encoding(label: object) -> str | None:
    """The codec name for `label` if it is a character encoding, else None.

    `codecs.lookup` also knows bytes-to-bytes transforms (zlib, bz2, base64, hex...): a file
    that names one of them as its charset would be inflated whole, with no budget. Only codecs
    that decode bytes to text count.
    """
    if not isinstance(label, str) or not label or len(label) > 64:
        return None
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FILE_ENCODINGS:
        return None
    return info.name


def codec_name(encoding: str) -> str:
    name = text_encoding(encoding)
    if name is None:
        try:
            codecs.lookup(encoding)
        except (LookupError, ValueError, TypeError):
            raise ValueError(f"unknown text encoding {encoding!r}") from None
        raise ValueError(f"{encoding!r} is not a text encoding (it does not turn bytes into "
                         "characters)")
    return name


def _decode(data: bytes, encoding: str, errors: str, truncated: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    return decoder.decode(data, final=not truncated)


def _try(data: bytes, encoding: str, truncated: bool) -> str | None:
    try:
        return _decode(data, encoding, "strict", truncated)
    except UnicodeDecodeError:
        return None


def _warn_replaced(text: str, encoding: str, warnings: list[str]) -> None:
    bad = text.count("\ufffd")
    if bad:
        warnings.append(f"{bad} character(s) could not be decoded as {encoding} and were "
                        "replaced by \ufffd")


def guess_utf16_or_32(sample: bytes) -> str | None:
    """UTF-16/32 without a byte order mark, told by where the NUL bytes fall; else None."""
    if b"\x00" not in sample or len(sample) < 2:
        return None
    n4 = len(sample) - len(sample) % 4
    if n4 >= 8:
        quarters = [sample[i:n4:4].count(0) / (n4 // 4) for i in range(4)]
        if quarters[2] > 0.9 and quarters[3] > 0.9 and quarters[0] < 0.5 and \
                _try(sample[:n4], "utf-32-le", True) is not None:
            return "utf-32-le"
        if quarters[0] > 0.9 and quarters[1] > 0.9 and quarters[3] < 0.5 and \
                _try(sample[:n4], "utf-32-be", True) is not None:
            return "utf-32-be"
    n2 = len(sample) - len(sample) % 2
    half = n2 // 2
    even = sample[0:n2:2].count(0) / half
    odd = sample[1:n2:2].count(0) / half
    if odd >= 0.4 and even <= 0.1 and _try(sample[:n2], "utf-16-le", True) is not None:
        return "utf-16-le"
    if even >= 0.4 and odd <= 0.1 and _try(sample[:n2], "utf-16-be", True) is not None:
        return "utf-16-be"
    return None


def _mostly_utf8(sample: bytes) -> bool:
    """Valid UTF-8 with a few bad bytes (a damaged file), rather than a legacy code page."""
    text = sample.decode("utf-8", "replace")
    bad = text.count("\ufffd") - sample.count(b"\xef\xbf\xbd")
    wide = sum(1 for c in text if ord(c) > 0x7F and c != "\ufffd")
    return bad * 20 <= wide and bad <= max(1, len(sample) // 100)


def _guess_legacy(sample: bytes) -> str:
    """The legacy encoding whose decoding of `sample` reads most like real writing."""
    high = sum(1 for b in sample[:_SCORE_SAMPLE] if b > 0x7F)
    candidates = list(_SINGLE_BYTE)
    if high >= 8:
        # charset-normalizer tells the CJK encodings apart well; its pick competes with the
        # single-byte code pages on how plausible the text it gives is.
        try:
            import charset_normalizer

            best = charset_normalizer.from_bytes(sample).best()
        except Exception:  # noqa: BLE001 - a detector failure only means "no opinion"
            best = None
        if best is not None:
            name = text_encoding(best.encoding)
            if name in _MULTIBYTE:
                candidates.insert(0, name)
            elif name and name not in candidates and not name.startswith("utf"):
                candidates.append(name)
    scored = []
    for order, name in enumerate(candidates):
        text = _try(sample[:_SCORE_SAMPLE], name, True)
        if text is not None:
            weight = 2 if name in _MULTIBYTE else 1
            scored.append((_plausibility(text, weight), -order, name))
    if not scored:
        return "cp1252"
    return max(scored)[2]


# Punctuation that sits at word boundaries in real text.
_BOUNDARY_PUNCT = frozenset("¿¡«»“”‘’„‚‹›—–…°§©®€£¥·•†‡‰")


@lru_cache(maxsize=4096)
def _script(c: str) -> str:
    try:
        script = unicodedata.name(c).split(" ", 1)[0]
    except ValueError:
        return "?"
    return "CJK" if script in _EAST_ASIAN else script


_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC", "FULLWIDTH",
                         "KATAKANA-HIRAGANA", "BOPOMOFO"})


def _plausibility(text: str, weight: int = 1) -> int:
    """How much the non-ASCII characters of a decoding look like real writing."""
    score = 0
    n = len(text)
    for i, c in enumerate(text):
        if c < "\x80":
            continue
        prev = text[i - 1] if i else " "
        nxt = text[i + 1] if i + 1 < n else " "
        if c.isalpha():
            script = _script(c)
            score += weight
            if script == "HALFWIDTH":
                score -= 2 * weight
            for other in (prev, nxt):
                if other.isalpha():
                    if other > "\x7f" and _script(other) != script:
                        score -= 2
                    elif other < "\x80" and script != "LATIN":
                        score -= 3
            if script == "LATIN" and prev > "\x7f" and nxt > "\x7f" and prev.isalpha() \
                    and nxt.isalpha():
                score -= 2  # runs of accented letters: "Ïðèâåò" is Cyrillic read as Latin
            if c.isupper() and prev.isalpha() and prev.islower():
                score -= 1
        elif "\x80" <= c <= "\x9f" or unicodedata.category(c) in ("Cc", "Co", "Cn"):
            score -= 5
        elif prev.isalpha() and nxt.isalpha():
            score -= 3  # a symbol inside a word: "Za¿ó³æ"
        elif c in _BOUNDARY_PUNCT:
            score += 1
    return score


# --- the .txt loader -------------------------------------------------------------------------------
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# A run of non-blank lines from its first to its last non-space character; possessive
# repeats: one pass, no backtracking, whatever the white space inside.
_PARAGRAPH = re.compile(r"\S(?:[^\S\n]*+(?:\n[^\S\n]*+)?\S)*+")
_LINE = re.compile(r"\S(?:[^\S\n]*+\S)*+")
_LONG_LINE = re.compile(r"^[^\n]{101}", re.MULTILINE)


def plain_text_ranges(text: str, start: int = 0, end: int | None = None,
                      ) -> Iterator[tuple[int, int]]:
    """(start, end) of each paragraph of plain `text[start:end]`, as offsets into `text`.

    A paragraph is a run of non-blank lines, without the white space around it. A text with no
    blank line at all has one paragraph per line (text copied from web pages), and so has a run
    in which a quarter or more of the lines are over 100 characters (lines that were never
    wrapped by hand); other runs (hard-wrapped prose, lists, verse) stay one paragraph with
    their line breaks.
    """
    flat = plain_text_spans(text, start, end)
    return zip(flat[0::2], flat[1::2])


def plain_text_spans(text: str, start: int = 0, end: int | None = None,
                     limit: int | None = None) -> array:
    """`plain_text_ranges` as one flat array: start0, end0, start1, end1...

    Found in C (regex, map, chain, array.extend): no Python code runs per paragraph, so a file
    of millions of one-letter lines costs about a second and 8 bytes a line. Only runs over 100
    characters are looked at again for their long lines. With `limit`, scanning stops after
    `limit` + 1 paragraphs (the caller sees there are more than `limit`).
    """
    end = len(text) if end is None else end
    flat = array("i" if len(text) < 2**31 else "q")
    cap = None if limit is None else 2 * (limit + 1)
    if not _BLANK_LINE.search(text, start, end):
        flat.extend(islice(chain.from_iterable(map(_SPAN, _LINE.finditer(text, start, end))),
                           cap))
        return flat
    flat.extend(islice(chain.from_iterable(map(_SPAN, _PARAGRAPH.finditer(text, start, end))),
                       cap))
    long_runs = [i for i in _long_runs(flat) if _mostly_long_lines(text, flat[i], flat[i + 1])]
    if not long_runs:
        return flat
    out = array(flat.typecode)
    done = 0
    for i in long_runs:
        out.extend(flat[done:i])
        out.extend(chain.from_iterable(map(_SPAN, _LINE.finditer(text, flat[i], flat[i + 1]))))
        done = i + 2
    out.extend(flat[done:])
    return out


_SPAN = re.Match.span


def _long_runs(flat: array) -> list[int]:
    """Indexes (into `flat`) of the runs over 100 characters."""
    import numpy as np

    pairs = np.frombuffer(flat, dtype=np.int32 if flat.itemsize == 4 else np.int64)
    pairs = pairs.reshape(-1, 2)
    return (np.flatnonzero(pairs[:, 1] - pairs[:, 0] > 100) * 2).tolist()


def paragraph_runs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of non-blank lines in `text[start:end]`, trimmed (no per-line
    rule: for code, whose lines are never one paragraph each)."""
    for m in _PARAGRAPH.finditer(text, start, end):
        yield m.span()


def _mostly_long_lines(text: str, a: int, b: int) -> bool:
    lines = text.count("\n", a, b) + 1
    if lines == 1:
        return False
    need = (lines + 3) // 4
    first = text.find("\n", a, b)
    found = 1 if first - a > 100 else 0  # "^" does not match at `a` itself
    if found >= need:
        return True
    for _ in _LONG_LINE.finditer(text, first, b):
        found += 1
        if found >= need:
            return True
    return False


def add_plain_text(builder: TextBuilder, text: str) -> None:
    """`text` (line endings already "\\n") as the builder's whole text, with its paragraphs
    (`plain_text_ranges`): offsets into the document are offsets into `text`."""
    builder.set_text(text, plain_text_spans(text, limit=builder.max_paragraphs))


def read_decoded(ctx) -> str:
    """The whole file (bounded by the options) decoded, with warnings recorded on `ctx`."""
    data, truncated = ctx.read_all()
    decoded = decode_text(data, ctx.options.encoding, truncated=truncated)
    del data
    for message in decoded.warnings:
        ctx.warn(message)
    text = decoded.text
    nul = text.count("\x00")
    if nul:
        ctx.warn(f"the text holds {nul} NUL character(s): the file may be partly binary")
    return text


def load_text(ctx) -> None:
    ctx.title = ctx.path.stem
    add_plain_text(ctx.builder, read_decoded(ctx))
