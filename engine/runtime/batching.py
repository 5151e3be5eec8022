"""Dynamic padding and length bucketing.

Sequences are sorted by length and packed into batches under a token budget, each batch padded only
to its own longest member, so a list of mixed lengths costs close to the sum of the lengths rather
than batch size x longest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_batches(lengths: Sequence[int], max_batch_tokens: int = 16384,
                 max_batch_size: int = 64) -> list[list[int]]:
    """Group sequence indices into batches; padded cost of a batch <= max_batch_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        length = max(1, lengths[index])
        longest_if_added = max(longest, length)
        fits = (len(current) + 1) * longest_if_added <= max_batch_tokens
        if current and (not fits or len(current) >= max_batch_size):
            batches.append(current)
            current, longest_if_added = [], length
        current.append(index)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


def pad_batch(rows: Sequence[Sequence[int]], pad_value: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows to the longest; returns (array, attention_mask)."""
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), pad_value, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return out, mask
