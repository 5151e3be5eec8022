"""Extractive summaries: the most central sentences, without repeating themselves.

1. The text is split into sentences (`engine.tasks.sentences`).
2. Each sentence is embedded with an ALBERT encoder (`engine.tasks.embeddings`: mean pooling,
   or the pooling of a sentence-transformers model such as paraphrase-albert-small-v2).
3. Centrality is LexRank's: the stationary distribution of a random walk on the graph of
   positive cosine similarities between sentences (damping 0.85), scaled so the most central
   sentence scores 1.
4. Sentences are picked greedily by maximal marginal relevance:
   ``(1 - diversity) * centrality - diversity * max cosine to the sentences already picked``,
   among sentences of at least ``min_words`` words (all sentences when too few are that long).
5. The summary has ``max_sentences`` sentences (default 3), or ``ratio`` x the sentence count
   when a ratio is given, returned in document order; each `Span.score` is its centrality.

A document of more than `EXACT_SENTENCES` sentences is read in sections of at most that many, so
memory stays bounded and time grows linearly with its length. For a short summary (up to an
eighth of a section) the sections hold rounds: each section's most central eligible sentences go
on, and the last round, among at most `EXACT_SENTENCES` of them, is steps 3-4 as above (a
sentence's score is its centrality in that round). A long summary (a large ratio) is each
section's own summary, its share of the sentences in proportion to the section's eligible
sentences.

Everything is deterministic: the same text and model give the same summary.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from engine.tasks._common import (
    Cancel,
    Progress,
    ReadOptions,
    TaskPipeline,
    check_cancel,
    make_options,
)
from engine.tasks.embeddings import SentenceEncoder
from engine.tasks.results import Span, Summary
from engine.tasks.sentences import split_sentences

TASK = "summarization"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SummaryOptions(ReadOptions):
    """``max_sentences``, or ``ratio`` (0 < ratio <= 1: a share of the sentences);
    ``diversity`` (0: centrality only); ``min_words``; ``damping`` (LexRank's)."""

    max_sentences: int = 3
    ratio: float | None = None
    diversity: float = 0.3
    min_words: int = 4
    damping: float = 0.85

    def __post_init__(self) -> None:
        _check(self)


class SummarizationPipeline(TaskPipeline):
    """``summ(text, max_sentences=3) -> Summary(sentences=[Span(start, end, text, score)])``.

    Options: the fields of `SummaryOptions`, here or per call; the encoder's ``max_length``
    and ``pooling`` (default from the model folder). ``model`` (or ``embedding_model``) is the
    sentence-embedding model: a folder or an installed id.
    """

    task = TASK
    options_class = SummaryOptions

    def __init__(self, model=None, device: str = "auto", *, embedding_model=None,
                 backend: str = "onnx", precision: str = "fp32", max_length: int | None = None,
                 pooling: str | None = None, max_batch_tokens: int = 8192, **options):
        if model is not None and embedding_model is not None and model != embedding_model:
            raise ValueError("give the embedding model once: model= or embedding_model=")
        self.options = make_options(SummaryOptions, TASK, **options)
        self.encoder = SentenceEncoder(model if model is not None else embedding_model,
                                       device, backend=backend, precision=precision,
                                       max_length=max_length, pooling=pooling,
                                       max_batch_tokens=max_batch_tokens)
        self.loaded = self.encoder.loaded
        self.model = self.encoder.model
        self.tokenizer = self.encoder.tokenizer

    def __call__(self, text, *, progress: Progress = None, cancel: Cancel = None,
                 **options) -> Summary:
        opts = self._call_options(options)
        reading = self._read(text, cancel, opts)
        text, paragraphs = reading.text, reading.paragraphs
        ranges = split_sentences(text, paragraphs)
        if not ranges:
            return Summary([])
        n = len(ranges)
        k = max(1, round(opts.ratio * n)) if opts.ratio is not None else opts.max_sentences
        words = np.fromiter((len(_WORD.findall(text[a:b])) for a, b in ranges), dtype=np.int64,
                            count=n)
        eligible = words >= opts.min_words
        if int(eligible.sum()) < min(k, n):
            eligible[:] = True
        sentences = _SentenceVectors(self.encoder, text, ranges, progress, cancel)
        if n <= EXACT_SENTENCES:
            picked, centrality = _summarize_exactly(sentences.block(0, n), np.arange(n),
                                                    eligible, k, opts)
        elif k <= EXACT_SENTENCES // 8:
            picked, centrality = _summarize_by_rounds(sentences, eligible, k, opts, cancel)
        else:
            picked, centrality = _summarize_by_sections(sentences, eligible, k, opts, cancel)
        return Summary([Span(ranges[i][0], ranges[i][1], reading.span(*ranges[i]),
                             float(centrality[i])) for i in sorted(picked)])


# Up to this many sentences the similarity graph is built whole: one float64 N x N matrix,
# at most 128 MiB. Longer documents are summarized in sections of at most this many sentences,
# so memory stays bounded and time grows linearly with the document.
EXACT_SENTENCES = 4096
# Sentences tokenized and encoded at a time: only their pooled vectors are kept, never the
# per-token states of the whole document.
ENCODE_BATCH = 1024


class _SentenceVectors:
    """Embeds consecutive runs of a document's sentences on demand, reporting overall progress."""

    def __init__(self, encoder: SentenceEncoder, text: str, ranges, progress: Progress,
                 cancel: Cancel):
        self.encoder, self.text, self.ranges = encoder, text, ranges
        self.progress, self.cancel = progress, cancel
        self.done = 0

    def block(self, start: int, stop: int) -> np.ndarray:
        parts = []
        for a in range(start, stop, ENCODE_BATCH):
            b = min(stop, a + ENCODE_BATCH)
            base = self.done
            report = None
            if self.progress is not None:
                def report(done, _total, base=base):
                    self.progress(base + done, len(self.ranges))
            parts.append(self.encoder.encode([self.text[x:y] for x, y in self.ranges[a:b]],
                                             progress=report, cancel=self.cancel))
            self.done += b - a
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _summarize_exactly(vectors: np.ndarray, index: np.ndarray, eligible: np.ndarray, k: int,
                       opts: SummaryOptions) -> tuple[list[int], dict[int, float]]:
    """LexRank over all of `vectors` (sentences `index`), then MMR among the eligible ones."""
    centrality = lexrank(vectors, opts.damping)
    picked = mmr(vectors, centrality, np.flatnonzero(eligible[index]), k, opts.diversity)
    return [int(index[i]) for i in picked], {int(index[i]): centrality[i] for i in picked}


def _sections(n: int, size: int) -> list[tuple[int, int]]:
    count = -(-n // size)
    bounds = [round(i * n / count) for i in range(count + 1)]
    return list(itertools.pairwise(bounds))


def _summarize_by_rounds(sentences: _SentenceVectors, eligible: np.ndarray, k: int,
                         opts: SummaryOptions, cancel: Cancel,
                         ) -> tuple[list[int], dict[int, float]]:
    """A tournament for a short summary of a long document: each section's most central
    eligible sentences go on to a round among themselves, until one exact round remains."""
    n = len(sentences.ranges)
    sections = _sections(n, EXACT_SENTENCES)
    per_section = max(k, EXACT_SENTENCES // len(sections))
    index_parts, vector_parts = [], []
    for a, b in sections:
        vectors = sentences.block(a, b)
        check_cancel(cancel)
        keep = _most_central(vectors, eligible[a:b], per_section, opts.damping)
        index_parts.append(a + keep)
        vector_parts.append(vectors[keep])
    index, vectors = np.concatenate(index_parts), np.concatenate(vector_parts)
    while len(index) > EXACT_SENTENCES:
        check_cancel(cancel)
        sections = _sections(len(index), EXACT_SENTENCES)
        per_section = max(k, EXACT_SENTENCES // len(sections))
        keep = np.concatenate([a + _most_central(vectors[a:b], np.ones(b - a, bool), per_section,
                                                 opts.damping) for a, b in sections])
        index, vectors = index[keep], vectors[keep]
    every = np.ones(n, dtype=bool)
    return _summarize_exactly(vectors, index, every, k, opts)


def _most_central(vectors: np.ndarray, eligible: np.ndarray, count: int,
                  damping: float) -> np.ndarray:
    """Positions of the `count` most central eligible rows, in document order."""
    centrality = lexrank(vectors, damping)
    candidates = np.flatnonzero(eligible)
    # A stable sort on -centrality keeps the earlier sentence first among equals.
    best = candidates[np.argsort(-centrality[candidates], kind="stable")[:count]]
    return np.sort(best)


def _summarize_by_sections(sentences: _SentenceVectors, eligible: np.ndarray, k: int,
                           opts: SummaryOptions, cancel: Cancel,
                           ) -> tuple[list[int], dict[int, float]]:
    """A long summary of a long document (a large ratio): each section's own summary, with the
    summary's sentences shared among sections by their eligible sentences."""
    n = len(sentences.ranges)
    sections = _sections(n, EXACT_SENTENCES)
    # By eligible sentences, not length: a section of short ones cannot fill a share of its size.
    quotas = _share(k, [int(eligible[a:b].sum()) for a, b in sections])
    picked: list[int] = []
    centrality: dict[int, float] = {}
    for (a, b), quota in zip(sections, quotas):
        vectors = sentences.block(a, b)
        check_cancel(cancel)
        if quota:
            more, scores = _summarize_exactly(vectors, np.arange(a, b), eligible, quota, opts)
            picked += more
            centrality.update(scores)
    return picked, centrality


def _share(total: int, sizes: list[int]) -> list[int]:
    """`total` split in proportion to `sizes` (largest remainders; ties to the earlier)."""
    whole = sum(sizes)
    exact = [total * s / whole for s in sizes]
    shares = [int(x) for x in exact]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:total - sum(shares)]:
        shares[i] += 1
    return shares


def lexrank(vectors: np.ndarray, damping: float = 0.85, iterations: int = 200,
            tol: float = 1e-10) -> np.ndarray:
    """Continuous LexRank centrality of unit vectors, scaled to max 1.

    One N x N matrix is held (the transition matrix is made in place from the similarities);
    callers keep N at most `EXACT_SENTENCES`.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    v = vectors.astype(np.float64)
    trans = v @ v.T
    np.clip(trans, 0.0, None, out=trans)
    np.fill_diagonal(trans, 0.0)
    rows = trans.sum(axis=1)
    linked = rows > 0
    trans[linked] /= rows[linked, None]
    trans[~linked] = 1.0 / n
    p = np.full(n, 1.0 / n)
    for _ in range(iterations):
        nxt = (1.0 - damping) / n + damping * (p @ trans)
        if np.abs(nxt - p).sum() < tol:
            p = nxt
            break
        p = nxt
    return p / p.max()


def mmr(vectors: np.ndarray, relevance: np.ndarray, candidates: np.ndarray, k: int,
        diversity: float) -> list[int]:
    """Greedy maximal marginal relevance; ties go to the earlier sentence.

    Only the picked sentences' similarity rows are computed: k rows, not an N x N matrix.
    """
    chosen: list[int] = []
    pool = [int(i) for i in candidates]
    if not pool:
        return chosen
    v = vectors.astype(np.float64)
    redundancy = np.full(len(vectors), -np.inf)
    while pool and len(chosen) < k:
        red = np.where(np.isfinite(redundancy[pool]), redundancy[pool], 0.0)
        gain = (1.0 - diversity) * relevance[pool] - diversity * red
        best = pool[int(np.argmax(gain))]
        chosen.append(best)
        pool.remove(best)
        redundancy = np.maximum(redundancy, v @ v[best])
    return chosen


def _check(opts: SummaryOptions) -> None:
    if opts.ratio is not None and not 0 < opts.ratio <= 1:
        raise ValueError(f"ratio must lie in (0, 1]; got {opts.ratio}")
    if opts.max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    if not 0 <= opts.diversity <= 1:
        raise ValueError("diversity must lie in [0, 1]")
    if not 0 < opts.damping < 1:
        raise ValueError("damping must lie in (0, 1)")
