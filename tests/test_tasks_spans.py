"""Property: every span any task returns is exact (text == doc[start:end]) and trimmed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.document_factory import sample_paths

SAMPLES = sample_paths()
WORDS = sorted({w for p in SAMPLES for w in p.read_text(encoding="utf-8").split()})
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from([" ", "  ", "\n", "\n\n", "\t", "\u00a0", ". ", "? ", "\u201c", "\u201d",
                     "- ", "1. ", "[MASK]", "<unk>", "ﬁ", "e\u0301", "İ", "😀", "\u200b",
                     "1,000,", "3.5", "Dr.", "``", "''"]),
    st.text(max_size=3),
)
TEXTS = st.lists(PIECES, max_size=60).map(" ".join)
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_exact(text: str, spans) -> None:
    for s in spans:
        assert s.text == text[s.start:s.end], (s, text)
        assert s.text and s.text == s.text.strip(), (s, text)
        assert 0 <= s.start < s.end <= len(text)


@pytest.fixture(scope="module")
def pipes(checkpoints):
    return {
        "qa": engine.pipeline("qa", model=checkpoints("qa"), device="cpu", read_all_windows=1,
                              passages=2, allow_no_answer=True, max_seq_len=64, doc_stride=16),
        "ner": engine.pipeline("ner", model=checkpoints("token"), device="cpu", max_length=40,
                               stride=8),
        "sentiment": engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu"),
        "summary": engine.pipeline("summary", model=checkpoints("encoder"), device="cpu"),
    }


@SETTINGS
@given(text=TEXTS, question=st.sampled_from(["What is ALBERT?", "Who?", "why  é ?"]))
def test_answers_are_exact(pipes, text, question):
    for thorough in (False, True):
        answers = pipes["qa"](question, text, top_k=3, thorough=thorough)
        assert_exact(text, [a for a in answers if not a.no_answer])
        for a in answers:
            if a.no_answer:
                assert (a.text, a.start, a.end) == ("", 0, 0)


@SETTINGS
@given(text=TEXTS, aggregation=st.sampled_from(["simple", "first", "average", "max", "none"]))
def test_entities_are_exact(pipes, text, aggregation):
    found = pipes["ner"](text, aggregation=aggregation)
    assert_exact(text, found)
    spans = [(e.start, e.end) for e in found]
    assert spans == sorted(spans)


@SETTINGS
@given(text=TEXTS)
def test_sentence_sentiments_and_summaries_are_exact(pipes, text):
    result = pipes["sentiment"](text)
    assert_exact(text, result.sentences)
    assert sum(result.scores.values()) == pytest.approx(1.0)
    summary = pipes["summary"](text, max_sentences=2)
    assert_exact(text, summary.sentences)
    assert summary == pipes["summary"](text, max_sentences=2)  # deterministic
