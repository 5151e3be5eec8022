"""ALBERT tokenizer on sentencepiece, with the character span of every token.

The ids are the ones transformers' slow `AlbertTokenizer` (4.57) gives, because the checkpoints we
run were trained with it. Its pipeline is, in order:

1. with `do_lower_case`, lower-case the text one character at a time, except the special-token
   strings (so "[CLS]" stays and "<UNK>" *becomes* the special "<unk>");
2. split the text on the special-token strings; "[MASK]" eats the whitespace on its left;
3. per chunk, `preprocess_text`: collapse whitespace, turn ``/'' into ", NFKD and drop combining
   marks (unless `keep_accents`), lower-case the whole chunk;
4. sentencepiece, which normalizes once more (NFKC and friends) and splits into pieces;
5. a piece ending in digit + comma ("▁1,000,") is encoded again without its comma, which becomes
   its own token.

We replay the same steps on an `_Aligned` text that remembers, for every character, the range of
the original string it came from. Sentencepiece's own normalization is followed with
`normalize(with_offsets=True)`: its pieces concatenate to the normalized text, and the offsets say
which character of the chunk each normalized character comes from. Together they give every piece
a span of the original string, which is then trimmed of whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import sentencepiece as spm

from engine.errors import CorruptModelFileError, ModelNotFoundError, UnsupportedModelError

SPIECE_UNDERLINE = "▁"
CLS_TOKEN, SEP_TOKEN, UNK_TOKEN = "[CLS]", "[SEP]", "<unk>"
PAD_TOKEN, MASK_TOKEN = "<pad>", "[MASK]"
# The order of transformers' `all_special_tokens`; it decides which token wins at a position.
SPECIAL_TOKENS = (CLS_TOKEN, SEP_TOKEN, UNK_TOKEN, PAD_TOKEN, MASK_TOKEN)
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")

_SPECIAL_RE = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))
# `\S` in `re` is exactly "not str.isspace()", the whitespace that str.split() uses.
_WORD_RE = re.compile(r"\S+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")

Span = tuple[int, int]


@dataclass
class Encoding:
    """Model inputs for one sequence or pair, with where every token came from."""

    ids: list[int]
    offsets: list[Span]  # into the original string(s); (0, 0) for [CLS]/[SEP]
    type_ids: list[int]  # 0 for [CLS] A [SEP], 1 for B [SEP]
    sequence_ids: list[int | None]  # None for [CLS]/[SEP], 0 for the first text, 1 for the pair
    tokens: list[str]

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class TokenSpans(NamedTuple):
    """A tokenized text: ids and each token's character span ``[starts[k], ends[k])``.

    Lists or numpy arrays; `AlbertTokenizer.windows` cuts model inputs from it."""

    ids: Sequence[int]
    starts: Sequence[int]
    ends: Sequence[int]

    @classmethod
    def of(cls, ids: Sequence[int], offsets: Sequence[Span]) -> TokenSpans:
        return cls(ids, [s for s, _ in offsets], [e for _, e in offsets])


@dataclass(frozen=True)
class Window:
    """One model input: ``[CLS] (question [SEP]) slice [SEP]``, the slice being tokens
    ``[start, stop)`` of the text, beginning at position `body` of `ids`."""

    ids: list[int]
    type_ids: list[int]
    start: int
    stop: int
    body: int
    text: TokenSpans = field(repr=False, compare=False)
    question: TokenSpans | None = field(default=None, repr=False, compare=False)

    @property
    def count(self) -> int:
        """Text tokens in the window."""
        return self.stop - self.start

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.ids)

    @property
    def offsets(self) -> list[Span]:
        """Each token's character span in its own text; (0, 0) for [CLS]/[SEP]."""
        head: list[Span] = [(0, 0)]
        if self.question is not None:
            head += [*_spans(self.question, 0, len(self.question.ids)), (0, 0)]
        return [*head, *_spans(self.text, self.start, self.stop), (0, 0)]

    def __len__(self) -> int:
        return len(self.ids)


