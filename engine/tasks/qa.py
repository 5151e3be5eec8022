"""Extractive question answering over contexts of any length.

How an answer is found
----------------------
The context is tokenized once (cached per document text) and read in windows
``[CLS] question [SEP] context-slice [SEP]`` of ``max_seq_len`` tokens, consecutive slices sharing
``doc_stride`` tokens, exactly as transformers' fast tokenizers cut them for the
question-answering pipeline.

Which windows are read:

- ``read_paragraphs=True`` with a context that has paragraphs (a `Document`, or anything with
  ``.text`` and ``.paragraphs``): every paragraph in windows of its own, none spanning two
  paragraphs (the Library reads its best passages from different documents this way: no
  window mixes two documents, and no tokens are read twice where passages meet);
- ``thorough=True``, or a context of at most ``read_all_windows`` windows: every window;
- otherwise a retrieval step picks what the reader sees: the document is cut into passages
  (paragraphs merged/split to ~40-120 words) indexed once with BM25
  (`engine.tasks.retrieval`), and the best passages for the question are read, in rank order,
  up to ``passages`` passages and ``reader_tokens`` context tokens (the first passage always;
  each passage is windowed the same way when it is longer than one window). This keeps an
  answer on a long document to about one second of model time on a laptop CPU with an
  albert-base-sized model, whatever the document's length.

Inside one window the candidates are those of transformers 4.57's pipeline: spans of context
tokens ``i <= j < i + max_answer_len``, ranked by ``start_logit[i] + end_logit[j]`` (the same
order as the pipeline's ``p_start[i] * p_end[j]``: both softmaxes are over the same window),
its ``top_k * 2 + 10`` best expanded to whole words (``align_to_words``) and candidates with the
same lower-cased text merged by adding their probabilities. So the best answer from one window is
the span transformers' pipeline picks for that window.

Scores (comparable across windows)
----------------------------------
Across windows answers are ranked by the original SQuAD score, ``start_logit + end_logit``
(raw logits are comparable across windows, per-window probabilities are not; a span seen by two
overlapping windows keeps its best). ``Answer.score`` is a probability under one softmax shared
by every candidate span of every window read::

    score(span) = exp(s_i + e_j) / Z,
    Z = sum over windows read, over context spans (i <= j < i + max_answer_len) of exp(s_i + e_j)
        (+ exp(null) when "no answer" is allowed)

(merged candidates add their terms). For a one-window context this is the span's share of all
the spans the pipeline could have picked.

No answer (SQuAD 2.0 models)
----------------------------
``null = min over windows read of start_logit[CLS] + end_logit[CLS]`` (as in SQuAD 2.0's
run_squad). When ``allow_no_answer`` (default: on for models whose id, folder, config or model
card says SQuAD 2.0), the answer is "no answer" if ``null - best_span_score > null_threshold``
(default 0.0, the SQuAD 2.0 rule; with one window and threshold 0 this is transformers'
``handle_impossible_answer=True``). It is reported as ``Answer("", 0, 0, score, no_answer=True)``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.albert.config import read_json_object
from engine.albert.tokenizer import TokenSpans, Window, window_bounds
from engine.errors import ModelError
from engine.tasks._common import (
    Cancel,
    Progress,
    Reading,
    ReadOptions,
    TaskPipeline,
    check_cancel,
    fold_text,
    logsumexp,
    read_text,
    text_and_paragraphs,
    trim,
)
from engine.tasks.results import Answer, Attribution
from engine.tasks.retrieval import PassageIndex, passage_index
from engine.tasks.sentences import split_sentences

TASK = "question-answering"
PASSAGE_WORDS = (40, 120)
_SQUAD2 = re.compile(r"squad[\s_-]*(?:v|version\s*)?2|squad2", re.IGNORECASE)


@dataclass
class ContextTokens:
    """The tokenization of a context, cached with the document's index."""

    ids: np.ndarray  # (n,) int64
    starts: np.ndarray  # (n,) char start of each token
    ends: np.ndarray  # (n,) char end of each token
    word_start: np.ndarray  # (n,) bool: the piece begins a word ("▁...")

    @property
    def spans(self) -> TokenSpans:
        return TokenSpans(self.ids, self.starts, self.ends)


@dataclass
class _Candidate:
    start: int
    end: int
    raw: float


