"""The sample documents shipped in tests/data/samples carry, on their own, what the sample-using
tests need, so a fresh clone with no ../shared runs those tests instead of skipping them."""

from __future__ import annotations

import re

import pytest

from tests import document_factory as factory

SHIPPED = sorted(factory.SHIPPED_SAMPLES.glob("*.txt"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in SHIPPED}


def test_shipped_samples_are_found_whether_or_not_shared_is_there():
    assert len(SHIPPED) >= 2
    paths = factory.sample_paths()
    assert paths[-len(SHIPPED):] == SHIPPED  # shared ones (if any) first, shipped ones always
    assert factory.sample_texts() == [p.read_text(encoding="utf-8") for p in paths]


@pytest.mark.parametrize("name", list(TEXTS))
def test_each_sample_is_messy_web_text(name):
    text = TEXTS[name]
    assert factory.lookalike_words(text), "Latin words with Cyrillic/Greek look-alike letters"
    assert any(ord(c) > 0xFFFF for c in text), "characters outside the BMP"
    assert {"\u00a0", "\u2009"} & set(text) or "\t" in text, "odd whitespace"
    assert "  " in text and re.search(r"https?://\S+", text)
    assert set("\u201c\u201d\u2019") & set(text), "typographic quotes"
    # The document tests read one paragraph per line: no blank (or whitespace-only) line, and
    # nothing the loader drops or rewrites (controls, soft hyphens, CR, BOM).
    assert not re.search(r"\n[^\S\n]*\n", text)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u2028\u2029\ufeff]", text)


def test_together_they_have_what_the_task_tests_slice():
    lines = [line for text in TEXTS.values() for line in text.split("\n")]
    assert sum(len(line.split()) >= 12 for line in lines) >= 26  # QA: 24 contexts + null ones
    assert sum(len(line.split()) >= 6 for line in lines) >= 8  # NER
    assert sum(len(line.split()) > 4 for line in lines) >= 12  # sentiment
    assert sum(len(t.split()) for t in TEXTS.values()) > 1500  # many NER/QA windows
    assert any("\n" not in t.strip() for t in TEXTS.values())  # a page flattened to one line
    assert any("\u0301" in t for t in TEXTS.values())  # a decomposed accent (NFKD offsets)
