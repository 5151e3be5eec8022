"""Sentiment against transformers 4.57's text-classification pipeline (tiny checkpoints)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import transformers

import engine
from engine.errors import Cancelled, UnsupportedModelError
from engine.tasks.sentences import split_sentences
from tests import checkpoint_factory as factory
from tests.document_factory import sample_paths

SAMPLES = sample_paths()
SHORT = [
    "I loved this film, it was wonderful.",
    "Terrible service. I will never come back!",
    "The parcel arrived on Tuesday.",
    "  Spaces   and\ttabs\nand lines  ",
    "Ẳlbert ﬁne café naïve — 1,000,000 dollars (USA).",
    "x",
]


def document() -> str:
    return "\n\n".join(p.read_text(encoding="utf-8") for p in SAMPLES)


@pytest.fixture(scope="module")
def reference(hf_pipeline):
    return lambda folder: hf_pipeline("text-classification", folder, slow_tokenizer=True,
                                      top_k=None)


def as_dict(found) -> dict[str, float]:
    if found and isinstance(found[0], list):  # one input given as a list
        found = found[0]
    return {x["label"]: x["score"] for x in found}


# The samples are full of look-alike letters, which transformers (the reference) reads as written.
@pytest.mark.parametrize("shape", ["plain", "grouped"])
def test_short_texts_give_the_pipelines_probabilities(shape, checkpoints, reference):
    folder = checkpoints("sequence", shape)
    hf = reference(folder)
    clf = engine.pipeline("sentiment", model=folder, device="cpu", fold_lookalikes=False)
    lines = [ln.strip()[:300] for p in SAMPLES
             for ln in p.read_text(encoding="utf-8").split("\n") if len(ln.split()) > 4]
    for text in SHORT + lines[:12]:
        expected = as_dict(hf(text))
        got = clf(text, sentences=False)
        assert set(got.scores) == {"negative", "positive"}
        for label, p in expected.items():
            assert got.scores[label] == pytest.approx(p, abs=1e-4)
        assert got.label == max(expected, key=expected.get)
        assert got.score == pytest.approx(max(expected.values()), abs=1e-4)


def test_sentences_match_the_pipeline_on_each_sentence(checkpoints, reference):
    folder = checkpoints("sequence")
    hf = reference(folder)
    clf = engine.pipeline("sentiment", model=folder, device="cpu", fold_lookalikes=False)
    text = document()[:3000]
    result = clf(text)
    assert [(s.start, s.end) for s in result.sentences] == split_sentences(text)
    for s in result.sentences[:15]:
        assert s.text == text[s.start:s.end] == s.text.strip() and s.text
        expected = as_dict(hf(s.text))
        for label, p in expected.items():
            assert s.scores[label] == pytest.approx(p, abs=1e-4)
        assert s.label == max(expected, key=expected.get)


def test_long_documents_combine_chunks_weighted_by_length(checkpoints, reference):
    folder = checkpoints("sequence")
    hf = reference(folder)
    clf = engine.pipeline("sentiment", model=folder, device="cpu", max_length=128,
                          fold_lookalikes=False)
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    text = document()[:4000]
    assert len(slow(text)["input_ids"]) > 128
    # Sentences as the chunks: the length-weighted mean of the sentences' probabilities.
    result = clf(text, document="sentences")
    weights, probs = [], []
    for s in result.sentences:
        ids = slow(s.text, truncation=True, max_length=128)["input_ids"]
        weights.append(len(ids) - 2)
        probs.append(as_dict(hf(s.text, truncation=True, max_length=128)))
    w = np.asarray(weights, dtype=float)
    for label in ("negative", "positive"):
        expected = float((np.asarray([p[label] for p in probs]) * w).sum() / w.sum())
        assert result.scores[label] == pytest.approx(expected, abs=1e-4)
    # Runs of sentences as the chunks: still a distribution, close to the sentence view.
    chunked = clf(text, document="chunks", sentences=False)
    assert sum(chunked.scores.values()) == pytest.approx(1.0)
    assert chunked.sentences == []
    # A text that fits is read whole, as the pipeline reads it.
    whole = engine.pipeline("sentiment", model=folder, device="cpu",
                            fold_lookalikes=False)(text[:600])
    for label, p in as_dict(hf(text[:600])).items():
        assert whole.scores[label] == pytest.approx(p, abs=1e-4)


def test_labels_and_function_follow_the_config(tmp_path, spiece_path):
    single = factory.build_checkpoint(tmp_path / "one", spiece_path, head="sequence", seed=2,
                                      id2label={0: "toxicity"})
    three = factory.build_checkpoint(tmp_path / "three", spiece_path, head="sequence", seed=3,
                                     id2label={0: "sad", 1: "neutral", 2: "happy"})
    for folder in (single, three):
        tok = transformers.AlbertTokenizer.from_pretrained(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf = transformers.pipeline("text-classification", model=factory.hf_model(folder),
                                       tokenizer=tok, device="cpu", top_k=None)
        clf = engine.pipeline("sentiment", model=folder, device="cpu")
        for text in SHORT[:3]:
            got = clf(text)
            expected = as_dict(hf(text))
            assert set(got.scores) == set(expected)
            for label, p in expected.items():
                assert got.scores[label] == pytest.approx(p, abs=1e-4)
    assert engine.pipeline("sentiment", model=single, device="cpu").function == "sigmoid"


def test_empty_cancel_and_errors(checkpoints):
    clf = engine.pipeline("text-classification", model=checkpoints("sequence"), device="cpu")
    empty = clf("   ")
    assert empty.sentences == [] and sum(empty.scores.values()) == pytest.approx(1.0)
    with pytest.raises(Cancelled):
        clf(document(), cancel=lambda: True)
    with pytest.raises(ValueError):
        clf("text", document="paragraphs")
    with pytest.raises(UnsupportedModelError):
        engine.pipeline("sentiment", model=checkpoints("token"), device="cpu")
    seen = []
    clf(document()[:2000], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] > 1