def _spans(t: TokenSpans, a: int, b: int) -> list[Span]:
    return [(int(s), int(e)) for s, e in zip(t.starts[a:b], t.ends[a:b])]


class _Aligned(NamedTuple):
    """A text plus, for each of its characters, the original range [starts[i], ends[i])."""

    text: str
    starts: list[int]
    ends: list[int]

    @classmethod
    def identity(cls, text: str) -> _Aligned:
        return cls(text, list(range(len(text))), list(range(1, len(text) + 1)))

    def slice(self, a: int, b: int) -> _Aligned:
        if a == 0 and b == len(self.text):
            return self
        return _Aligned(self.text[a:b], self.starts[a:b], self.ends[a:b])

    def span(self, a: int, b: int) -> Span:
        """Original span of the characters [a, b) (b > a)."""
        return self.starts[a], self.ends[b - 1]


class _Tokens(NamedTuple):
    ids: list[int]
    tokens: list[str]
    offsets: list[Span]

    def add(self, token_id: int, token: str, span: Span) -> None:
        self.ids.append(token_id)
        self.tokens.append(token)
        self.offsets.append(span)


class _Chunk(NamedTuple):
    """A preprocessed chunk as sentencepiece normalized it."""

    al: _Aligned  # the chunk passed to sentencepiece, aligned with the original
    original: str
    norm: str  # sentencepiece's normalized text: the pieces, concatenated
    norm_src: list[int]  # chunk index each normalized character comes from (+ end sentinel)

    def source_end(self, k: int) -> int:
        """End (in the chunk) of the character that normalized character k comes from.

        That is where the next normalized character from a *different* source begins: the
        characters of one expansion ('ﬃ' -> 'ffi') share a source, and a contraction
        ('e' + U+0301 -> 'é') or a removed control character makes the next source jump further.
        """
        src = self.norm_src
        start = src[k]
        for j in range(k + 1, len(src)):
            if src[j] > start:
                return src[j]
        return start + 1


# --- text transformations that keep the alignment ------------------------------------------------


def _rewrite_non_ascii(al: _Aligned, convert: Callable[[str], str]) -> _Aligned:
    """Replace every non-ASCII character c by convert(c); ASCII is copied as is.

    Each output character inherits the span of the character it came from. A character that
    converts to nothing (a dropped accent) widens the span of the character before it, so that
    a token "e" made of e + U+0301 covers the accent too; never a space's span, which would pull
    the mark into the whitespace that spans are trimmed of.
    """
    text, starts, ends = al
    parts: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    prev = ""  # last character written
    pos = 0
    for run in _NON_ASCII_RE.finditer(text):
        a, b = run.span()
        if pos < a:
            parts.append(text[pos:a])
            out_s += starts[pos:a]
            out_e += ends[pos:a]
            prev = text[a - 1]
        for k in range(a, b):
            rep = convert(text[k])
            if rep:
                parts.append(rep)
                out_s += [starts[k]] * len(rep)
                out_e += [ends[k]] * len(rep)
                prev = rep[-1]
            elif out_e and not prev.isspace():
                out_e[-1] = ends[k]
        pos = b
    if pos < len(text):
        parts.append(text[pos:])
        out_s += starts[pos:]
        out_e += ends[pos:]
    return _Aligned("".join(parts), out_s, out_e)


def _lower_alone(c: str) -> str:
    # What c.lower() gives for c on its own: no final-sigma rule (the only context rule Python has).
    return "σ" if c == "Σ" else c.lower()


def _lower_protecting_specials(al: _Aligned) -> _Aligned:
    """transformers' do_lower_case regex: lower one character at a time, skip special tokens."""
    text = al.text
    parts = []
    pos = 0
    for m in _SPECIAL_RE.finditer(text):
        parts.append(text[pos : m.start()].replace("Σ", "σ").lower())
        parts.append(m.group())
        pos = m.end()
    parts.append(text[pos:].replace("Σ", "σ").lower())
    lowered = "".join(parts)
    if len(lowered) != len(text):  # 'İ' -> 'i̇' (2 chars): specials are ASCII, so unaffected
        al = _rewrite_non_ascii(al, _lower_alone)
    return _Aligned(lowered, al.starts, al.ends)


