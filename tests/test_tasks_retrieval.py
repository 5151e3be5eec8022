"""Passages and BM25 for question answering over long documents."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.tasks.retrieval import BM25, fold, make_passages, passage_index, terms
from tests.document_factory import sample_paths

SAMPLES = sample_paths()


def document() -> str:
    return "\n\n".join(p.read_text(encoding="utf-8") for p in SAMPLES)


def check_passages(text: str, passages, max_words: int) -> None:
    for a, b in passages:
        piece = text[a:b]
        assert piece and piece == piece.strip()
        assert len(piece.split()) <= max_words
    assert all(x[1] <= y[0] for x, y in itertools.pairwise(passages))
    covered = sum(len(text[a:b].split()) for a, b in passages)
    assert covered == len(text.split())


def test_passages_of_a_real_document():
    text = document()
    passages = make_passages(text)
    check_passages(text, passages, 180)
    sizes = [len(text[a:b].split()) for a, b in passages]
    assert sum(s >= 60 for s in sizes) >= len(sizes) - 3  # short ones only where forced


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["word", "Word.", "\n\n", "\n", " ", "end!", "x" * 12, "é"]),
                max_size=400).map(" ".join),
       st.integers(1, 20), st.integers(20, 60))
def test_passages_cover_any_text_exactly(text, min_words, max_words):
    check_passages(text, make_passages(text, min_words=min_words, max_words=max_words),
                   max_words)


def test_bm25_scores_follow_the_formula():
    docs = [["albert", "model", "model"], ["bert", "model"], ["weather", "calm"], []]
    bm = BM25(docs, k1=1.5, b=0.75)
    avgdl = 7 / 4
    scores = bm.scores(["model", "albert", "model"])  # repeated query terms count once

    def expected(doc):
        total = 0.0
        for term in ("model", "albert"):
            df = sum(term in d for d in docs)
            idf = math.log(1 + (4 - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            total += idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * len(doc) / avgdl))
        return total

    for doc, got in zip(docs, scores):
        assert math.isclose(got, expected(doc), rel_tol=1e-12, abs_tol=1e-12)


def test_terms_fold_case_accents_and_look_alikes():
    assert fold("AᏞBERT") == fold("albert") == "albert"
    assert fold("Languagе") == "language"  # Cyrillic e
    assert fold("Café") == "cafe"
    assert fold("models") == "model"
    assert terms("What is the model of ALBERT?") == ["model", "albert"]


def test_search_finds_the_passage_and_the_index_is_cached():
    filler = " ".join(["The weather report said the harbour was calm and grey that day."] * 12)
    parts = [filler] * 20
    parts[13] = "Marie Curie was born in Warsaw and studied physics in Paris. " * 3
    text = "\n\n".join(parts)
    index = passage_index(text)
    assert passage_index(text) is index
    best, score = index.search("Where was Marie Curie born?", 1)[0]
    a, b = index.passages[best]
    assert "Marie Curie" in text[a:b] and score > 0
    # Nothing in common: document order.
    assert [i for i, _ in index.search("zebra xylophone", 3)] == [0, 1, 2]
