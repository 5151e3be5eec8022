"""Question answering against transformers 4.57's question-answering pipeline (tiny checkpoints)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import transformers

import engine
from engine.albert.tokenizer import TokenSpans
from engine.errors import Cancelled, ModelNotFoundError, UnsupportedModelError
from engine.tasks.qa import is_squad2_model, window_bounds
from tests import checkpoint_factory as factory
from tests.document_factory import sample_paths

SAMPLES = sample_paths()
QUESTIONS = ["What is ALBERT?", "Who introduced the model?", "How are parameters reduced?",
             "When was BERT introduced?"]


def sample_text() -> str:
    return "\n\n".join(p.read_text(encoding="utf-8") for p in SAMPLES)


def paragraphs(limit: int = 350) -> list[str]:
    out = []
    for p in SAMPLES:
        for line in p.read_text(encoding="utf-8").split("\n"):
            if len(line.split()) >= 12:
                out.append(line[:limit].strip())
    return out


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


@pytest.fixture(scope="module")
def reference(hf_pipeline):
    """transformers' pipeline for a checkpoint folder (fast tokenizer: the pipeline needs offsets)."""
    return lambda folder: hf_pipeline("question-answering", folder)


@pytest.fixture(scope="module")
def ours(engine_pipeline):
    return lambda shape="plain", **options: engine_pipeline("question-answering", "qa", shape,
                                                            **options)


@pytest.fixture(scope="module")
def null_checkpoint(tmp_path_factory, spiece_path):
    """A QA checkpoint whose [CLS] logits compete with the spans (as a SQuAD 2.0 model's do).

    A random head almost never prefers [CLS]; the head's weights are tilted along the direction
    that separates [CLS]'s hidden state from the others until the null score beats all the spans
    together in about half of the cases below.
    """
    import torch

    folder = factory.build_checkpoint(tmp_path_factory.mktemp("qa-null") / "qa", spiece_path,
                                      head="qa", seed=11)
    model = factory.hf_model(folder)
    tok = transformers.AlbertTokenizer.from_pretrained(folder)
    cases = [(QUESTIONS[i % 4], c) for i, c in enumerate(null_contexts())]
    encoded = [tok(q, c, return_tensors="pt") for q, c in cases]

    def gaps() -> np.ndarray:
        out = []
        for enc in encoded:
            res = model(**enc)
            ctx = enc["token_type_ids"][0] == 1
            ctx[-1] = False
            s, e = res.start_logits[0], res.end_logits[0]
            pairs = s[ctx][:, None] + e[ctx][None, :]
            below = torch.ones_like(pairs, dtype=torch.bool).tril(-1)
            # All spans together (candidates with one text add up): an upper bound of the best.
            total = torch.logsumexp(pairs.masked_fill(below, -1e9).flatten(), 0)
            out.append(float(total - (s[0] + e[0])))
        return np.asarray(out)

    with torch.no_grad():
        hidden = [model.albert(**enc).last_hidden_state[0] for enc in encoded]
        h_cls = torch.stack([h[0] for h in hidden]).mean(0)
        h_rest = torch.cat([h[1:] for h in hidden]).mean(0)
        d = h_cls - h_rest
        base = model.qa_outputs.weight.clone()
        beta = float(np.median(gaps())) / 2
        for _ in range(30):
            model.qa_outputs.weight.copy_(base + beta * (d / (d @ d))[None, :])
            share = float((gaps() < 0).mean())
            if 0.3 <= share <= 0.7:
                break
            beta *= 1.3 if share < 0.3 else 0.8
    model.save_pretrained(folder)
    return folder


def null_contexts() -> list[str]:
    contexts = [" ".join(p.split()[:k]) for p in paragraphs()[:20] for k in (2, 5, 12)]
    return contexts + paragraphs()[20:26]


