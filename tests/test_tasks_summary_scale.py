"""Summaries of long documents: bounded graphs, linear encoding, and the same picks as the whole
graph where the document's structure is clear."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.tasks import summarization
from engine.tasks.sentences import split_sentences


def whole_graph_lexrank(vectors: np.ndarray, damping: float = 0.85) -> np.ndarray:
    """LexRank written out plainly (dense matrix, power iteration): the reference."""
    n = len(vectors)
    sim = np.clip(vectors @ vectors.T, 0, None).astype(np.float64)
    np.fill_diagonal(sim, 0)
    trans = sim / sim.sum(axis=1, keepdims=True)
    p = np.full(n, 1 / n)
    for _ in range(1000):
        p = (1 - damping) / n + damping * p @ trans
    return p / p.max()


class VectorsByText:
    """Stands in for the sentence encoder: each sentence's vector is chosen by the test."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors
        self.calls: list[int] = []

    def encode(self, texts, progress=None, cancel=None):
        self.calls.append(len(texts))
        if progress is not None:
            progress(len(texts), len(texts))
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def document_with_vectors(n: int, dim: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts = [f"Report line number {i} says something rather specific." for i in range(n)]
    raw = rng.normal(size=(n, dim))
    # A shared direction makes similarities mostly positive, as sentence embeddings are.
    raw += 1.5 * np.ones(dim)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return " ".join(texts), texts, unit


@pytest.fixture()
def summarizer(checkpoints):
    return engine.pipeline("summarization", model=checkpoints("encoder"), device="cpu")


@pytest.fixture()
def small_sections(monkeypatch):
    monkeypatch.setattr(summarization, "EXACT_SENTENCES", 64)
    monkeypatch.setattr(summarization, "ENCODE_BATCH", 16)
    sizes = []
    real = summarization.lexrank

    def spying_lexrank(vectors, *args, **kwargs):
        sizes.append(len(vectors))
        return real(vectors, *args, **kwargs)

    monkeypatch.setattr(summarization, "lexrank", spying_lexrank)
    return sizes


def test_long_document_graphs_stay_within_a_section(summarizer, small_sections):
    text, texts, unit = document_with_vectors(1000)
    assert len(split_sentences(text)) == 1000
    encoder = VectorsByText(dict(zip(texts, unit)))
    summarizer.encoder = encoder
    seen = []
    summary = summarizer(text, max_sentences=3, progress=lambda d, t: seen.append((d, t)))
    assert len(summary.sentences) == 3
    assert max(small_sections) <= 64
    assert max(encoder.calls) <= 16 and sum(encoder.calls) == 1000
    assert seen[-1] == (1000, 1000) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    for span in summary.sentences:
        assert text[span.start:span.end] == span.text


def test_rounds_keep_the_most_central_sentence_of_the_whole_document(summarizer, small_sections):
    text, texts, unit = document_with_vectors(700, seed=3)
    summarizer.encoder = VectorsByText(dict(zip(texts, unit)))
    reference = whole_graph_lexrank(unit)
    top = int(np.argmax(reference))
    summary = summarizer(text, max_sentences=1, diversity=0.0)
    assert [s.text for s in summary.sentences] == [texts[top]]


def test_the_top_sentences_of_rounds_are_among_the_whole_graph_best(summarizer, small_sections):
    text, texts, unit = document_with_vectors(900, seed=5)
    summarizer.encoder = VectorsByText(dict(zip(texts, unit)))
    reference = whole_graph_lexrank(unit)
    best_tenth = set(np.argsort(-reference)[:90])
    summary = summarizer(text, max_sentences=5, diversity=0.0)
    picked = [texts.index(s.text) for s in summary.sentences]
    assert len(picked) == 5 and set(picked) <= best_tenth


def test_a_large_ratio_is_shared_among_sections(summarizer, small_sections):
    text, texts, unit = document_with_vectors(640, seed=7)
    summarizer.encoder = VectorsByText(dict(zip(texts, unit)))
    summary = summarizer(text, ratio=0.25)
    assert len(summary.sentences) == 160
    assert max(small_sections) <= 64
    picked = sorted(texts.index(s.text) for s in summary.sentences)
    # Ten sections of 64 sentences, 16 summary sentences from each.
    per_section = np.bincount(np.array(picked) // 64, minlength=10)
    assert per_section.tolist() == [16] * 10


def test_short_documents_match_the_whole_graph(summarizer):
    text, texts, unit = document_with_vectors(120, seed=11)
    summarizer.encoder = VectorsByText(dict(zip(texts, unit)))
    reference = whole_graph_lexrank(unit)
    summary = summarizer(text, max_sentences=1, diversity=0.0)
    assert [s.text for s in summary.sentences] == [texts[int(np.argmax(reference))]]
    assert summary.sentences[0].score == pytest.approx(1.0)
    np.testing.assert_allclose(summarization.lexrank(unit), reference, atol=1e-8)


def test_share_splits_by_length_with_largest_remainders():
    assert summarization._share(7, [10, 10, 10]) == [3, 2, 2]
    assert summarization._share(5, [1, 3]) == [1, 4]
    assert sum(summarization._share(160, [64] * 10)) == 160
