"""Finding passages across a library, and reading answers out of them.

`search` ranks passages by FTS5's bm25 over the look-alike-folded text and by the cosine of
their embeddings to the query's, the two lists combined by reciprocal rank fusion
(score = sum of 1 / (60 + rank), Cormack et al. 2009); keyword only while nothing is embedded.
`ask` reads the best passages with the QA model in one call, each passage in windows of its
own (`read_paragraphs`: no window mixes two documents or reads a token twice), so the model's
scores are one softmax across passages; each answer is mapped back to its document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.library.storage import PassageRow, Store
from engine.lookalikes import fold_lookalikes

RRF_K = 60
# Candidates each ranking contributes before fusion, per hit asked for.
CANDIDATES_PER_HIT = 4
MIN_CANDIDATES = 50
# Passages the QA model reads for one question (as the single-document reader reads 4).
ASK_PASSAGES = 4
_WORD = re.compile(r"\w+")
_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


@dataclass(frozen=True)
class _Passages:
    """The chosen passages joined as one context, each one a paragraph of it."""

    text: str
    paragraphs: list[_Span]


@dataclass(frozen=True)
class Hit:
    """A passage that matches a query: `text == engine.load_document(path).text[start:end]`;
    `page` is 1-based for paged formats (PDF), else None; `score` is the fused rank score
    (higher is better, comparable only within one search)."""

    path: str
    page: int | None
    start: int
    end: int
    text: str
    score: float
    title: str | None = None


@dataclass(frozen=True)
class LibraryAnswer:
    """An answer read from the library. `start:end` (the answer) and
    `context_start:context_end` (its sentence) index `engine.load_document(path).text`;
    `no_answer` is True when the model says the passages hold none (then path is None and the
    offsets are 0)."""

    path: str | None
    page: int | None
    start: int
    end: int
    text: str
    score: float
    context_start: int = 0
    context_end: int = 0
    no_answer: bool = False
    title: str | None = None


def fts_query(query: str) -> str | None:
    """An FTS5 MATCH expression for free text: each folded word quoted (no FTS syntax gets
    through from the user), any of them may match; None for a query without words."""
    words = _WORD.findall(fold_lookalikes(query).text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in dict.fromkeys(words))


def _best(scores: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` highest scores, best first, ties by index (as a stable sort of
    all of them gives, without sorting all of them); a NaN (a model that gave one) ranks last."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    if limit < len(scores):
        part = np.argpartition(-scores, limit - 1)[:limit]
        # Scores equal to the cut-off can lie outside the partition: take them all, then cut.
        part = np.flatnonzero(scores >= scores[part].min())
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))][:limit]


def rrf(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of ranked id lists: (id, score), best first (ties by id)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class Searcher:
    """Search and ask over one store. `encoders(model_key)` gives a sentence encoder for an
    embeddings model key (or None when that model is not installed any more); `reader()` the
    QA pipeline."""

    def __init__(self, store: Store, encoders, reader):
        self.store = store
        self._encoders = encoders
        self._reader = reader
        self._matrices: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}

    def _embeddings(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        # Read once per change of the model's rows: a search then costs one matrix product.
        version = self.store.embeddings_version()
        cached = self._matrices.get(key)
        if cached is None or cached[0] != version:
            cached = (version, *self.store.embeddings(key))
            self._matrices[key] = cached
        return cached[1], cached[2]

    def ranked(self, query: str, k: int) -> list[tuple[int, float]]:
        if k < 1:
            raise ValueError("k must be at least 1")
        limit = max(MIN_CANDIDATES, k * CANDIDATES_PER_HIT)
        rankings = []
        match = fts_query(query)
        if match is not None:
            rankings.append([pid for pid, _ in self.store.keyword_search(match, limit)])
        folded = fold_lookalikes(query).text.strip()
        if folded:
            for key in self.store.embedding_models():
                encoder = self._encoders(key)
                if encoder is None:
                    continue  # its model was removed: those passages are found by keyword
                ids, matrix = self._embeddings(key)
                if not len(ids):
                    continue
                q = encoder.encode([folded])[0]
                cos = matrix @ q.astype(np.float32)
                top = _best(cos, limit)
                rankings.append([int(ids[i]) for i in top])
        return rrf(rankings)[:k]

    def search(self, query: str, k: int = 20) -> list[Hit]:
        ranked = self.ranked(query, k)
        rows = self.store.passages_by_id([pid for pid, _ in ranked])
        hits = []
        for pid, score in ranked:
            if pid not in rows:
                continue  # deleted by another process since it was ranked
            passage, path, title = rows[pid]
            hits.append(Hit(path, passage.page, passage.start, passage.end, passage.text,
                            score, title))
        return hits

    def ask(self, question: str, top_k: int = 3,
            passages: int = ASK_PASSAGES) -> list[LibraryAnswer]:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("The question is empty.")
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        ranked = self.ranked(question, passages)
        qa = self._reader()
        if not ranked:
            return []
        rows = self.store.passages_by_id([pid for pid, _ in ranked])
        chosen: list[tuple[PassageRow, str, str]] = [rows[pid] for pid, _ in ranked
                                                     if pid in rows]
        if not chosen:
            return []
        parts, starts, at = [], [], 0
        for passage, _, _ in chosen:
            starts.append(at)
            parts.append(passage.text)
            at += len(passage.text) + len(_SEPARATOR)
        context = _Passages(_SEPARATOR.join(parts),
                            [_Span(a, a + len(t)) for a, t in zip(starts, parts)])
        answers = qa(question, context, top_k=top_k, read_paragraphs=True)
        out = []
        for answer in answers:
            if answer.no_answer:
                out.append(LibraryAnswer(None, None, 0, 0, "", float(answer.score),
                                         no_answer=True))
                continue
            i = max(j for j, s in enumerate(starts) if s <= answer.start)
            passage, path, title = chosen[i]
            shift = passage.start - starts[i]
            lo, hi = starts[i], starts[i] + len(passage.text)
            c0 = max(lo, min(answer.context_start, answer.start))
            c1 = min(hi, max(answer.context_end, answer.end))
            out.append(LibraryAnswer(path, passage.page, answer.start + shift,
                                     answer.end + shift, answer.text, float(answer.score),
                                     c0 + shift, c1 + shift, False, title))
        return out