@pytest.mark.parametrize("shape", ["plain", "grouped"])
def test_top1_span_matches_transformers_on_one_window_contexts(shape, checkpoints, ours,
                                                               reference):
    folder = checkpoints("qa", shape)
    hf = reference(folder)
    qa = ours(shape)
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    compared = 0
    for i, context in enumerate(paragraphs()[:24]):
        question = QUESTIONS[i % len(QUESTIONS)]
        # The reference's fast tokenizer must give the ids the checkpoint was trained with.
        assert hf.tokenizer(question, context)["input_ids"] == slow(question, context)["input_ids"]
        assert len(hf.tokenizer(question, context)["input_ids"]) <= 384  # one window
        expected = hf(question=question, context=context)
        got = qa(question, context)
        assert len(got) == 1 and not got[0].no_answer
        assert (got[0].start, got[0].end) == trimmed(context, expected["start"], expected["end"])
        assert got[0].text == context[got[0].start:got[0].end]
        compared += 1
    assert compared == 24


def test_top_k_spans_match_transformers(checkpoints, ours, reference):
    folder = checkpoints("qa")
    hf, qa = reference(folder), ours()
    for context in paragraphs()[:6]:
        expected = hf(question=QUESTIONS[0], context=context, top_k=3)
        got = qa(QUESTIONS[0], context, top_k=3)
        assert [(a.start, a.end) for a in got] == [
            trimmed(context, e["start"], e["end"]) for e in expected]
        scores = [a.score for a in got]
        assert scores == sorted(scores, reverse=True)
        assert all(0 < s <= 1 for s in scores)


def test_max_answer_len_and_word_alignment_options_match(checkpoints, ours, reference):
    folder = checkpoints("qa")
    hf, qa = reference(folder), ours()
    for context in paragraphs()[:6]:
        for options in ({"max_answer_len": 3}, {"align_to_words": False}):
            expected = hf(question=QUESTIONS[1], context=context, **options)
            got = qa(QUESTIONS[1], context, **options)[0]
            assert (got.start, got.end) == trimmed(context, expected["start"], expected["end"])


def test_no_answer_decision_matches_handle_impossible_answer(null_checkpoint, reference):
    hf = reference(null_checkpoint)
    qa = engine.pipeline("qa", model=null_checkpoint, device="cpu", allow_no_answer=True,
                         fold_lookalikes=False)  # as transformers reads the samples
    decisions = []
    for i, context in enumerate(null_contexts()):
        question = QUESTIONS[i % len(QUESTIONS)]
        expected = hf(question=question, context=context, handle_impossible_answer=True)
        got = qa(question, context)[0]
        hf_null = expected["answer"] == "" and expected["start"] == expected["end"] == 0
        assert got.no_answer == hf_null, (question, context)
        if got.no_answer:
            assert (got.text, got.start, got.end) == ("", 0, 0)
        else:
            assert (got.start, got.end) == trimmed(context, expected["start"], expected["end"])
        decisions.append(got.no_answer)
    assert 0.1 < sum(decisions) / len(decisions) < 0.9
    # A huge threshold never says "no answer"; a very negative one always does.
    context = paragraphs()[0]
    assert not qa(QUESTIONS[0], context, null_threshold=1e9)[0].no_answer
    assert qa(QUESTIONS[0], context, null_threshold=-1e9)[0].no_answer
    # Without allow_no_answer the best span is given, as the pipeline does by default.
    plain = engine.pipeline("qa", model=null_checkpoint, device="cpu")
    assert not plain(QUESTIONS[0], null_contexts()[0])[0].no_answer


def test_windows_are_the_fast_tokenizers_overflow_windows(checkpoints, ours, reference):
    folder = checkpoints("qa")
    hf, qa = reference(folder), ours()
    context = sample_text()[:5000]
    question = QUESTIONS[2]
    for max_len, stride in ((384, 128), (200, 50)):
        enc = hf.tokenizer(question, context, truncation="only_second", max_length=max_len,
                           stride=stride, return_overflowing_tokens=True)
        index = qa.index(context)
        toks = qa._context_tokens(index)
        q_ids, _, q_offsets = qa.tokenizer.tokenize_with_offsets(question)
        windows = qa.tokenizer.windows(toks.spans, max_len, stride,
                                       question=TokenSpans.of(q_ids, q_offsets))
        assert len(windows) > 3
        assert [w.ids for w in windows] == enc["input_ids"]
        assert [w.type_ids for w in windows] == enc["token_type_ids"]