def _lower(al: _Aligned) -> _Aligned:
    """str.lower() of the whole text (final sigma included), lengths per character."""
    lowered = al.text.lower()
    if len(lowered) != len(al.text):
        al = _rewrite_non_ascii(al, str.lower)  # same lengths: the final sigma is one char
    return _Aligned(lowered, al.starts, al.ends)


def _collapse_whitespace(al: _Aligned) -> _Aligned:
    """Join the words with single spaces (`" ".join(text.split())`).

    A joining space gets the span of the whole whitespace run it replaces.
    """
    text, starts, ends = al
    words = [m.span() for m in _WORD_RE.finditer(text)]
    joined = " ".join(text[a:b] for a, b in words)
    if joined == text:
        return al
    out_s: list[int] = []
    out_e: list[int] = []
    prev_end = 0
    for a, b in words:
        if out_s:
            out_s.append(starts[prev_end])
            out_e.append(ends[a - 1])
        out_s += starts[a:b]
        out_e += ends[a:b]
        prev_end = b
    return _Aligned(joined, out_s, out_e)


def _replace_pair(al: _Aligned, pair: str, by: str) -> _Aligned:
    """text.replace(pair, by) for a 2-character pair and a 1-character replacement."""
    text, starts, ends = al
    j = text.find(pair)
    if j < 0:
        return al
    parts: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    pos = 0
    while j >= 0:
        parts += (text[pos:j], by)
        out_s += starts[pos:j]
        out_e += ends[pos:j]
        out_s.append(starts[j])
        out_e.append(ends[j + 1])
        pos = j + 2
        j = text.find(pair, pos)
    parts.append(text[pos:])
    out_s += starts[pos:]
    out_e += ends[pos:]
    return _Aligned("".join(parts), out_s, out_e)


@lru_cache(maxsize=8192)
def _strip_accents(c: str) -> str:
    # NFKD of one character, without its combining marks. Doing this per character equals doing
    # it on the whole string: NFKD's reordering only moves combining marks, which are all dropped.
    return "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))


# --- the tokenizer -------------------------------------------------------------------------------


