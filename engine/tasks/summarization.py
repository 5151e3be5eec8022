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

Everything is deterministic: the same text and model give the same summary.
"""

from __future__ import annotations

import re

import numpy as np

from engine.tasks._common import Cancel, Progress, TaskPipeline, check_cancel, text_and_paragraphs
from engine.tasks.embeddings import SentenceEncoder
from engine.tasks.results import Span, Summary
from engine.tasks.sentences import split_sentences

TASK = "summarization"
_WORD = re.compile(r"\w+")


class SummarizationPipeline(TaskPipeline):
    """``summ(text, max_sentences=3) -> Summary(sentences=[Span(start, end, text, score)])``.

    Options: ``max_sentences=3``, ``ratio=None`` (0 < ratio <= 1: a share of the sentences),
    ``diversity=0.3`` (0: centrality only), ``min_words=4``, ``damping=0.85``; the encoder's
    ``max_length`` and ``pooling`` (default from the model folder). ``model`` (or
    ``embedding_model``) is the sentence-embedding model: a folder or an installed id.
    """

    task = TASK

    def __init__(self, model=None, device: str = "auto", *, embedding_model=None,
                 backend: str = "onnx", precision: str = "fp32", max_sentences: int = 3,
                 ratio: float | None = None, diversity: float = 0.3, min_words: int = 4,
                 damping: float = 0.85, max_length: int | None = None,
                 pooling: str | None = None, max_batch_tokens: int = 8192):
        if model is not None and embedding_model is not None and model != embedding_model:
            raise ValueError("give the embedding model once: model= or embedding_model=")
        self.encoder = SentenceEncoder(model if model is not None else embedding_model,
                                       device, backend=backend, precision=precision,
                                       max_length=max_length, pooling=pooling,
                                       max_batch_tokens=max_batch_tokens)
        self.loaded = self.encoder.loaded
        self.model = self.encoder.model
        self.options = {"max_sentences": max_sentences, "ratio": ratio,
                        "diversity": diversity, "min_words": min_words, "damping": damping}
        _check(self.options)

    def __call__(self, text, *, progress: Progress = None, cancel: Cancel = None,
                 **options) -> Summary:
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"unknown summarization option(s): {', '.join(sorted(unknown))}")
        opts = {**self.options, **options}
        _check(opts)
        text, paragraphs = text_and_paragraphs(text)
        check_cancel(cancel)
        ranges = split_sentences(text, paragraphs)
        if not ranges:
            return Summary([])
        vectors = self.encoder.encode([text[a:b] for a, b in ranges], progress=progress,
                                      cancel=cancel)
        check_cancel(cancel)
        centrality = lexrank(vectors, opts["damping"])
        if opts["ratio"] is not None:
            k = max(1, round(opts["ratio"] * len(ranges)))
        else:
            k = opts["max_sentences"]
        words = np.array([len(_WORD.findall(text[a:b])) for a, b in ranges])
        eligible = np.flatnonzero(words >= opts["min_words"])
        if len(eligible) < min(k, len(ranges)):
            eligible = np.arange(len(ranges))
        picked = mmr(vectors, centrality, eligible, k, opts["diversity"])
        return Summary([Span(ranges[i][0], ranges[i][1], text[ranges[i][0]:ranges[i][1]],
                             float(centrality[i])) for i in sorted(picked)])


def lexrank(vectors: np.ndarray, damping: float = 0.85, iterations: int = 200,
            tol: float = 1e-10) -> np.ndarray:
    """Continuous LexRank centrality of unit vectors, scaled to max 1."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    sim = np.clip(vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0.0, None)
    np.fill_diagonal(sim, 0.0)
    rows = sim.sum(axis=1, keepdims=True)
    trans = np.where(rows > 0, sim / np.where(rows > 0, rows, 1.0), 1.0 / n)
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
    """Greedy maximal marginal relevance; ties go to the earlier sentence."""
    chosen: list[int] = []
    pool = [int(i) for i in candidates]
    if not pool:
        return chosen
    sims = vectors.astype(np.float64) @ vectors.T.astype(np.float64)
    redundancy = np.full(len(vectors), -np.inf)
    while pool and len(chosen) < k:
        red = np.where(np.isfinite(redundancy[pool]), redundancy[pool], 0.0)
        gain = (1.0 - diversity) * relevance[pool] - diversity * red
        best = pool[int(np.argmax(gain))]
        chosen.append(best)
        pool.remove(best)
        redundancy = np.maximum(redundancy, sims[best])
    return chosen


def _check(opts: dict) -> None:
    if opts["ratio"] is not None and not 0 < opts["ratio"] <= 1:
        raise ValueError(f"ratio must lie in (0, 1]; got {opts['ratio']}")
    if opts["max_sentences"] < 1:
        raise ValueError("max_sentences must be at least 1")
    if not 0 <= opts["diversity"] <= 1:
        raise ValueError("diversity must lie in [0, 1]")
    if not 0 < opts["damping"] < 1:
        raise ValueError("damping must lie in (0, 1)")