def test_each_window_best_is_the_pipelines_pick_for_that_window(checkpoints, ours, reference):
    """Whatever the mode, a window's best span is what transformers picks reading that window."""
    folder = checkpoints("qa")
    hf, qa = reference(folder), ours()
    context = sample_text()[:3000]
    question = QUESTIONS[0]
    index = qa.index(context)
    toks = qa._context_tokens(index)
    q_ids = qa.tokenizer.tokenize_with_offsets(question)[0]
    bounds = window_bounds(0, len(toks.ids), 384 - len(q_ids) - 3, 128)
    assert len(bounds) >= 2
    for a, b in bounds:
        # The window's text, cut at its first and last token: one window for both readers.
        lo, hi = int(toks.starts[a]), int(toks.ends[b - 1])
        piece = context[lo:hi]
        if qa.tokenizer.tokenize_with_offsets(piece)[0] != toks.ids[a:b].tolist():
            continue  # the cut changed the tokenization; not the same window
        expected = hf(question=question, context=piece)
        got = qa(question, piece)[0]
        assert (got.start, got.end) == trimmed(piece, expected["start"], expected["end"])


def test_thorough_reads_everything_and_retrieval_reads_less(checkpoints, ours):
    qa = ours()
    document = "\n\n".join([sample_text()] * 2)
    calls = []
    thorough = qa(QUESTIONS[0], document, thorough=True, top_k=3,
                  progress=lambda d, t: calls.append((d, t)))
    total_windows = calls[-1][1]
    calls.clear()
    fast = qa(QUESTIONS[0], document, top_k=3, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][1] < total_windows
    for answers in (thorough, fast):
        assert 1 <= len(answers) <= 3
        for a in answers:
            assert a.text == document[a.start:a.end] == a.text.strip() and a.text
    # Small contexts are always read whole, whatever the mode.
    short = paragraphs()[3]
    assert qa(QUESTIONS[1], short) == qa(QUESTIONS[1], short, thorough=True)


def test_retrieval_reads_the_passages_about_the_question(checkpoints, ours):
    qa = ours()
    filler = " ".join(["The weather report said the harbour was calm and grey that day."] * 12)
    needle = ("Marie Curie was born in Warsaw in 1867 and moved to Paris, where she studied "
              "physics and chemistry at the Sorbonne.")
    parts = [filler] * 30
    parts[17] = needle + " " + filler[:200]
    document = "\n\n".join(parts)
    answers = qa("Where was Marie Curie born?", document, top_k=5, passages=1)
    start = document.index(needle)
    passage = next(p for p in qa.index(document).passages if p[0] <= start < p[1])
    assert answers and all(passage[0] <= a.start < a.end <= passage[1] for a in answers)
    # A token budget bounds what is read, whatever the number of passages.
    seen = []
    qa("Where was Marie Curie born?", document, passages=50, reader_tokens=300,
       progress=lambda d, t: seen.append(t))
    assert seen[-1] <= 3


class _Paragraphed:
    """A context with paragraphs, as the Library hands its passages to the reader."""

    def __init__(self, parts: list[str]):
        self.text = "\n\n".join(parts)
        self.paragraphs, at = [], 0
        for part in parts:
            self.paragraphs.append(type("Span", (), {"start": at, "end": at + len(part)}))
            at += len(part) + 2


def test_read_paragraphs_reads_each_paragraph_in_windows_of_its_own(checkpoints, ours,
                                                                      reference):
    folder = checkpoints("qa")
    hf, qa = reference(folder), ours()
    parts = [p[:300] for p in paragraphs()[:3]]
    doc = _Paragraphed(parts)
    question = QUESTIONS[0]
    seen = []
    real = qa.model.run_sequences

    def spy(windows, **kw):
        seen.extend(windows)
        return real(windows, **kw)

    qa.model.run_sequences = spy
    try:
        got = qa(question, doc, read_paragraphs=True, top_k=1)[0]
        everything = qa(question, doc, read_paragraphs=True, top_k=10000, align_to_words=False)
    finally:
        del qa.model.run_sequences
    q_len = len(qa.tokenizer.tokenize_with_offsets(question)[0])
    windows = seen[:len(parts)]
    # One window per paragraph, holding that paragraph's tokens and nothing else.
    assert [len(w.ids) for w in windows] == [
        q_len + 3 + len(qa.tokenizer.tokenize_with_offsets(p)[0]) for p in parts]
    # The best span is transformers' pick in the paragraph it lies in.
    k = next(i for i, s in enumerate(doc.paragraphs) if s.start <= got.start < s.end)
    expected = hf(question=question, context=parts[k])
    shift = doc.paragraphs[k].start
    assert (got.start - shift, got.end - shift) == trimmed(parts[k], expected["start"],
                                                           expected["end"])
    assert got.text == doc.text[got.start:got.end]
    # Candidates from every paragraph, none across two.
    assert {next(i for i, s in enumerate(doc.paragraphs) if s.start <= a.start < s.end)
            for a in everything} == set(range(len(parts)))
    assert all(any(s.start <= a.start < a.end <= s.end for s in doc.paragraphs)
               for a in everything)


