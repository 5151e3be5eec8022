"""Tiny NLI-shaped checkpoints (a three-label ALBERT sequence head) for the zero-shot tests."""

from __future__ import annotations

import warnings
from pathlib import Path

from tests import checkpoint_factory as factory

NLI_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
# The order most MNLI checkpoints on the Hub use (contradiction first).
MNLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


def build_nli(folder: Path, spiece: Path, shape: str = "plain", id2label=None,
              seed: int = 17) -> Path:
    return factory.build_checkpoint(folder, spiece, head="sequence", shape=shape, seed=seed,
                                    id2label=id2label or NLI_LABELS)


def hf_zero_shot(folder: Path):
    """transformers' zero-shot-classification pipeline on `folder`, the reference."""
    import transformers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.pipeline(
            "zero-shot-classification", model=factory.hf_model(folder),
            tokenizer=transformers.AlbertTokenizer.from_pretrained(folder), device="cpu")
