"""Extractive summaries: embeddings against transformers, centrality, redundancy, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import engine
from engine.errors import Cancelled
from engine.tasks.embeddings import SentenceEncoder
from engine.tasks.sentences import split_sentences
from engine.tasks.summarization import lexrank, mmr
from tests.document_factory import sample_paths

SAMPLES = sample_paths()


def document() -> str:
    return "\n\n".join(p.read_text(encoding="utf-8") for p in SAMPLES)


def hf_embeddings(folder: Path, texts: list[str], pooling: str = "mean",
                  max_length: int = 512) -> np.ndarray:
    tok = transformers.AlbertTokenizer.from_pretrained(folder)
    model = transformers.AlbertModel.from_pretrained(folder).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt", truncation=True, max_length=max_length)
            states = model(**enc).last_hidden_state[0]
            rows.append(states[0] if pooling == "cls" else states.mean(0))
    out = torch.stack(rows).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def summarizer(checkpoints):
    # Read as written: the checks below embed the samples' text (look-alike letters and all).
    return engine.pipeline("summarization", model=checkpoints("encoder"), device="cpu",
                           fold_lookalikes=False)


def test_sentence_embeddings_are_mean_pooled_encoder_states(checkpoints):
    folder = checkpoints("encoder", "grouped")
    text = document()
    sentences = [text[a:b] for a, b in split_sentences(text)[:12]]
    ours = SentenceEncoder(folder, "cpu").encode(sentences)
    np.testing.assert_allclose(ours, hf_embeddings(folder, sentences), atol=1e-4)


def test_sentence_transformers_layout_is_honoured(checkpoints, tmp_path):
    import shutil

    folder = tmp_path / "st-model"
    shutil.copytree(checkpoints("encoder"), folder)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
    ]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True,
         "pooling_mode_mean_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 12}))
    encoder = SentenceEncoder(folder, "cpu")
    assert (encoder.pooling, encoder.max_length) == ("cls", 12)
    texts = ["A rather long sentence that needs more than twelve tokens to be read.", "Short."]
    np.testing.assert_allclose(encoder.encode(texts),
                               hf_embeddings(folder, texts, "cls", max_length=12), atol=1e-4)


def test_summary_sentences_in_document_order_with_exact_spans(summarizer):
    text = document()
    summary = summarizer(text, max_sentences=4)
    assert len(summary.sentences) == 4
    starts = [s.start for s in summary.sentences]
    assert starts == sorted(starts)
    sentences = split_sentences(text)
    for s in summary.sentences:
        assert (s.start, s.end) in sentences
        assert s.text == text[s.start:s.end] == s.text.strip() and s.text
        assert 0 < s.score <= 1
    assert summary.text == " ".join(s.text for s in summary.sentences)
    by_ratio = summarizer(text, ratio=0.1)
    assert len(by_ratio.sentences) == round(0.1 * len(sentences))


def test_summaries_are_deterministic(summarizer, checkpoints):
    text = document()
    first = summarizer(text, max_sentences=5)
    assert summarizer(text, max_sentences=5) == first
    again = engine.pipeline("summary", model=checkpoints("encoder"), device="cpu",
                            fold_lookalikes=False)
    assert again(text, max_sentences=5) == first


def test_centrality_and_redundancy(summarizer):
    text = document()
    ranges = split_sentences(text)
    vectors = summarizer.encoder.encode([text[a:b] for a, b in ranges])
    centrality = lexrank(vectors)
    # Independent check: the principal eigenvector of the damped transition matrix.
    sim = np.clip(vectors.astype(np.float64) @ vectors.T, 0, None)
    np.fill_diagonal(sim, 0)
    trans = sim / sim.sum(1, keepdims=True)
    n = len(vectors)
    google = 0.15 / n + 0.85 * trans
    values, vecs = np.linalg.eig(google.T)
    p = np.abs(np.real(vecs[:, np.argmax(np.real(values))]))
    np.testing.assert_allclose(centrality, p / p.max(), atol=1e-6)
    # diversity=0: the most central eligible sentences.
    words = [len(text[a:b].split()) for a, b in ranges]
    eligible = [i for i in range(n) if words[i] >= 4]
    top = sorted(sorted(eligible, key=lambda i: -centrality[i])[:3])
    got = summarizer(text, max_sentences=3, diversity=0.0)
    assert [(s.start, s.end) for s in got.sentences] == [ranges[i] for i in top]
    # Redundancy control: a duplicate of the first pick is never picked next.
    v = np.eye(3, dtype=np.float32)
    v = np.vstack([v[0], v[0], v[1]])
    assert mmr(v, np.array([1.0, 0.99, 0.5]), np.arange(3), 2, 0.5) == [0, 2]
    assert mmr(v, np.array([1.0, 0.99, 0.5]), np.arange(3), 2, 0.0) == [0, 1]


def test_options_and_errors(summarizer, checkpoints):
    assert summarizer("").sentences == []
    assert len(summarizer("One sentence only.", max_sentences=3).sentences) == 1
    with pytest.raises(ValueError):
        summarizer("x. y.", ratio=1.5)
    with pytest.raises(TypeError):
        summarizer("x. y.", length=3)
    with pytest.raises(Cancelled):
        summarizer(document(), cancel=lambda: True)
    # The embedding model can be named as such; any checkpoint with an encoder works.
    same = engine.pipeline("summary", embedding_model=checkpoints("encoder"), device="cpu",
                           fold_lookalikes=False)
    assert same(document()) == summarizer(document())
    other = engine.pipeline("summary", model=checkpoints("sequence"), device="cpu")
    assert len(other(document()).sentences) == 3


def test_a_qa_checkpoint_as_the_encoder(checkpoints):
    summ = engine.pipeline("summary", model=checkpoints("qa"), device="cpu")
    assert len(summ(document()).sentences) == 3