def test_scores_are_one_softmax_over_all_candidate_spans(checkpoints, ours):
    """score = exp(s_i + e_j) / sum over every window's candidate spans (a distribution)."""
    qa = ours()
    context = "marie curie was born in warsaw and moved to the sorbonne"
    assert "\u2581" not in qa.tokenizer.tokenize_with_offsets(context)[1]  # no empty spans
    got = qa(QUESTIONS[0], context, top_k=10000, align_to_words=False, max_answer_len=4)
    # Without word alignment every span is a candidate of its own (equal texts are merged by
    # adding), so the scores of all candidates make one distribution.
    assert len(got) > 20
    assert sum(a.score for a in got) == pytest.approx(1.0, abs=1e-6)
    with_null = qa(QUESTIONS[0], context, top_k=10000, align_to_words=False, max_answer_len=4,
                   allow_no_answer=True)
    assert sum(a.score for a in with_null) == pytest.approx(1.0, abs=1e-6)


def test_repeated_questions_reuse_the_index(checkpoints, ours):
    qa = ours()
    document = "\n\n".join([sample_text()] * 3)
    index = qa.index(document)
    assert qa.index(document) is index
    assert qa._context_tokens(index) is qa._context_tokens(index)


def test_cancel_and_progress(checkpoints, ours):
    qa = ours()
    with pytest.raises(Cancelled):
        qa(QUESTIONS[0], sample_text(), thorough=True, cancel=lambda: True)
    seen = []
    qa(QUESTIONS[0], sample_text(), thorough=True, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]


def test_bad_calls(checkpoints, ours):
    qa = ours()
    with pytest.raises(ValueError):
        qa("   ", "some context")
    with pytest.raises(ValueError):
        qa("q?", "some context", top_k=0)
    with pytest.raises(TypeError):
        qa("q?", "some context", no_such_option=1)
    assert qa("What?", "") == []
    assert qa("What?", "", allow_no_answer=True)[0].no_answer
    with pytest.raises(UnsupportedModelError):
        engine.pipeline("qa", model=checkpoints("sequence"), device="cpu")


def test_no_model_installed_says_how_to_get_one():
    with pytest.raises(ModelNotFoundError, match="albert-lens models download"):
        engine.pipeline("question-answering")


def test_squad2_detection(tmp_path):
    tmp_path = tmp_path / "model"
    tmp_path.mkdir()
    assert not is_squad2_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "twmkn9/albert-base-v2-squad2"}))
    assert is_squad2_model(tmp_path)
    other = tmp_path / "x"
    other.mkdir()
    (other / "README.md").write_text("---\ndatasets:\n- squad_v2\n---\n")
    assert is_squad2_model(other)
    named = tmp_path / "albert-base-v2-squad2"
    named.mkdir()
    assert is_squad2_model(named)


def test_windows_shrink_to_a_model_with_fewer_positions(tmp_path, spiece_path):
    from tests import checkpoint_factory as factory

    shape = dict(factory.TINY_CONFIGS["plain"], max_position_embeddings=128)
    model_dir = factory.build_checkpoint(tmp_path / "short-qa", spiece_path, head="qa",
                                         shape=shape, seed=11)
    context = " ".join(["Marie Curie was born in Warsaw and moved to Paris."] * 40)
    qa = engine.pipeline("question-answering", model=model_dir, device="cpu")
    answers = qa(question="Where was Marie Curie born?", context=context, thorough=True)
    assert answers and all(context[a.start:a.end] == a.text for a in answers)