class AlbertTokenizer:
    """Sentencepiece ALBERT tokenizer, id-for-id with transformers' slow AlbertTokenizer."""

    def __init__(
        self,
        spiece_path,
        do_lower_case: bool = True,
        keep_accents: bool = False,
        remove_space: bool = True,
    ) -> None:
        self.spiece_path = Path(spiece_path)
        self.do_lower_case = bool(do_lower_case)
        self.keep_accents = bool(keep_accents)
        self.remove_space = bool(remove_space)
        self._sp = _load_spiece(self.spiece_path)
        self._special_ids = _special_token_ids(self._sp, self.spiece_path)
        self.cls_token_id = self._special_ids[CLS_TOKEN]
        self.sep_token_id = self._special_ids[SEP_TOKEN]
        self.pad_token_id = self._special_ids[PAD_TOKEN]
        self.unk_token_id = self._special_ids[UNK_TOKEN]
        self.mask_token_id = self._special_ids[MASK_TOKEN]
        self.all_special_ids = frozenset(self._special_ids.values())
        self._vanishes_cache: dict[str, bool] = {}

    @classmethod
    def from_pretrained(cls, model_dir) -> AlbertTokenizer:
        """Load `spiece.model` with the options saved in `tokenizer_config.json` (if any)."""
        model_dir = Path(model_dir)
        spiece = model_dir / "spiece.model"
        if not spiece.is_file():
            raise ModelNotFoundError(
                f"No tokenizer in {model_dir}: 'spiece.model' is missing. "
                "Re-download or re-install the model."
            )
        config = _read_tokenizer_config(model_dir / "tokenizer_config.json")
        return cls(
            spiece,
            do_lower_case=config.get("do_lower_case", True),
            keep_accents=config.get("keep_accents", False),
            remove_space=config.get("remove_space", True),
        )

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    # --- public API ------------------------------------------------------------------------------

    def tokenize_with_offsets(self, text: str) -> tuple[list[int], list[str], list[Span]]:
        """Ids, pieces and original spans of `text`, without [CLS]/[SEP]."""
        toks = self._tokenize(text)
        return toks.ids, toks.tokens, toks.offsets

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        max_length: int | None = None,
        truncation: str = "longest_first",
    ) -> Encoding:
        """[CLS] text [SEP] (text_pair [SEP]), truncated like transformers to `max_length`."""
        if truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(
                f"truncation must be one of {TRUNCATION_STRATEGIES}, not {truncation!r}"
            )
        first = self._tokenize(text)
        second = None if text_pair is None else self._tokenize(text_pair)
        if max_length is not None:
            keep_first, keep_second = _truncated_lengths(
                len(first.ids), None if second is None else len(second.ids), max_length, truncation
            )
            first = _slice_tokens(first, 0, keep_first)
            if second is not None:
                second = _slice_tokens(second, 0, keep_second)
        return self._assemble(first, second)

    def encode_windows(
        self, text: str, text_pair: str | None = None, max_length: int = 384, stride: int = 128
    ) -> list[Encoding]:
        """Overlapping windows that together cover the whole (second) text.

        With a pair (question=text, context=text_pair) every window is
        [CLS] question [SEP] context-slice [SEP], consecutive slices sharing `stride` tokens, as
        transformers' fast tokenizers make them with return_overflowing_tokens=True,
        truncation="only_second". Without a pair, the single text is cut the same way.
        """
        first = self._tokenize(text)
        if text_pair is None:
            body, question = first, None
        else:
            body, question = self._tokenize(text_pair), first
        found = self.windows(TokenSpans.of(body.ids, body.offsets), max_length, stride,
                             question=None if question is None else
                             TokenSpans.of(question.ids, question.offsets))
        return [_encoding(w, body, question) for w in found]

    def windows(self, text: TokenSpans, max_length: int, stride: int = 0, *,
                question: TokenSpans | None = None,
                ranges: Sequence[tuple[int, int]] | None = None,
                truncate: bool = False) -> list[Window]:
        """The model inputs of a tokenized text: every task's windows come from here.

        Each window is ``[CLS] slice [SEP]``, or ``[CLS] question [SEP] slice [SEP]`` with type
        ids 1 from the slice on, at most `max_length` tokens. The slices cover `text`'s tokens
        (or each of `ranges`, token index ranges, on its own), consecutive slices sharing
        `stride` tokens, as the tokenizers library cuts overflowing tokens (`window_bounds`).
        `truncate=True` keeps only the first slice, as ``truncation=True`` does.
        """
        fixed = 2 if question is None else len(question.ids) + 3
        width = max_length - fixed
        if width <= 0:
            raise ValueError(
                f"max_length={max_length} leaves no room for the text: {fixed} tokens are taken "
                "by the question and the special tokens."
            )
        n = len(text.ids)
        if truncate:
            bounds = [(0, min(n, width))]
        else:
            bounds = [w for a, b in (ranges or [(0, n)]) for w in window_bounds(a, b, width,
                                                                                 stride)]
        cls, sep = self.cls_token_id, self.sep_token_id
        head = [cls] if question is None else [cls, *_as_list(question.ids), sep]
        out = []
        for a, b in bounds:
            ids = [*head, *_as_list(text.ids[a:b]), sep]
            types = [0] * len(ids) if question is None else \
                [0] * len(head) + [1] * (b - a + 1)
            out.append(Window(ids, types, a, b, len(head), text, question))
        return out

    def encode_batch(self, texts) -> list[Encoding]:
        """encode() each item: a string, or a (text, text_pair) tuple."""
        return [self.encode(*t) if isinstance(t, tuple) else self.encode(t) for t in texts]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Text of `ids`, as transformers' decode() gives it (clean_up_tokenization_spaces off)."""
        pieces = [
            self._sp.id_to_piece(int(i))
            for i in ids
            if not (skip_special_tokens and int(i) in self.all_special_ids)
        ]
        # Special tokens are written as is with a space before them (one per run); the pieces
        # between them are decoded by sentencepiece, as in convert_tokens_to_string.
        out: list[str] = []
        run: list[str] = []
        after_special = False
        for piece in pieces:
            if piece in self._special_ids:
                out += ("" if after_special else " ", self._sp.decode(run), piece)
                run = []
            else:
                run.append(piece)
            after_special = piece in self._special_ids
        out.append(self._sp.decode(run))
        return "".join(out).strip()

    # --- tokenization ----------------------------------------------------------------------------

    def _tokenize(self, text: str) -> _Tokens:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        try:  # sentencepiece cannot take lone surrogates (e.g. from errors="surrogateescape")
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"text is not valid Unicode: {exc}") from exc
        al = _Aligned.identity(text)
        if self.do_lower_case:
            al = _lower_protecting_specials(al)
        out = _Tokens([], [], [])
        for kind, chunk in self._split_specials(al):
            if kind == "special":
                out.add(self._special_ids[chunk.text], chunk.text, chunk.span(0, len(chunk.text)))
            elif chunk.text:
                self._tokenize_chunk(self._preprocess(chunk), text, out)
        return out

    def _split_specials(self, al: _Aligned) -> list[tuple[str, _Aligned]]:
        """("text", chunk) and ("special", chunk) parts, as transformers' added-token split."""
        pieces = []
        pos = 0
        for m in _SPECIAL_RE.finditer(al.text):
            left = al.slice(pos, m.start())
            if m.group() == MASK_TOKEN:  # lstrip=True: the mask takes the whitespace on its left
                left = left.slice(0, len(left.text.rstrip()))
            pieces += [("text", left), ("special", al.slice(m.start(), m.end()))]
            pos = m.end()
        pieces.append(("text", al.slice(pos, len(al.text))))
        return pieces

    def _preprocess(self, al: _Aligned) -> _Aligned:
        """transformers' preprocess_text, step by step, keeping the alignment."""
        if self.remove_space:
            al = _collapse_whitespace(al)
        al = _replace_pair(al, "``", '"')
        al = _replace_pair(al, "''", '"')
        if not self.keep_accents and not al.text.isascii():
            al = _rewrite_non_ascii(al, _strip_accents)
        if self.do_lower_case:
            al = _lower(al)
        return al

    def _tokenize_chunk(self, al: _Aligned, original: str, out: _Tokens) -> None:
        pieces = self._sp.encode(al.text, out_type=str)
        if not pieces:
            return
        # The pieces concatenate to sentencepiece's normalized text; `norm_src[k]` is the chunk
        # character that normalized character k came from (len(norm) + 1 entries, last = end).
        norm, norm_src = self._sp.normalize(al.text, with_offsets=True)
        chunk = _Chunk(al, original, norm, norm_src)
        ids = self._sp.piece_to_id(pieces)
        pos = 0
        for piece, pid in zip(pieces, ids):
            # (clamped: should the two ever disagree, spans stay valid, if less exact)
            nb, pos = pos, min(pos + len(piece), len(norm))
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                self._split_number(piece, nb, pos, chunk, out)
                continue
            # convert_tokens_to_ids looks at the special tokens first
            out.add(self._special_ids.get(piece, pid), piece, self._span(chunk, nb, pos, piece))

    def _split_number(self, piece: str, nb: int, ne: int, chunk: _Chunk, out: _Tokens) -> None:
        """'▁1,000,' -> pieces of '1,000' then ',' (BERT's rule, kept by transformers)."""
        core = piece[:-1].replace(SPIECE_UNDERLINE, "")
        subs = self._sp.encode(core, out_type=str)
        if subs and not piece.startswith(SPIECE_UNDERLINE) and subs[0].startswith(SPIECE_UNDERLINE):
            subs = subs[1:] if subs[0] == SPIECE_UNDERLINE else [subs[0][1:], *subs[1:]]
        # Where each character of `core` is in the normalized text: the piece minus its '▁'s.
        core_at = [k for k in range(nb, ne - 1) if chunk.norm[k] != SPIECE_UNDERLINE]
        done = 0
        for sub in subs:
            width = len(sub.replace(SPIECE_UNDERLINE, ""))
            if width and done < len(core_at):
                last = min(done + width, len(core_at)) - 1
                sb, se = core_at[done], core_at[last] + 1
            else:  # a bare '▁': zero width, before the next character of the core
                sb = se = core_at[done] if done < len(core_at) else ne - 1
            done += width
            out.add(self._piece_id(sub), sub, self._span(chunk, sb, se, sub))
        out.add(self._piece_id(","), ",", self._span(chunk, ne - 1, ne, ","))

    def _span(self, chunk: _Chunk, nb: int, ne: int, piece: str) -> Span:
        """Original span of the piece made of normalized characters [nb, ne)."""
        al, src = chunk.al, chunk.norm_src
        n = len(al.text)
        if piece.strip(SPIECE_UNDERLINE) and nb < ne:
            cb, ce = src[nb], chunk.source_end(ne - 1)
            s, t = self._trim(chunk.original, *al.span(cb, ce))
            if s < t:
                return s, t
            return t, t
        # A bare '▁' (a word boundary): zero width, at the start of the text that follows.
        c = src[ne]
        p = al.starts[c] if c < n else (al.ends[-1] if n else 0)
        return p, p

    def _trim(self, original: str, s: int, t: int) -> Span:
        """Drop whitespace and characters that normalize to nothing at both ends of a span."""
        while s < t and self._vanishes(original[s]):
            s += 1
        while t > s and self._vanishes(original[t - 1]):
            t -= 1
        return s, t

    def _vanishes(self, c: str) -> bool:
        """True for a character the pipeline turns into nothing but a word boundary."""
        hit = self._vanishes_cache.get(c)
        if hit is None:
            normalized = self._sp.normalize(self._preprocess(_Aligned.identity(c)).text)
            hit = self._vanishes_cache[c] = not normalized.replace(SPIECE_UNDERLINE, "")
        return hit

    def _piece_id(self, piece: str) -> int:
        # convert_tokens_to_ids: added (special) tokens first, then the vocabulary.
        special = self._special_ids.get(piece)
        return special if special is not None else self._sp.piece_to_id(piece)

    # --- assembling model inputs -----------------------------------------------------------------

    def _assemble(self, first: _Tokens, second: _Tokens | None = None) -> Encoding:
        cls, sep = self.cls_token_id, self.sep_token_id
        ids = [cls, *first.ids, sep]
        tokens = [CLS_TOKEN, *first.tokens, SEP_TOKEN]
        offsets = [(0, 0), *first.offsets, (0, 0)]
        sequence_ids: list[int | None] = [None, *[0] * len(first.ids), None]
        type_ids = [0] * len(ids)
        if second is not None:
            ids += [*second.ids, sep]
            tokens += [*second.tokens, SEP_TOKEN]
            offsets += [*second.offsets, (0, 0)]
            sequence_ids += [*[1] * len(second.ids), None]
            type_ids += [1] * (len(second.ids) + 1)
        return Encoding(ids, offsets, type_ids, sequence_ids, tokens)


