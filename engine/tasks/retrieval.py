"""Passages of a document and a small BM25 index over them (numpy), for question answering.

A long document is cut into passages of roughly `min_words`..`max_words` words: paragraphs are
kept whole when they fit, short ones are merged with their neighbours, long ones are cut at
sentence ends (or, failing that, between words). The index is built once per document text and
cached by a hash of the text, so asking more questions about the same document costs only the
scoring of the question's terms (a few milliseconds).

Terms are words folded for matching: look-alike letters of other scripts read as what they
spell (`engine.lookalikes`: "AᏞBERT" matches "albert"), then NFKC, case folding, accents
stripped, English stop words dropped and a light plural/possessive stemming. Scores are Okapi
BM25 (k1=1.5, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from engine.tasks._common import LRU, fold_text, text_key
from engine.tasks.sentences import paragraph_ranges

Range = tuple[int, int]

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+|\n+")
_SPACE = re.compile(r"\S+")

_STOPWORD_LIST = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don does did
"""
_STOPWORDS = frozenset(_STOPWORD_LIST.split())


def fold(word: str) -> str:
    """The form a word is matched under."""
    return _fold_word(fold_text(word).text)


def _fold_word(word: str) -> str:
    """`fold` of a word whose look-alike letters are folded already."""
    word = unicodedata.normalize("NFKC", word).casefold()
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word)
                       if not unicodedata.combining(c))
    return _stem(word)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The BM25 terms of a text: folded words without stop words."""
    out = []
    # Look-alikes are found per word in context, so the text is folded once, not word by word.
    for m in _WORD.finditer(fold_text(text).text):
        word = _fold_word(m.group())
        if word and word not in _STOPWORDS:
            out.append(word)
    return out


# --- passages ------------------------------------------------------------------------------------
def make_passages(text: str, paragraphs: list[Range] | None = None, min_words: int = 60,
                  max_words: int = 180) -> list[Range]:
    """Cut `text` into passages of about min_words..max_words words (exact, trimmed ranges)."""
    blocks = paragraphs if paragraphs else paragraph_ranges(text)
    pieces: list[tuple[int, int, int]] = []  # start, end, words
    for a, b in blocks:
        pieces.extend(_split_block(text, a, b, max_words))
    passages: list[Range] = []
    cur: list[int] | None = None  # [start, end, words]
    for a, b, n in pieces:
        if cur is not None and (cur[2] < min_words or n < min_words // 2) \
                and cur[2] + n <= max_words:
            cur[1], cur[2] = b, cur[2] + n
            continue
        if cur is not None:
            passages.append((cur[0], cur[1]))
        cur = [a, b, n]
    if cur is not None:
        passages.append((cur[0], cur[1]))
    return passages


def _split_block(text: str, a: int, b: int, max_words: int) -> list[tuple[int, int, int]]:
    words = [m.span() for m in _SPACE.finditer(text, a, b)]
    if len(words) <= max_words:
        return [(a, b, len(words))] if words else []
    # Candidate cut points: word indices right after a sentence end.
    ends = {m.end() for m in _SENTENCE_END.finditer(text, a, b)}
    cut_after = [i for i, (_, e) in enumerate(words)
                 if i + 1 < len(words) and _next_start_after_end(e, words[i + 1][0], ends)]
    out = []
    first = 0
    ci = 0
    while len(words) - first > max_words:
        limit = first + max_words - 1
        best = -1
        while ci < len(cut_after) and cut_after[ci] <= limit:
            if cut_after[ci] >= first + max_words // 3:
                best = cut_after[ci]
            ci += 1
        last = best if best >= 0 else limit
        out.append((words[first][0], words[last][1], last - first + 1))
        first = last + 1
    out.append((words[first][0], words[-1][1], len(words) - first))
    return out


def _next_start_after_end(word_end: int, next_start: int, ends: set[int]) -> bool:
    return any(p in ends for p in range(word_end, next_start + 1))


# --- BM25 ----------------------------------------------------------------------------------------
class BM25:
    """Okapi BM25 over a list of term lists."""

    def __init__(self, docs: list[list[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        self.avgdl = float(lengths.mean()) if len(docs) and lengths.sum() else 1.0
        self._norm = k1 * (1.0 - b + b * lengths / self.avgdl) if len(docs) else lengths
        postings: dict[str, dict[int, int]] = {}
        for i, doc in enumerate(docs):
            for term in doc:
                row = postings.setdefault(term, {})
                row[i] = row.get(i, 0) + 1
        self._postings = {
            term: (np.fromiter(row.keys(), dtype=np.int64, count=len(row)),
                   np.fromiter(row.values(), dtype=np.float64, count=len(row)))
            for term, row in postings.items()
        }

    def idf(self, term: str) -> float:
        hit = self._postings.get(term)
        df = 0 if hit is None else len(hit[0])
        return float(np.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5)))

    def scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(self.n_docs, dtype=np.float64)
        for term in dict.fromkeys(query):  # each distinct term once
            hit = self._postings.get(term)
            if hit is None:
                continue
            docs, tf = hit
            out[docs] += self.idf(term) * tf * (self.k1 + 1.0) / (tf + self._norm[docs])
        return out


@dataclass
class PassageIndex:
    """A document's passages and their BM25 index."""

    text: str
    passages: list[Range]
    bm25: BM25
    # Per-tokenizer caches filled by the readers (e.g. the QA tokenization of the whole text).
    extras: dict = field(default_factory=dict)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The k best passages for `query` as (passage index, score), best first.

        Ties (and a query with no known term) keep document order.
        """
        scores = self.bm25.scores(terms(query))
        order = sorted(range(len(self.passages)), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in order[:k]]


_indexes: LRU = LRU(8)


def passage_index(text: str, paragraphs: list[Range] | None = None, min_words: int = 60,
                  max_words: int = 180) -> PassageIndex:
    """The (cached) passage index of a document text."""
    key = (text_key(text), tuple(paragraphs) if paragraphs else None, min_words, max_words)

    def build() -> PassageIndex:
        passages = make_passages(text, paragraphs, min_words, max_words)
        return PassageIndex(text, passages, BM25([terms(text[a:b]) for a, b in passages]))

    return _indexes.get_or(key, build)
