"""The one window path: `AlbertTokenizer.windows` cuts every task's model inputs."""

from __future__ import annotations

import pytest

import engine
from engine.albert.tokenizer import TokenSpans, window_bounds


@pytest.fixture(scope="module")
def tok(checkpoints):
    return engine.load_tokenizer(checkpoints("encoder"))


def test_window_bounds_over_a_range():
    # width 4, stride 1: starts at 10, 13, 16; the last window reaches 19.
    assert window_bounds(10, 19, 4, 1) == [(10, 14), (13, 17), (16, 19)]
    assert window_bounds(5, 8, 4, 3) == [(5, 8)]  # fits: the stride is never looked at
    with pytest.raises(ValueError, match="stride=4"):
        window_bounds(0, 10, 4, 4)


def test_windows_of_ranges_with_a_question(tok):
    text = TokenSpans(list(range(100, 120)), list(range(0, 40, 2)), list(range(1, 41, 2)))
    question = TokenSpans([7, 8], [0, 3], [2, 5])
    cls, sep = tok.cls_token_id, tok.sep_token_id
    # max_length 10 leaves 10 - 2 - 3 = 5 text tokens; stride 2 -> steps of 3.
    found = tok.windows(text, 10, 2, question=question, ranges=[(0, 4), (10, 18)])
    assert [(w.start, w.stop) for w in found] == [(0, 4), (10, 15), (13, 18)]
    w = found[1]
    assert w.ids == [cls, 7, 8, sep, 110, 111, 112, 113, 114, sep]
    assert w.type_ids == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert w.attention_mask == [1] * 10 and len(w) == 10
    assert w.body == 4 and w.count == 5
    assert w.offsets == [(0, 0), (0, 2), (3, 5), (0, 0), (20, 21), (22, 23), (24, 25),
                         (26, 27), (28, 29), (0, 0)]


def test_windows_truncate_and_slide_without_a_question(tok):
    text = TokenSpans([5, 6, 7, 8, 9], [0, 2, 4, 6, 8], [1, 3, 5, 7, 9])
    cls, sep = tok.cls_token_id, tok.sep_token_id
    (first,) = tok.windows(text, 5, truncate=True)
    assert first.ids == [cls, 5, 6, 7, sep] and first.type_ids == [0] * 5
    assert first.offsets == [(0, 0), (0, 1), (2, 3), (4, 5), (0, 0)]
    assert [w.ids for w in tok.windows(text, 5, 0)] == [[cls, 5, 6, 7, sep], [cls, 8, 9, sep]]
    with pytest.raises(ValueError, match="leaves no room"):
        tok.windows(text, 2)


def test_windows_offsets_index_the_text(tok):
    text = "Marie Curie was born in Warsaw. She moved to Paris in 1891."
    ids, _, offsets = tok.tokenize_with_offsets(text)
    for w in tok.windows(TokenSpans.of(ids, offsets), 8, 2):
        body = w.offsets[w.body:w.body + w.count]
        assert body == offsets[w.start:w.stop]
        assert w.ids[w.body:w.body + w.count] == ids[w.start:w.stop]