# --- helpers -------------------------------------------------------------------------------------


def _load_spiece(path: Path) -> spm.SentencePieceProcessor:
    if not path.is_file():
        raise ModelNotFoundError(f"Tokenizer file not found: {path}. Re-install the model.")
    try:
        # Reading the bytes ourselves avoids sentencepiece's own file handling, which trips on
        # non-ASCII paths on Windows.
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptModelFileError(f"Cannot read the tokenizer file {path}: {exc}") from exc
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(data)
    except Exception as exc:  # sentencepiece raises RuntimeError/OSError/... depending on version
        raise CorruptModelFileError(
            f"The tokenizer file {path} is damaged ({exc}). Re-download the model."
        ) from exc
    if sp.get_piece_size() == 0:
        raise CorruptModelFileError(f"The tokenizer file {path} is empty. Re-download the model.")
    return sp


def _special_token_ids(sp: spm.SentencePieceProcessor, path: Path) -> dict[str, int]:
    ids = {token: sp.piece_to_id(token) for token in SPECIAL_TOKENS}
    missing = [token for token, i in ids.items() if sp.id_to_piece(i) != token]
    if missing:
        raise UnsupportedModelError(
            f"{path} is not an ALBERT tokenizer: it has no {', '.join(missing)} token."
        )
    return ids