@dataclass(frozen=True)
class QAOptions(ReadOptions):
    """How questions are answered; every field can be changed per call (``qa(q, c, top_k=3)``).

    ``max_seq_len`` is capped at the model's maximum length (the stride then at half of it);
    ``allow_no_answer=None`` means: when the model says it was trained on SQuAD 2.0."""

    max_seq_len: int = 384
    doc_stride: int = 128
    max_answer_len: int = 15
    top_k: int = 1
    max_question_len: int = 64  # longer questions are cut
    align_to_words: bool = True
    allow_no_answer: bool | None = None
    null_threshold: float = 0.0
    thorough: bool = False
    passages: int = 4
    reader_tokens: int = 800
    read_all_windows: int = 2
    read_paragraphs: bool = False


class QuestionAnsweringPipeline(TaskPipeline):
    """``qa(question=..., context=...) -> list[Answer]`` (best first).

    Options: the fields of `QAOptions`, as keywords here or per call.
    """

    task = TASK
    options_class = QAOptions

    def __init__(self, model=None, device: str = "auto", *, backend: str = "onnx",
                 precision: str = "fp32", max_batch_tokens: int = 4096, **options):
        model_dir = self._open(model, device, backend, precision, options)
        if self.options.allow_no_answer is None:
            self.options = replace(self.options, allow_no_answer=is_squad2_model(model_dir))
        self.max_batch_tokens = max_batch_tokens
        self._tok_key = str(self.tokenizer.spiece_path.resolve())

    # --- indexing --------------------------------------------------------------------------------
    def index(self, context) -> PassageIndex:
        """Index a document once (passages, BM25, tokenization); later questions reuse it."""
        reading = read_text(*text_and_paragraphs(context), self.options.fold_lookalikes)
        return self._index(reading.text, reading.paragraphs)

    def _index(self, text: str, paragraphs: list[tuple[int, int]] | None) -> PassageIndex:
        index = passage_index(text, paragraphs, min_words=PASSAGE_WORDS[0],
                              max_words=PASSAGE_WORDS[1])
        self._context_tokens(index)
        return index

    def _context_tokens(self, index: PassageIndex) -> ContextTokens:
        key = ("qa-tokens", self._tok_key)
        found = index.extras.get(key)
        if found is None:
            ids, pieces, offsets = self.tokenizer.tokenize_with_offsets(index.text)
            found = ContextTokens(
                ids=np.asarray(ids, dtype=np.int64),
                starts=np.asarray([o[0] for o in offsets], dtype=np.int64),
                ends=np.asarray([o[1] for o in offsets], dtype=np.int64),
                word_start=np.asarray([p.startswith("\u2581") for p in pieces], dtype=bool),
            )
            index.extras[key] = found
        return found

    # --- answering -------------------------------------------------------------------------------
    def __call__(self, question: str, context, *, progress: Progress = None,
                 cancel: Cancel = None, **options) -> list[Answer]:
        opts = self._call_options(options)
        if opts.max_seq_len > self.model.max_length:
            # A model with fewer positions reads shorter windows, with transformers' default
            # stride for them (half the window, at most 128).
            opts = replace(opts, max_seq_len=self.model.max_length,
                           doc_stride=min(opts.doc_stride, self.model.max_length // 2))
        _check_options(opts)
        if not isinstance(question, str) or not question.strip():
            raise ValueError("The question is empty.")
        reading = self._read(context, cancel, opts)
        text, paragraphs = reading.text, reading.paragraphs
        if opts.fold_lookalikes:
            question = fold_text(question).text
        index = self._index(text, paragraphs)
        toks = self._context_tokens(index)
        q_ids, _, q_offsets = self.tokenizer.tokenize_with_offsets(question)
        q_ids, q_offsets = q_ids[: opts.max_question_len], q_offsets[: opts.max_question_len]
        width = opts.max_seq_len - len(q_ids) - 3
        if width <= opts.doc_stride and len(toks.ids) > width:
            raise ValueError(
                f"max_seq_len={opts.max_seq_len} leaves {width} context tokens per window "
                f"after the question, not more than doc_stride={opts.doc_stride}."
            )
        if width <= 0:
            raise ValueError("The question is too long for max_seq_len.")
        n = len(toks.ids)
        if n == 0:
            return self._no_context_answer(opts)
        if opts.read_paragraphs and paragraphs:
            ranges = [r for a, b in paragraphs if (r := _token_range(toks, a, b))[1] > r[0]]
        elif opts.thorough or len(window_bounds(0, n, width, opts.doc_stride)) \
                <= opts.read_all_windows:
            ranges = [(0, n)]
        else:
            ranges = self._retrieved_ranges(index, toks, question, width, opts)
        windows = self.tokenizer.windows(toks.spans, opts.max_seq_len, opts.doc_stride,
                                         question=TokenSpans.of(q_ids, q_offsets),
                                         ranges=ranges)
        check_cancel(cancel)
        outputs = self.model.run_sequences(windows, outputs=["start_logits", "end_logits"],
                                           max_batch_tokens=self.max_batch_tokens,
                                           progress=progress, cancel=cancel)
        answers = self._decode(reading, toks, windows, outputs, opts)
        return with_contexts(text, paragraphs, answers)

    def explain(self, question: str, context, answer, *, progress: Progress = None,
                cancel: Cancel = None) -> list[Attribution]:
        """One `Attribution` per sentence of the passage (`engine.tasks.sentences`): the
        answer span's score on the whole passage minus its score with that sentence's tokens
        deleted from the context ids (the question, the specials and the other sentences stay;
        removing the sentence that holds the answer takes the answer away: its whole score).
        The score is the span's ``exp(s_i + e_j) / Z`` over every candidate span of the window
        (and "no answer" when allowed), as `Answer.score` for a one-window passage without
        merged duplicates. `answer` is an `Answer` or a (start, end) pair. The passage must fit
        one window next to the question (`InputTooLongError` otherwise)."""
        from engine.tasks.explain import check_fits, without, word_tokens

        opts = self.options
        if opts.max_seq_len > self.model.max_length:
            opts = replace(opts, max_seq_len=self.model.max_length)
        a, b = (answer.start, answer.end) if hasattr(answer, "start") else map(int, answer)
        if getattr(answer, "no_answer", False) or b <= a:
            raise ValueError("There is no answer span to explain.")
        reading = self._read(context, cancel, opts)
        q = fold_text(question).text if opts.fold_lookalikes else question
        q_ids = self.tokenizer.tokenize_with_offsets(q)[0][: opts.max_question_len]
        ids, _, offsets = self.tokenizer.tokenize_with_offsets(reading.text)
        check_fits(len(ids), opts.max_seq_len - len(q_ids) - 3, "passage")
        starts, ends = [s for s, _ in offsets], [e for _, e in offsets]
        inside = [k for k in range(len(ids)) if a <= starts[k] and ends[k] <= b
                  and starts[k] < ends[k]]
        if not inside:
            raise ValueError(f"The answer span {a}:{b} covers no token of the passage.")
        i, j = inside[0], inside[-1]
        sentences = split_sentences(reading.text, reading.paragraphs)
        groups = word_tokens(sentences, starts, ends)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        head = [cls, *q_ids, sep]
        runs = [(list(ids), i, j)]
        for g in groups:
            if g and not (g[0] <= j and i <= g[-1]):
                shift = sum(1 for k in g if k < i)
                runs.append((without(ids, g), i - shift, j - shift))
        seqs = [_Ids([*head, *c, sep], [0] * len(head) + [1] * (len(c) + 1)) for c, _, _ in runs]
        outs = self.model.run_sequences(seqs, outputs=["start_logits", "end_logits"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        scores = []
        for (c, ii, jj), out in zip(runs, outs):
            st = np.asarray(out["start_logits"], dtype=np.float64)
            en = np.asarray(out["end_logits"], dtype=np.float64)
            c0, m = len(head), len(c)
            band = band_scores(st[c0:c0 + m], en[c0:c0 + m], opts.max_answer_len)
            terms = [logsumexp(band[np.isfinite(band)])]
            if opts.allow_no_answer:
                terms.append(float(st[0] + en[0]))
            raw = float(st[c0 + ii] + en[c0 + jj])
            scores.append(float(np.exp(raw - logsumexp(np.asarray(terms)))))
        full, v, result = scores[0], 1, []
        for (sa, sb), g in zip(sentences, groups):
            if not g:
                weight = 0.0
            elif g[0] <= j and i <= g[-1]:
                weight = full
            else:
                weight = full - scores[v]
                v += 1
            result.append(Attribution(sa, sb, reading.span(sa, sb), weight))
        return result

    def _retrieved_ranges(self, index: PassageIndex, toks: ContextTokens, question: str,
                          width: int, opts: QAOptions) -> list[tuple[int, int]]:
        """Token ranges of the best passages for the question, neighbours merged."""
        ranges: list[tuple[int, int]] = []
        used = 0
        for i, _ in index.search(question, len(index.passages)):
            ta, tb = _token_range(toks, *index.passages[i])
            if tb <= ta or (ranges and used + (tb - ta) > opts.reader_tokens):
                continue
            ranges.append((ta, tb))
            used += tb - ta
            if len(ranges) >= opts.passages or used >= opts.reader_tokens:
                break
        ranges.sort()
        merged: list[list[int]] = []
        for a, b in ranges:
            # Neighbouring passages are read together when they fit in one window.
            if merged and a <= merged[-1][1] and b - merged[-1][0] <= width:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return [(a, b) for a, b in merged]

    def _no_context_answer(self, opts: QAOptions) -> list[Answer]:
        if opts.allow_no_answer:
            return [Answer("", 0, 0, 1.0, no_answer=True)]
        return []

    # --- decoding --------------------------------------------------------------------------------
    def _decode(self, reading: Reading, toks: ContextTokens, windows: list[Window],
                outputs: list[dict], opts: QAOptions) -> list[Answer]:
        text = reading.text
        top_k = opts.top_k
        pre_k = top_k * 2 + 10 if opts.align_to_words else top_k
        best: dict[tuple[int, int], float] = {}
        lse_terms = []
        null = float("inf")
        for win, out in zip(windows, outputs):
            s = np.asarray(out["start_logits"], dtype=np.float64)
            e = np.asarray(out["end_logits"], dtype=np.float64)
            null = min(null, float(s[0] + e[0]))
            c0 = win.body
            scores = band_scores(s[c0:c0 + win.count], e[c0:c0 + win.count],
                                 opts.max_answer_len)
            lse_terms.append(logsumexp(scores[np.isfinite(scores)]))
            for cand in _window_candidates(text, toks, win, scores, pre_k, opts.align_to_words):
                key = (cand.start, cand.end)
                if key not in best or cand.raw > best[key]:
                    best[key] = cand.raw
        allow_null = bool(opts.allow_no_answer)
        if allow_null:
            lse_terms.append(null)
        z = logsumexp(np.asarray(lse_terms))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        answers = [
            Answer(reading.span(a, b), a, b, float(np.exp(raw - z)))
            for (a, b), raw in ranked[:top_k]
        ]
        if allow_null:
            null_answer = Answer("", 0, 0, float(np.exp(null - z)), no_answer=True)
            if not ranked or null - ranked[0][1] > opts.null_threshold:
                answers.insert(0, null_answer)
            else:
                pos = 1 + sum(1 for _, raw in ranked[1:top_k] if raw >= null)
                answers.insert(pos, null_answer)
            answers = answers[:top_k]
        return answers


def with_contexts(text: str, paragraphs: list[tuple[int, int]] | None,
                  answers: list[Answer]) -> list[Answer]:
    """Each answer with the sentence (or sentences) around it, by the engine's splitter.

    The context runs from the start of the sentence holding the answer's first character to
    the end of the one holding its last; it never cuts the answer itself (an answer that starts
    before the first sentence, in a heading's markup say, keeps its own start).
    """
    if all(a.no_answer for a in answers):
        return answers
    ranges = split_sentences(text, paragraphs)
    starts = [a for a, _ in ranges]
    out = []
    for answer in answers:
        if answer.no_answer:
            out.append(answer)
            continue
        if not ranges:
            out.append(replace(answer, context_start=answer.start, context_end=answer.end))
            continue
        first = max(0, bisect.bisect_right(starts, answer.start) - 1)
        last = max(first, bisect.bisect_right(starts, max(answer.start, answer.end - 1)) - 1)
        out.append(replace(answer, context_start=min(ranges[first][0], answer.start),
                           context_end=max(ranges[last][1], answer.end)))
    return out


@dataclass(frozen=True)
class _Ids:
    ids: list[int]
    type_ids: list[int]


def band_scores(start: np.ndarray, end: np.ndarray, max_answer_len: int) -> np.ndarray:
    """(m, m) matrix of start[i] + end[j] for i <= j < i + max_answer_len, -inf elsewhere."""
    m = len(start)
    scores = start[:, None] + end[None, :]
    diff = np.arange(m)[None, :] - np.arange(m)[:, None]
    scores[(diff < 0) | (diff >= max_answer_len)] = -np.inf
    return scores


def _window_candidates(text: str, toks: ContextTokens, win: Window, scores: np.ndarray,
                       pre_k: int, align: bool) -> list[_Candidate]:
    """The pipeline's candidates of one window: top pre_k spans, word-aligned, merged by text."""
    flat = scores.ravel()
    finite = int(np.isfinite(flat).sum())
    k = min(pre_k, finite)
    if k <= 0:
        return []
    if k < flat.size:
        idx = np.argpartition(-flat, k - 1)[:k]
    else:
        idx = np.arange(flat.size)
    idx = idx[np.argsort(-flat[idx], kind="stable")]
    m = scores.shape[0]
    first, last = win.start, win.stop
    merged: dict[str, list] = {}
    order: list[str] = []
    for flat_i in idx:
        i, j = divmod(int(flat_i), m)
        gi, gj = first + i, first + j
        if align:
            gi = _word_first(toks, gi, first)
            gj = _word_last(toks, gj, last)
        start, end = int(toks.starts[gi]), int(toks.ends[gj])
        a, b = trim(text, start, end)
        if a >= b:
            continue
        # transformers compares answer texts that start one character earlier when a word
        # starts after whitespace (its offsets include the "▁"); merge under the same key.
        lead = a - 1 if a > 0 and text[a - 1].isspace() and toks.word_start[gi] else a
        key = text[lead:b].lower()
        raw = float(flat[flat_i])
        if key in merged:
            merged[key][2].append(raw)
        else:
            merged[key] = [a, b, [raw]]
            order.append(key)
    out = [_Candidate(merged[k][0], merged[k][1], logsumexp(np.asarray(merged[k][2])))
           for k in order]
    out.sort(key=lambda c: -c.raw)
    return out


def _word_first(toks: ContextTokens, g: int, lo: int) -> int:
    while g > lo and not toks.word_start[g]:
        g -= 1
    return g


def _word_last(toks: ContextTokens, g: int, hi: int) -> int:
    while g + 1 < hi and not toks.word_start[g + 1]:
        g += 1
    return g


def _token_range(toks: ContextTokens, a: int, b: int) -> tuple[int, int]:
    """The tokens of characters [a, b): empty (tb <= ta) when none lies inside."""
    ta = int(np.searchsorted(toks.ends, a, side="right"))
    tb = int(np.searchsorted(toks.starts, b, side="left"))
    # A zero-width token ("▁") right at the start belongs to the range.
    while ta > 0 and toks.ends[ta - 1] == toks.starts[ta - 1] == a:
        ta -= 1
    return ta, tb


def _check_options(opts: QAOptions) -> None:
    if opts.top_k < 1:
        raise ValueError(f"top_k must be at least 1 (got {opts.top_k})")
    if opts.max_answer_len < 1:
        raise ValueError(f"max_answer_len must be at least 1 (got {opts.max_answer_len})")
    if opts.doc_stride < 0 or opts.doc_stride > opts.max_seq_len:
        raise ValueError(f"doc_stride ({opts.doc_stride}) must lie in 0..max_seq_len")
    if opts.passages < 1 or opts.reader_tokens < 1:
        raise ValueError("passages and reader_tokens must be at least 1")


def is_squad2_model(model_dir: Path) -> bool:
    """Does the checkpoint say it was trained on SQuAD 2.0 (so it can answer "no answer")?"""
    model_dir = Path(model_dir)
    names = [model_dir.name]
    for name in ("albert-lens.json", "config.json"):
        try:
            data = read_json_object(model_dir / name)
        except ModelError:
            continue
        if isinstance(data, dict):
            names += [str(data.get("id", "")), str(data.get("_name_or_path", "")),
                      str(data.get("origin", ""))]
    if any(_SQUAD2.search(n) for n in names):
        return True
    try:
        card = (model_dir / "README.md").read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return bool(re.search(r"squad_v2|squad\s*2\.0", card, re.IGNORECASE))
