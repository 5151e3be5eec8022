"""What a model's labels mean, so that nothing outside the engine has to guess from their names.

- `entity_type`: the entity type of a token-classification tag ("B-PER", "I-PER", "PER" → "PER").
- `polarity`: negative … positive in [-1, +1] from a classifier's labels and probabilities,
  whatever the labels are called.
"""

from __future__ import annotations

from collections.abc import Mapping


def entity_type(label: str) -> str:
    """The type of a tag: "B-PER", "I-PER", "E-PER", "S-PER" and "PER" are all "PER"."""
    if len(label) > 2 and label[1] == "-" and label[0] in "BIES":
        return label[2:]
    return label


def _kind(label: str) -> int:
    low = label.lower()
    if "neg" in low:
        return -1
    if "pos" in low:
        return 1
    return 0


def polarity(label: str, score: float, scores: Mapping[str, float] | None = None) -> float:
    """-1 (negative) … +1 (positive).

    - labels that say so (positive/negative/pos/neg, any others count as neutral): the expected
      sign, sum of sign × probability;
    - star ratings ("1 star" … "5 stars"): the expected rating scaled onto [-1, +1];
    - two bare labels LABEL_0/LABEL_1: the GLUE/SST-2 convention, LABEL_1 is positive;
    - otherwise the sign the top label says, times its score (0 when it says nothing).
    """
    scores = scores or {}
    if scores and any(_kind(k) for k in scores):
        return sum(_kind(k) * p for k, p in scores.items())
    stars = {k: int(k.split()[0]) for k in scores if k.split() and k.split()[0].isdigit()}
    if scores and len(stars) == len(scores) and len(set(stars.values())) > 1:
        lo, hi = min(stars.values()), max(stars.values())
        mean = sum(stars[k] * p for k, p in scores.items())
        return 2 * (mean - lo) / (hi - lo) - 1
    upper = {k.upper(): p for k, p in scores.items()}
    if len(upper) == 2 and all(k.startswith("LABEL_") for k in upper):
        return upper.get("LABEL_1", 0.0) - upper.get("LABEL_0", 0.0)
    return _kind(label) * score