def _read_tokenizer_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    from engine.albert.config import read_json_object

    return read_json_object(path)  # bounded in size and depth; typed errors naming the file


def _slice_tokens(toks: _Tokens, a: int, b: int) -> _Tokens:
    return _Tokens(toks.ids[a:b], toks.tokens[a:b], toks.offsets[a:b])


def _truncated_lengths(
    n_first: int, n_second: int | None, max_length: int, strategy: str
) -> tuple[int, int | None]:
    """How many tokens of each sequence transformers' slow tokenizer keeps.

    Where transformers only logs an error and returns an input longer than max_length, we raise.
    """
    specials = 2 if n_second is None else 3
    excess = n_first + (n_second or 0) + specials - max_length
    if excess <= 0:
        return n_first, n_second
    if strategy == "only_first" or (strategy == "longest_first" and n_second is None):
        if n_first <= excess:
            raise ValueError(
                f"Cannot truncate to max_length={max_length}: {excess} tokens must go but the "
                f"first text has {n_first}."
            )
        return n_first - excess, n_second
    if strategy == "only_second":
        if n_second is None or n_second <= excess:
            have = "no second text" if n_second is None else f"the second text has {n_second}"
            raise ValueError(
                f"Cannot truncate to max_length={max_length}: {excess} tokens must go but {have}."
            )
        return n_first, n_second - excess
    # longest_first on a pair: first even out the lengths, then take turns (second text first).
    if excess > n_first + n_second:
        raise ValueError(f"max_length={max_length} is shorter than the 3 special tokens.")
    first_part = min(abs(n_first - n_second), excess)
    rest = excess - first_part
    if n_first > n_second:
        cut_first, cut_second = first_part + rest // 2, rest - rest // 2
    else:
        cut_first, cut_second = rest // 2, first_part + rest - rest // 2
    return n_first - cut_first, n_second - cut_second


