"""The sentence splitter: exact ranges, and the cases plain splitting gets wrong."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.tasks.sentences import split_sentences
from tests.document_factory import sample_paths

SAMPLES = sample_paths()


def sentences(text: str, **kw) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, **kw)]


@pytest.mark.parametrize("text, expected", [
    # abbreviations
    ("Dr. Smith paid for it. Then he left.", ["Dr. Smith paid for it.", "Then he left."]),
    ("Mr. and Mrs. Jones live at No. 5 Main St. in Springfield. They like it.",
     ["Mr. and Mrs. Jones live at No. 5 Main St. in Springfield.", "They like it."]),
    ("See e.g. the appendix, i.e. the last part. Next.",
     ["See e.g. the appendix, i.e. the last part.", "Next."]),
    ("It costs about 3 dollars, approx. three. OK!",
     ["It costs about 3 dollars, approx. three.", "OK!"]),
    ("The U.S. economy grew. Analysts at J.P. Morgan agreed.",
     ["The U.S. economy grew.", "Analysts at J.P. Morgan agreed."]),
    # decimals and numbers
    ("Pi is 3.14159 and e is 2.718. Both are irrational.",
     ["Pi is 3.14159 and e is 2.718.", "Both are irrational."]),
    ("Version 2.0 was released in Jan. 2020. It was good.",
     ["Version 2.0 was released in Jan. 2020.", "It was good."]),
    ("Prices rose 1,000.50 USD. Then fell.", ["Prices rose 1,000.50 USD.", "Then fell."]),
    # quotes and brackets
    ('He said, "Stop. Now." She did not. Really?',
     ['He said, "Stop. Now."', "She did not.", "Really?"]),
    ("He said, \u201cStop.\u201d She did not.", ["He said, \u201cStop.\u201d", "She did not."]),
    ("(This is in parens.) And this is not.", ["(This is in parens.)", "And this is not."]),
    # ellipses and repeated punctuation
    ("Wait... what? No!! Yes.", ["Wait... what?", "No!!", "Yes."]),
    # lists and headings
    ("Shopping list:\n- apples\n- pears and\n  more pears\n1. first\n2) second",
     ["Shopping list:", "- apples", "- pears and\n  more pears", "1. first", "2) second"]),
    ("\u2022 one bullet\n\u2022 two bullet", ["\u2022 one bullet", "\u2022 two bullet"]),
    ("Introduction\nThe model is good. It works.\n\nBackground\nBERT set a benchmark.",
     ["Introduction", "The model is good.", "It works.", "Background",
      "BERT set a benchmark."]),
    # hard-wrapped lines stay one sentence
    ("This line is hard\nwrapped in the middle of a sentence. Next one.",
     ["This line is hard\nwrapped in the middle of a sentence.", "Next one."]),
    # no punctuation, blank text
    ("No punctuation at all", ["No punctuation at all"]),
    ("   \n\n  \t ", []),
    ("", []),
])
def test_cases(text, expected):
    assert sentences(text) == expected


def test_paragraph_ranges_are_respected():
    text = "First part. Still first\n\nSecond part."
    assert sentences(text, paragraphs=[(0, 23), (25, 37)]) == [
        "First part.", "Still first", "Second part."]


def test_overlong_sentences_are_cut_at_word_boundaries():
    text = " ".join(["word"] * 600) + "."
    parts = split_sentences(text, max_chars=400)
    assert len(parts) > 5
    assert all(b - a <= 400 for a, b in parts)
    assert all(text[a:b].split() == text[a:b].split(" ") for a, b in parts)  # whole words


def check_ranges(text: str, ranges: list[tuple[int, int]]) -> None:
    for a, b in ranges:
        piece = text[a:b]
        assert piece and piece == piece.strip()
    assert all(x[1] <= y[0] for x, y in itertools.pairwise(ranges))
    # Every visible character belongs to exactly one sentence.
    covered = sum(sum(not c.isspace() for c in text[a:b]) for a, b in ranges)
    assert covered == sum(not c.isspace() for c in text)


def test_real_documents():
    for path in SAMPLES:
        text = path.read_text(encoding="utf-8")
        ranges = split_sentences(text)
        assert len(ranges) > 40
        check_ranges(text, ranges)


ALPHABET = st.sampled_from(list("ab AB.!?\"'()-\n\t1,;:\u201c\u201d\u2026\u00a0\u2022é") + [
    "Dr.", "e.g.", "3.5", "U.S.", " - ", "\n\n", "1. ", "...", "Mr. ", "?!", "\u2019s"])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_ranges_are_exact_for_any_text(text):
    check_ranges(text, split_sentences(text))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_ranges_are_exact_for_arbitrary_unicode(text):
    check_ranges(text, split_sentences(text))


def test_worker_threads_split_independently():
    """The app and the CLI may split sentences in several threads at once."""
    import threading

    from engine.tasks import sentences

    texts = [p.read_text(encoding="utf-8") for p in SAMPLES]
    texts += [t.replace("ALBERT", "the model") for t in texts]
    expected = [sentences._split(t, None, 1000) for t in texts]
    wrong = []

    def work(offset):
        for r in range(12):
            i = (offset + r) % len(texts)
            if sentences._split(texts[i], None, 1000) != expected[i]:
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(texts) >= 2 and wrong == []
