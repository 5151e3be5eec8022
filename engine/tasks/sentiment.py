"""Sentiment (any sequence classifier): the document's label and one result per sentence.

Probabilities are those of transformers' text-classification pipeline: softmax over the logits
(sigmoid for one-label or multi-label models, raw logits for regression), labels from the
checkpoint's ``id2label``.

- A text that fits in one window (``max_length`` tokens, default the model's maximum, at most
  512) is read whole, as the pipeline reads it.
- A longer text is cut into chunks and the chunks' probabilities are averaged, each weighted by
  its number of tokens. ``document="sentences"`` uses the sentences as the chunks (no extra
  model work when per-sentence results are computed anyway); ``document="chunks"`` reads runs
  of whole sentences of up to ``max_length`` tokens. ``"auto"`` (default) is ``"sentences"``
  when per-sentence results are asked for, ``"chunks"`` otherwise.
- ``sentences=True`` (default): every sentence (see `engine.tasks.sentences`) is classified on
  its own, as the pipeline would classify its text, and returned with its character span.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.albert.tokenizer import TokenSpans
from engine.tasks._common import (
    Cancel,
    Progress,
    ReadOptions,
    TaskPipeline,
    check_cancel,
    softmax,
)
from engine.tasks.labels import polarity
from engine.tasks.results import Attribution, SentenceSentiment, Sentiment
from engine.tasks.sentences import split_sentences

TASK = "sentiment"
DOCUMENT_MODES = ("auto", "sentences", "chunks")


@dataclass(frozen=True)
class SentimentOptions(ReadOptions):
    """``sentences``: per-sentence results; ``document``: "auto"|"sentences"|"chunks" (how a
    long text is combined); ``max_length``: tokens per read (None: the model's);
    ``function_to_apply``: "softmax", "sigmoid" or "none" (None: as transformers picks)."""

    sentences: bool = True
    document: str = "auto"
    max_length: int | None = None
    function_to_apply: str | None = None

    def __post_init__(self) -> None:
        _check_mode(self.document)
        if self.function_to_apply not in (None, "", "softmax", "sigmoid", "none"):
            raise ValueError("function_to_apply must be softmax, sigmoid or none")


class TextClassificationPipeline(TaskPipeline):
    """``clf(text) -> Sentiment(label, score, scores, sentences, polarity)``.

    Options: the fields of `SentimentOptions`; ``sentences`` and ``document`` also per call.
    """

    task = TASK
    options_class = SentimentOptions

    def __init__(self, model=None, device: str = "auto", *, backend: str = "onnx",
                 precision: str = "fp32", max_batch_tokens: int = 8192, **options):
        self._open(model, device, backend, precision, options)
        config, limit = self.model.config, self.model.max_length
        self.options = replace(
            self.options, max_length=min(self.options.max_length or limit, limit),
            function_to_apply=self.options.function_to_apply
            or _default_function(config.problem_type, config.num_labels))
        self.max_batch_tokens = max_batch_tokens

    def __call__(self, text, *, sentences: bool | None = None, document: str | None = None,
                 progress: Progress = None, cancel: Cancel = None) -> Sentiment:
        want_sentences = self.options.sentences if sentences is None else sentences
        mode = _check_mode(document or self.options.document)
        reading = self._read(text, cancel)
        text, paragraphs = reading.text, reading.paragraphs
        tok = self.tokenizer
        body = self.options.max_length - 2
        ids, _, offsets = tok.tokenize_with_offsets(text)
        if not ids:
            return self._empty()
        whole = TokenSpans.of(ids, offsets)
        fits = len(ids) <= body
        long_mode = mode if mode != "auto" else ("sentences" if want_sentences else "chunks")
        need_sentences = want_sentences or (not fits and long_mode == "sentences")
        ranges = split_sentences(text, paragraphs) if (need_sentences or not fits) else []
        sentence_tokens = _sentence_tokens(tok, text, ranges) if ranges else []
        # Each sentence and chunk is read as the pipeline reads a text: its first tokens.
        sent_windows = [tok.windows(t, self.options.max_length, truncate=True)[0]
                        for t in sentence_tokens] if need_sentences else []
        chunk_windows = [tok.windows(t, self.options.max_length, truncate=True)[0]
                         for t in _chunks(sentence_tokens, body)] \
            if not fits and long_mode == "chunks" else []
        if not fits and not chunk_windows and not sent_windows:
            chunk_windows = tok.windows(whole, self.options.max_length, stride=0)
        inputs = ([tok.windows(whole, self.options.max_length)[0]] if fits else []) + sent_windows + \
            chunk_windows
        check_cancel(cancel)
        outs = self.model.run_sequences(inputs, outputs=["logits"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        probs = [self._probabilities(o["logits"]) for o in outs]
        first = 1 if fits else 0
        sent_probs = probs[first:first + len(sent_windows)]
        chunk_probs = probs[first + len(sent_windows):]
        if fits:
            doc = probs[0]
        elif chunk_windows:
            doc = _weighted(chunk_probs, [w.count for w in chunk_windows])
        else:
            doc = _weighted(sent_probs, [w.count for w in sent_windows])
        per_sentence = []
        if want_sentences:
            for (a, b), p in zip(ranges, sent_probs):
                k = int(np.argmax(p))
                label, scores = self.labels[k], self._scores(p)
                per_sentence.append(SentenceSentiment(a, b, reading.span(a, b), label, float(p[k]), scores,
                                                      polarity(label, float(p[k]), scores)))
        k = int(np.argmax(doc))
        label, scores = self.labels[k], self._scores(doc)
        return Sentiment(label, float(doc[k]), scores, per_sentence,
                         polarity(label, float(doc[k]), scores))

    def explain(self, text, label: str | None = None, *, progress: Progress = None,
                cancel: Cancel = None) -> list[Attribution]:
        """One `Attribution` per word of `text` (a run of non-space characters): the
        probability of `label` (default: the top one) on the whole text minus that probability
        with the word's tokens deleted from the input ids (`[CLS]`, the other words' tokens and
        `[SEP]` stay). All the variants run as one batch. The text must fit one window
        (`max_length` tokens with the specials; else `InputTooLongError`: explain a sentence)."""
        from engine.tasks.explain import check_fits, without, word_spans, word_tokens

        reading = self._read(text, cancel)
        tok = self.tokenizer
        ids, _, offsets = tok.tokenize_with_offsets(reading.text)
        check_fits(len(ids), self.options.max_length - 2)
        words = word_spans(reading.text)
        groups = word_tokens(words, [s for s, _ in offsets], [e for _, e in offsets])
        cls, sep = tok.cls_token_id, tok.sep_token_id
        variants = [[cls, *ids, sep]] + [[cls, *without(ids, g), sep] for g in groups if g]
        outs = self.model.run_sequences(variants, outputs=["logits"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        probs = [self._probabilities(o["logits"]) for o in outs]
        if label is None:
            k = int(np.argmax(probs[0]))
        elif label in self.labels:
            k = self.labels.index(label)
        else:
            raise ValueError(f"{label!r} is not one of the model's labels: "
                             f"{', '.join(self.labels)}")
        out, v = [], 1
        for (a, b), g in zip(words, groups):
            weight = 0.0
            if g:
                weight = float(probs[0][k] - probs[v][k])
                v += 1
            out.append(Attribution(a, b, reading.span(a, b), weight))
        return out

    @property
    def function(self) -> str:
        """What turns logits into scores: "softmax", "sigmoid" or "none"."""
        return self.options.function_to_apply

    def _probabilities(self, logits) -> np.ndarray:
        x = np.asarray(logits, dtype=np.float64).reshape(-1)
        function = self.function
        if function == "softmax":
            return softmax(x)
        if function == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        return x

    def _scores(self, p: np.ndarray) -> dict[str, float]:
        return {label: float(v) for label, v in zip(self.labels, p)}

    def _empty(self) -> Sentiment:
        # No text: no evidence either way.
        n = len(self.labels)
        p = np.full(n, 1.0 / n)
        return Sentiment(self.labels[0], float(p[0]), self._scores(p), [])


def _default_function(problem_type: str | None, n_labels: int) -> str:
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or n_labels == 1:
        return "sigmoid"
    return "softmax"


def _check_mode(mode: str) -> str:
    if mode not in DOCUMENT_MODES:
        raise ValueError(f"document must be one of {', '.join(DOCUMENT_MODES)}; got {mode!r}")
    return mode


def _sentence_tokens(tok, text: str, ranges) -> list[TokenSpans]:
    """Each sentence tokenized on its own, its spans in the text's offsets."""
    out = []
    for a, b in ranges:
        ids, _, offsets = tok.tokenize_with_offsets(text[a:b])
        out.append(TokenSpans(ids, [a + s for s, _ in offsets], [a + e for _, e in offsets]))
    return out


def _chunks(sentences: list[TokenSpans], body: int) -> list[TokenSpans]:
    """Runs of whole sentences of at most `body` tokens (a longer sentence is cut)."""
    chunks: list[TokenSpans] = []
    cur = TokenSpans([], [], [])
    for t in sentences:
        if cur.ids and len(cur.ids) + len(t.ids) > body:
            chunks.append(cur)
            cur = TokenSpans([], [], [])
        while len(t.ids) > body:
            chunks.append(_cut(t, 0, body))
            t = _cut(t, body, len(t.ids))
        cur = TokenSpans([*cur.ids, *t.ids], [*cur.starts, *t.starts], [*cur.ends, *t.ends])
    if cur.ids:
        chunks.append(cur)
    return chunks


def _cut(t: TokenSpans, a: int, b: int) -> TokenSpans:
    return TokenSpans(t.ids[a:b], t.starts[a:b], t.ends[a:b])


def _weighted(parts: list[np.ndarray], weights: list[int]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones_like(w)
    return (np.stack(parts) * w[:, None]).sum(axis=0) / w.sum()
