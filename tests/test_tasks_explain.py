"""Leave-one-out explanations checked against probabilities computed here with transformers'
models on the reduced inputs (the removed word's or sentence's token ids deleted by the test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

import engine
from engine.errors import InputTooLongError
from engine.tasks.sentences import split_sentences
from tests import checkpoint_factory as factory
from tests.nli_support import build_nli, hf_zero_shot

SENTIMENT_TEXTS = [
    "I loved this film, it was wonderful and the music was great.",
    "Terrible service. I will never come back!",
    "The parcel arrived on Tuesday, 1,000 miles away.",
]


def softmax(x):
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def flat(lists) -> list[int]:
    return [t for ids in lists for t in ids]


def words_of(text: str) -> list[tuple[int, int]]:
    """Whitespace-separated words and their spans, found by hand."""
    out, pos = [], 0
    for w in text.split():
        a = text.index(w, pos)
        out.append((a, a + len(w)))
        pos = a + len(w)
    return out


def word_ids(tok, text: str, spans) -> list[list[int]]:
    """Each word's token ids; ALBERT's pieces never cross white space, so the text's ids are
    the words' ids one after another (checked)."""
    per = [tok(text[a:b], add_special_tokens=False)["input_ids"] for a, b in spans]
    assert [t for ids in per for t in ids] == tok(text, add_special_tokens=False)["input_ids"]
    return per


@torch.no_grad()
def logits(model, ids, types=None):
    t = torch.tensor([ids])
    ty = torch.tensor([types]) if types is not None else torch.zeros_like(t)
    return model(input_ids=t, attention_mask=torch.ones_like(t), token_type_ids=ty)


# --- sentiment -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["plain", "grouped"])
def test_sentiment_weights_are_leave_one_word_out_probabilities(shape, checkpoints):
    folder = checkpoints("sequence", shape)
    hf = factory.hf_model(folder)
    tok = transformers.AlbertTokenizer.from_pretrained(folder)
    clf = engine.pipeline("sentiment", model=folder, device="cpu", fold_lookalikes=False)
    for text in SENTIMENT_TEXTS:
        spans = words_of(text)
        per = word_ids(tok, text, spans)
        cls, sep = tok.cls_token_id, tok.sep_token_id
        full = softmax(logits(hf, [cls, *flat(per), sep]).logits[0].numpy())
        for label in (None, "negative", "positive"):
            k = int(np.argmax(full)) if label is None else ["negative", "positive"].index(label)
            got = clf.explain(text, label) if label else clf.explain(text)
            assert [(x.start, x.end) for x in got] == spans
            for n, x in enumerate(got):
                assert x.text == text[x.start:x.end]
                rest = [t for m, ids in enumerate(per) if m != n for t in ids]
                p = softmax(logits(hf, [cls, *rest, sep]).logits[0].numpy())
                assert x.weight == pytest.approx(full[k] - p[k], abs=1e-4), (text, x.text)
        # The verdict explained is the pipeline's own.
        assert clf(text, sentences=False).scores["positive"] == pytest.approx(full[1], abs=1e-4)


def test_sentiment_explanations_stop_at_one_window(checkpoints):
    clf = engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu",
                          max_length=12)
    with pytest.raises(InputTooLongError, match="at most 10 tokens") as info:
        clf.explain("one two three four five six seven eight nine ten eleven twelve")
    assert "\n" not in str(info.value) and "sentence" in str(info.value)
    with pytest.raises(ValueError, match="not one of the model's labels"):
        clf.explain("fine", "neutral")
    assert clf.explain("   ") == []