def window_bounds(a: int, b: int, width: int, stride: int) -> list[tuple[int, int]]:
    """[start, stop) of windows of `width` tokens over tokens [a, b), `stride` tokens shared.

    As the tokenizers library cuts overflowing tokens: starts at a, a+width-stride, ... and stops
    at the first window that reaches b.
    """
    if b - a <= width:
        return [(a, b)]
    if not 0 <= stride < width:
        raise ValueError(f"stride={stride} must be at least 0 and below the window size {width}.")
    bounds = []
    start = a
    while True:
        stop = min(start + width, b)
        bounds.append((start, stop))
        if stop == b:
            return bounds
        start += width - stride


def _as_list(ids) -> list[int]:
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def _encoding(w: Window, body: _Tokens, question: _Tokens | None) -> Encoding:
    first = [] if question is None else [*question.tokens, SEP_TOKEN]
    tokens = [CLS_TOKEN, *first, *body.tokens[w.start:w.stop], SEP_TOKEN]
    n_q = 0 if question is None else len(question.ids)
    sequence_ids: list[int | None] = [None, *[0] * w.count, None] if question is None else \
        [None, *[0] * n_q, None, *[1] * w.count, None]
    return Encoding(w.ids, w.offsets, w.type_ids, sequence_ids, tokens)
