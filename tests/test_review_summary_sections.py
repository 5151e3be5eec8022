"""Review fix: a long summary of a long document has the sentences asked for even when a section
has too few eligible (long enough) sentences for its share."""

from __future__ import annotations

import numpy as np

from tests.test_tasks_summary_scale import VectorsByText, small_sections, summarizer  # noqa: F401


def test_a_section_of_short_sentences_does_not_shorten_the_summary(summarizer,  # noqa: F811
                                                                   small_sections):  # noqa: F811
    rng = np.random.default_rng(2)
    short = [f"Short note n{i}." for i in range(64)]  # one section of sentences below min_words
    long = [f"Report line number {i} says something rather specific." for i in range(576)]
    texts = short + long
    raw = rng.normal(size=(len(texts), 12)) + 1.5
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    text = " ".join(texts)
    summarizer.encoder = VectorsByText(dict(zip(texts, unit)))
    summary = summarizer(text, ratio=0.25)
    picked = [texts.index(s.text) for s in summary.sentences]
    assert len(picked) == 160  # a quarter of 640, as for a short document
    assert min(picked) >= 64  # none of the too-short sentences, since enough others exist
    assert max(small_sections) <= 64
