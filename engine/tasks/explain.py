"""Leave-one-out explanations: what the words of an input (or the sentences of a passage) do to
a verdict, by forward passes only, so they run on ONNX Runtime without torch.

A word is a run of non-space characters (`\\S+`, punctuation attached: "terrible." is one word).
Its tokens are the text's tokens whose character span starts inside it; removing the word means
deleting exactly those token ids from the model input (the [CLS]/[SEP] tokens, the other words'
tokens and, for zero-shot, the hypothesis stay as they were). Every variant of an input is run
in one batch through the model's run path.

Cap: an explanation reads the text as one model window (the model's maximum length, at most
512 tokens with the specials; for zero-shot less the longest hypothesis). A longer text raises
`InputTooLongError` saying so; explain a sentence or a paragraph of it instead.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from engine.errors import InputTooLongError

_WORD = re.compile(r"\S+")


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word of `text`: runs of non-space characters."""
    return [m.span() for m in _WORD.finditer(text)]


def word_tokens(words: Sequence[tuple[int, int]], starts: Sequence[int],
                ends: Sequence[int]) -> list[list[int]]:
    """For each word, the indices of the tokens whose span starts inside it (an empty token
    span at a word's end counts for that word). A word whose characters make no token (all of
    them vanish in ALBERT's normalization) gets none."""
    firsts = [a for a, _ in words]
    groups: list[list[int]] = [[] for _ in words]
    for k, (s, e) in enumerate(zip(starts, ends)):
        j = bisect_right(firsts, s) - 1
        if j >= 0 and (s < words[j][1] or (s == e == words[j][1])):
            groups[j].append(k)
    return groups


def without(ids: Sequence[int], drop: Sequence[int]) -> list[int]:
    """`ids` with the positions in `drop` deleted."""
    gone = set(drop)
    return [t for k, t in enumerate(ids) if k not in gone]


def check_fits(n_tokens: int, room: int, what: str = "text") -> None:
    if n_tokens > room:
        raise InputTooLongError(
            f"Explanations read the {what} as one model window of at most {room} tokens; this "
            f"{what} has {n_tokens}. Explain a sentence or a paragraph of it instead."
        )


def explain_parts(explain, text: str, parts) -> tuple[list[dict], list[dict]]:
    """Explain pieces of a long text one by one: `parts` are (start, end, label, extra) and
    `explain(piece, label, **extra)` explains ``text[start:end]``. Returns (explained, skipped):
    each explained piece with its label and its attributions in offsets into `text`; a piece
    over the cap is skipped with the reason, so the caller can tell the user."""
    explained, skipped = [], []
    for a, b, label, extra in parts:
        try:
            found = explain(text[a:b], label, **(extra or {}))
        except InputTooLongError as exc:
            skipped.append({"start": a, "end": b, "label": label, "reason": str(exc)})
            continue
        explained.append({"start": a, "end": b, "text": text[a:b], "label": label,
                          "attributions": [
                              {"start": a + x.start, "end": a + x.end, "text": x.text,
                               "weight": x.weight} for x in found]})
    return explained, skipped