# --- zero-shot -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nli(tmp_path_factory, spiece_path):
    return build_nli(tmp_path_factory.mktemp("nli-explain") / "m", spiece_path)


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_weights_are_leave_one_word_out_scores(nli, multi_label):
    hf = factory.hf_model(nli)
    tok = transformers.AlbertTokenizer.from_pretrained(nli)
    zs = engine.pipeline("zero-shot-classification", model=nli, device="cpu",
                         fold_lookalikes=False)
    reference = hf_zero_shot(nli)
    text = "I am writing to complain about the broken heater in my flat, again."
    labels = ["invoice", "complaint", "contract"]
    template = "This text is about {}."
    hyps = [tok(template.format(x), add_special_tokens=False)["input_ids"] for x in labels]
    spans = words_of(text)
    per = word_ids(tok, text, spans)
    cls, sep = tok.cls_token_id, tok.sep_token_id

    def scores(premise):
        rows = []
        for h in hyps:
            first = [cls, *premise, sep]
            rows.append(logits(hf, [*first, *h, sep],
                               [0] * len(first) + [1] * (len(h) + 1)).logits[0].numpy())
        rows = np.asarray(rows, dtype=np.float64)  # entailment 0, contradiction 2
        if multi_label:
            return softmax(rows[:, [2, 0]])[:, 1]
        return softmax(rows[:, 0])

    full = scores(flat(per))
    expected = reference(text, candidate_labels=labels, hypothesis_template=template,
                         multi_label=multi_label)
    assert dict(zip(expected["labels"], expected["scores"]))["complaint"] == \
        pytest.approx(full[1], abs=1e-4)
    for label in (None, "complaint"):
        k = int(np.argmax(full)) if label is None else 1
        got = zs.explain(text, labels, label, multi_label=multi_label,
                         hypothesis_template=template)
        assert [(x.start, x.end) for x in got] == spans
        for n, x in enumerate(got):
            assert x.text == text[x.start:x.end]
            rest = [t for m, ids in enumerate(per) if m != n for t in ids]
            assert x.weight == pytest.approx(full[k] - scores(rest)[k], abs=1e-4), x.text


def test_zero_shot_explanations_stop_at_one_window(nli):
    zs = engine.pipeline("zero-shot-classification", model=nli, device="cpu", max_length=24)
    with pytest.raises(InputTooLongError, match="one model window"):
        zs.explain("word " * 40, ["a", "b"])
    with pytest.raises(ValueError, match="not one of the labels"):
        zs.explain("a short text", ["a", "b"], "c")


# --- question answering ----------------------------------------------------------------------
def test_qa_weights_are_leave_one_sentence_out_scores(checkpoints):
    folder = checkpoints("qa")
    hf = factory.hf_model(folder)
    tok = transformers.AlbertTokenizer.from_pretrained(folder)
    qa = engine.pipeline("question-answering", model=folder, device="cpu",
                         fold_lookalikes=False)
    context = ("The museum opened in 1901. Its first director came from Paris. "
               "Visitors still arrive by the old tram line.")
    question = "Where did the first director come from?"
    sentences = [(0, 26), (27, 62), (63, len(context))]
    assert split_sentences(context) == sentences
    a = context.index("Paris")
    answer = (a, a + len("Paris"))
    q = tok(question, add_special_tokens=False)["input_ids"]
    per = [tok(context[x:y], add_special_tokens=False)["input_ids"] for x, y in sentences]
    assert flat(per) == tok(context, add_special_tokens=False)["input_ids"]
    before = tok(context[sentences[1][0]:a], add_special_tokens=False)["input_ids"]
    span = tok("Paris", add_special_tokens=False)["input_ids"]
    assert per[1][:len(before) + len(span)] == before + span
    cls, sep = tok.cls_token_id, tok.sep_token_id

    def score(ctx, i, j):
        head = [cls, *q, sep]
        out = logits(hf, [*head, *ctx, sep], [0] * len(head) + [1] * (len(ctx) + 1))
        s = out.start_logits[0].numpy().astype(np.float64)[len(head):len(head) + len(ctx)]
        e = out.end_logits[0].numpy().astype(np.float64)[len(head):len(head) + len(ctx)]
        m = len(ctx)
        band = s[:, None] + e[None, :]
        d = np.arange(m)[None, :] - np.arange(m)[:, None]
        band[(d < 0) | (d >= 15)] = -np.inf
        return float(np.exp(s[i] + e[j]) / np.exp(band[np.isfinite(band)]).sum())

    i = len(per[0]) + len(before)
    j = i + len(span) - 1
    full = score(flat(per), i, j)
    got = qa.explain(question, context, answer)
    assert [(x.start, x.end) for x in got] == sentences
    assert [x.text for x in got] == [context[x:y] for x, y in sentences]
    shift = len(per[0])
    assert got[0].weight == pytest.approx(full - score(per[1] + per[2], i - shift, j - shift),
                                          abs=1e-4)
    assert got[1].weight == pytest.approx(full, abs=1e-9)  # the answer's own sentence
    assert got[2].weight == pytest.approx(full - score(per[0] + per[1], i, j), abs=1e-4)
    with pytest.raises(ValueError, match="no answer"):
        qa.explain(question, context, engine.tasks.Answer("", 0, 0, 0.5, no_answer=True))


def test_qa_explanations_stop_at_one_window(checkpoints):
    qa = engine.pipeline("question-answering", model=checkpoints("qa"), device="cpu",
                         max_seq_len=32, doc_stride=8)
    context = "Paris is big. " * 20
    with pytest.raises(InputTooLongError, match="passage"):
        qa.explain("Which city?", context, (0, 5))
