"""Named entities: token classification, BIO/IOB decoding and transformers' aggregation.

The text is tokenized once and read in windows of ``max_length`` tokens that overlap by
``stride`` tokens. Every token takes its label probabilities from the window where it has the
most context on both sides, so the document is decoded as one token sequence: no entity is cut
or repeated at a window edge. Decoding then follows transformers 4.57's token-classification
pipeline step by step:

- ``aggregation="simple"``: each token's best label, then adjacent tokens grouped (a ``B-``
  starts a new entity, ``I-`` or a bare tag continues one of the same type);
- ``"first"`` / ``"average"`` / ``"max"``: tokens are first fused into words (the pipeline's
  heuristic for sentencepiece tokenizers: a token is inside a word when no plain space touches
  its start; an unknown token starts a word), the word label being the first token's, the
  averaged scores' or the most confident token's; then words are grouped as above;
- ``"none"``: one entity per token with its raw label (``B-PER``...).

One rule comes before all of these and is not transformers': a character that NFKC/NFKD
expands becomes several pieces over the same original character (``…`` is three ``.``,
``ﬁle`` is ``▁f`` on ``ﬁ`` then ``il`` on ``ﬁl``). A piece that begins inside the characters
of the piece before it is fused with it into one token (the union of their spans), so no two
entities ever share a character; the fused token's probabilities follow the strategy (see
``_fuse_expanded``). Text without such characters decodes exactly as the pipeline does.

Labels come from the checkpoint's ``id2label``; the entity label is the tag without its
``B-``/``I-`` prefix, its score the mean of its tokens' (words') scores, and ``O`` is dropped.
Spans are the union of the tokens' character spans, trimmed of whitespace; a group that would
cover only whitespace is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.albert.tokenizer import SPECIAL_TOKENS, TokenSpans
from engine.tasks._common import Cancel, Progress, ReadOptions, TaskPipeline, softmax, trim
from engine.tasks.labels import entity_type
from engine.tasks.results import Entity, entity_key

TASK = "ner"
AGGREGATIONS = ("none", "simple", "first", "average", "max")


@dataclass(frozen=True)
class NEROptions(ReadOptions):
    """``aggregation``: none|simple|first|average|max; ``max_length``: window size in tokens
    (None: the model's maximum, at most 512); ``stride``: tokens shared by consecutive windows;
    ``ignore_labels``: labels never reported."""

    aggregation: str = "simple"
    max_length: int | None = None
    stride: int = 64
    ignore_labels: tuple[str, ...] = ("O",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aggregation", _check_aggregation(self.aggregation))
        object.__setattr__(self, "ignore_labels", tuple(self.ignore_labels))
        if self.stride < 0:
            raise ValueError(f"stride must be at least 0 (got {self.stride})")


class TokenClassificationPipeline(TaskPipeline):
    """``ner(text, aggregation="simple") -> list[Entity]`` in text order.

    Options: the fields of `NEROptions`; ``aggregation`` can also be given per call.
    """

    task = TASK
    options_class = NEROptions

    def __init__(self, model=None, device: str = "auto", *, backend: str = "onnx",
                 precision: str = "fp32", max_batch_tokens: int = 8192, **options):
        self._open(model, device, backend, precision, options)
        limit = self.model.max_length
        max_length = min(self.options.max_length or limit, limit)
        if max_length < 3:
            raise ValueError("max_length must leave room for at least one token")
        self.options = replace(self.options, max_length=max_length)
        self.max_batch_tokens = max_batch_tokens

    def __call__(self, text, *, aggregation: str | None = None, progress: Progress = None,
                 cancel: Cancel = None) -> list[Entity]:
        strategy = _check_aggregation(aggregation or self.options.aggregation)
        reading = self._read(text, cancel)
        text = reading.text
        ids, pieces, offsets = self.tokenizer.tokenize_with_offsets(text)
        if not ids:
            return []
        probs = self.token_probabilities(ids, progress=progress, cancel=cancel, offsets=offsets)
        pre = _fuse_expanded(self._pre_entities(text, ids, pieces, offsets, probs), strategy)
        if strategy in ("none", "simple"):
            tokens = [_token_entity(p, self.labels) for p in pre]
        else:
            tokens = _aggregate_words(pre, strategy, self.labels)
        if strategy == "none":
            groups = tokens
        else:
            groups = _group_entities(tokens)
        out = []
        for g in groups:
            if g["entity"] in self.options.ignore_labels:
                continue
            a, b = trim(text, g["start"], g["end"])
            if a < b:
                # Grouped under what the model read: a fragment of a word folds as that word.
                out.append(Entity(g["entity"], a, b, reading.span(a, b), float(g["score"]),
                                  type=entity_type(g["entity"]),
                                  key=entity_key(text[a:b], folded=True)))
        return out

    def token_probabilities(self, ids: list[int], progress: Progress = None,
                            cancel: Cancel = None, offsets: list[tuple[int, int]] | None = None,
                            ) -> np.ndarray:
        """(n_tokens, n_labels) probabilities, each token from its best-centred window.

        `offsets` (the tokens' character spans) only travel with the windows: without them
        the windows' offsets read (0, 0)."""
        n = len(ids)
        width = self.options.max_length - 2
        stride = min(self.options.stride, width - 1) if n > width else 0
        spans = TokenSpans.of(ids, offsets if offsets is not None else [(0, 0)] * n)
        windows = self.tokenizer.windows(spans, self.options.max_length, stride)
        outs = self.model.run_sequences(windows, outputs=["logits"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        best = np.full(n, -1, dtype=np.int64)
        for w, out in zip(windows, outs):
            a, b = w.start, w.stop
            logits = np.asarray(out["logits"], dtype=np.float32)[w.body:w.body + w.count]
            pos = np.arange(a, b)
            context = np.minimum(pos - a, b - 1 - pos)
            take = context > best[a:b]
            probs[a:b][take] = _softmax32(logits[take])
            best[a:b][take] = context[take]
        return probs

    def _pre_entities(self, text: str, ids, pieces, offsets, probs) -> list[dict]:
        unk = self.tokenizer.unk_token_id
        pre = []
        for k, (piece, (s, e)) in enumerate(zip(pieces, offsets)):
            if piece in SPECIAL_TOKENS and text[s:e] == piece:
                continue  # a special-token string written in the text: masked like the pipeline
            # transformers' offsets for a "▁" piece start on the whitespace before the word.
            hs = s - 1 if piece.startswith("\u2581") and s > 0 and text[s - 1].isspace() else s
            is_subword = hs > 0 and " " not in text[hs - 1:hs + 1]
            if ids[k] == unk:
                is_subword = False
            pre.append({"scores": probs[k], "start": s, "end": e, "is_subword": is_subword})
        return pre


def _fuse_expanded(pre: list[dict], strategy: str) -> list[dict]:
    """Pieces of one expanded character fused into one token, so no character is decoded twice.

    A piece is fused into the run before it when it starts before that run ends: our offsets
    have no leading space, so this happens only when both pieces come from the same original
    character. The run keeps its first piece's start and word-start flag (the run begins where
    that piece does) and the union of the spans. Its probabilities follow the strategy's own
    rule for the pieces of a word, one level down, since an expanded character is the smallest
    part of a word:

    - ``none`` / ``simple`` / ``first``: the first piece's. A B-/I- tag says where an entity
      begins, and the run begins with its first piece; the later pieces read as the inside of
      a word and would only add I- tags. For ``first`` a word's label stays its first
      piece's, as in the pipeline.
    - ``max``: the most confident piece's (the first of equals), so the word's most confident
      token is the pipeline's.
    - ``average``: the mean of the pieces'. A word's average then counts the character once,
      not once per piece: ``…`` does not outvote the letters beside it three to one.
    """
    out: list[dict] = []
    run: list[dict] = []
    end = 0
    for p in pre:
        if run and p["start"] < end:
            run.append(p)
            end = max(end, p["end"])
            continue
        if run:
            out.append(_fused(run, strategy))
        run, end = [p], p["end"]
    if run:
        out.append(_fused(run, strategy))
    return out


def _fused(run: list[dict], strategy: str) -> dict:
    if len(run) == 1:
        return run[0]
    if strategy == "max":
        scores = max(run, key=lambda p: p["scores"].max())["scores"]
    elif strategy == "average":
        scores = np.nanmean(np.stack([p["scores"] for p in run]), axis=0)
    else:
        scores = run[0]["scores"]
    return {"scores": scores, "start": run[0]["start"], "end": max(p["end"] for p in run),
            "is_subword": run[0]["is_subword"]}


def _check_aggregation(value: str) -> str:
    value = str(value).lower()
    if value not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got {value!r}")
    return value


def _softmax32(logits: np.ndarray) -> np.ndarray:
    if logits.size == 0:
        return logits
    return softmax(logits).astype(np.float32)


def _token_entity(pre: dict, labels: tuple[str, ...]) -> dict:
    idx = int(pre["scores"].argmax())
    return {"entity": labels[idx], "score": float(pre["scores"][idx]),
            "start": pre["start"], "end": pre["end"]}


def _aggregate_words(pre: list[dict], strategy: str, labels: tuple[str, ...]) -> list[dict]:
    words: list[dict] = []
    group: list[dict] = []
    for p in pre:
        if group and not p["is_subword"]:
            words.append(_aggregate_word(group, strategy, labels))
            group = []
        group.append(p)
    if group:
        words.append(_aggregate_word(group, strategy, labels))
    return words


def _aggregate_word(group: list[dict], strategy: str, labels: tuple[str, ...]) -> dict:
    if strategy == "first":
        scores = group[0]["scores"]
        idx = int(scores.argmax())
        score = scores[idx]
    elif strategy == "max":
        best = max(group, key=lambda p: p["scores"].max())
        idx = int(best["scores"].argmax())
        score = best["scores"][idx]
    else:  # average
        avg = np.nanmean(np.stack([p["scores"] for p in group]), axis=0)
        idx = int(avg.argmax())
        score = avg[idx]
    return {"entity": labels[idx], "score": float(score), "start": group[0]["start"],
            "end": group[-1]["end"]}


def _tag(label: str) -> tuple[str, str]:
    # transformers' get_tag, which decides grouping: only B-/I- prefixes count there (an E-/S-
    # tag is a type of its own), unlike `entity_type`, the type a person is shown.
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def _group_entities(tokens: list[dict]) -> list[dict]:
    groups: list[dict] = []
    run: list[dict] = []
    for t in tokens:
        if run:
            bi, tag = _tag(t["entity"])
            _, last_tag = _tag(run[-1]["entity"])
            if tag == last_tag and bi != "B":
                run.append(t)
                continue
            groups.append(_group(run))
        run = [t]
    if run:
        groups.append(_group(run))
    return groups


def _group(run: list[dict]) -> dict:
    return {
        "entity": run[0]["entity"].split("-", 1)[-1],
        "score": _mean_ignoring_nan([t["score"] for t in run]),
        "start": run[0]["start"],
        "end": run[-1]["end"],
    }


def _mean_ignoring_nan(values: list[float]) -> float:
    # What the pipeline's np.nanmean gives, without numpy's per-call cost: a document can
    # have thousands of entities.
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan
