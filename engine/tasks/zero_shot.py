"""Zero-shot classification into the user's own labels with an NLI (MNLI-trained) checkpoint.

As transformers 4.57's zero-shot-classification pipeline: each label becomes a hypothesis
(the template with its one ``{}`` replaced by the label), the text is the premise, and each pair is read as
``[CLS] premise [SEP] hypothesis [SEP]`` (type ids 1 from the hypothesis on; only the premise
is ever shortened, "only_first"). Scores:

- single-label (default): softmax of the entailment logits across the labels (they sum to 1);
- ``multi_label=True``, or a single label: per label, softmax over [contradiction, entailment],
  the entailment share.

The entailment index is the label of ``id2label`` starting with "entail" (case-insensitive), the
contradiction index the one starting with "contra" (a model without one: index 0, or the last
when entailment is 0, as transformers). A checkpoint that only says LABEL_0… is refused with a
message: the catalog installs its checkpoints with their recorded label mapping.

A text that fits one window (the model's maximum length less the longest hypothesis) is read
whole, exactly as the pipeline reads it. A longer text is scored from its paragraphs (a
paragraph too long for a window: runs of its whole sentences, as sentiment chunks), each
unit's scores weighted by its number of tokens. ``paragraphs=True`` (default) also returns
each paragraph's own scores (`Classification.parts`), each paragraph read as the pipeline
would read its text alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.albert.tokenizer import TokenSpans
from engine.errors import UnsupportedModelError
from engine.tasks._common import (
    Cancel,
    Progress,
    ReadOptions,
    TaskPipeline,
    check_cancel,
    fold_text,
    softmax,
)
from engine.tasks.explain import check_fits, without, word_spans, word_tokens
from engine.tasks.results import Attribution, Classification, ClassifiedPart
from engine.tasks.sentences import paragraph_ranges, split_sentences
from engine.tasks.sentiment import _chunks, _sentence_tokens, _weighted

TASK = "zero-shot-classification"
DEFAULT_TEMPLATE = "This example is {}."


@dataclass(frozen=True)
class ZeroShotOptions(ReadOptions):
    """``multi_label``: labels scored independently; ``hypothesis_template``: the hypothesis
    each label becomes (with ``{}`` for the label); ``paragraphs``: per-paragraph results;
    ``max_length``: tokens per pair (None: the model's)."""

    multi_label: bool = False
    hypothesis_template: str = DEFAULT_TEMPLATE
    paragraphs: bool = True
    max_length: int | None = None


class ZeroShotClassificationPipeline(TaskPipeline):
    """``zs(text, labels=[...], multi_label=False) -> Classification(labels, scores, parts)``."""

    task = TASK
    options_class = ZeroShotOptions

    def __init__(self, model=None, device: str = "auto", *, backend: str = "onnx",
                 precision: str = "fp32", max_batch_tokens: int = 8192, **options):
        model_dir = self._open(model, device, backend, precision, options)
        limit = self.model.max_length
        self.options = replace(self.options,
                               max_length=min(self.options.max_length or limit, limit))
        self.entailment_id, self.contradiction_id = nli_indices(self.labels, model_dir)
        self.max_batch_tokens = max_batch_tokens

    # --- classification --------------------------------------------------------------------
    def __call__(self, text, labels, *, multi_label: bool | None = None,
                 hypothesis_template: str | None = None, paragraphs: bool | None = None,
                 progress: Progress = None, cancel: Cancel = None) -> Classification:
        opts = self._options(multi_label, hypothesis_template, paragraphs)
        labels = parse_labels(labels)
        hyps = self._hypotheses(labels, opts)
        reading = self._read(text, cancel, opts)
        body = self._room(hyps)
        tok, text = self.tokenizer, reading.text
        ids, _, offsets = tok.tokenize_with_offsets(text)
        whole = TokenSpans.of(ids, offsets)
        fits = len(ids) <= body
        ranges = (reading.paragraphs or paragraph_ranges(text)) if ids else []
        want_parts = opts.paragraphs and bool(ranges)
        # Units: token runs read as premises; each part is one or more units.
        units: list[TokenSpans] = [whole] if fits else []
        part_units: list[list[int]] = []
        if want_parts or not fits:
            for a, b in ranges:
                p_ids, _, p_off = tok.tokenize_with_offsets(text[a:b])
                if not p_ids:
                    part_units.append([])
                    continue
                if len(p_ids) <= body:
                    pieces = [TokenSpans(p_ids, [a + s for s, _ in p_off],
                                         [a + e for _, e in p_off])]
                else:
                    sentences = split_sentences(text, [(a, b)])
                    pieces = _chunks(_sentence_tokens(tok, text, sentences), body)
                part_units.append(list(range(len(units), len(units) + len(pieces))))
                units.extend(pieces)
        check_cancel(cancel)
        scores = self._unit_scores([u.ids for u in units], hyps, opts.multi_label, progress,
                                   cancel)
        counts = [len(u.ids) for u in units]
        if fits:
            doc = scores[0]
        else:
            every = [i for group in part_units for i in group]
            doc = _weighted([scores[i] for i in every], [counts[i] for i in every])
        parts = []
        if want_parts:
            for (a, b), group in zip(ranges, part_units):
                if not group:
                    continue
                s = _weighted([scores[i] for i in group], [counts[i] for i in group])
                order = _order(s)
                parts.append(ClassifiedPart(a, b, reading.span(a, b),
                                            [labels[i] for i in order],
                                            [float(s[i]) for i in order]))
        order = _order(doc)
        return Classification([labels[i] for i in order], [float(doc[i]) for i in order],
                              opts.multi_label, parts)

    # --- explanation -----------------------------------------------------------------------
    def explain(self, text, labels, label: str | None = None, *,
                multi_label: bool | None = None, hypothesis_template: str | None = None,
                progress: Progress = None, cancel: Cancel = None) -> list[Attribution]:
        """One `Attribution` per word of `text` (runs of non-space characters): the score of
        `label` (default: the top label) on the full text minus its score when that word's
        tokens are deleted from the premise's input ids. Everything else stays: [CLS], the
        other words' tokens, [SEP] and the hypotheses; every label's pair is re-read, so in
        single-label mode a word also counts through what it does to the other labels. The
        text must fit one window (`InputTooLongError` otherwise: explain a paragraph)."""
        opts = self._options(multi_label, hypothesis_template, None)
        labels = parse_labels(labels)
        hyps = self._hypotheses(labels, opts)
        reading = self._read(text, cancel, opts)
        ids, _, offsets = self.tokenizer.tokenize_with_offsets(reading.text)
        check_fits(len(ids), self._room(hyps))
        words = word_spans(reading.text)
        groups = word_tokens(words, [s for s, _ in offsets], [e for _, e in offsets])
        variants = [list(ids)] + [without(ids, g) for g in groups if g]
        scores = self._unit_scores(variants, hyps, opts.multi_label, progress, cancel)
        k = _order(scores[0])[0] if label is None else _label_index(labels, label)
        full = float(scores[0][k])
        out, v = [], 1
        for (a, b), g in zip(words, groups):
            weight = 0.0
            if g:
                weight = full - float(scores[v][k])
                v += 1
            out.append(Attribution(a, b, reading.span(a, b), weight))
        return out

    # --- the model -------------------------------------------------------------------------
    def pair_logits(self, pairs: list[tuple[list[int], list[int]]], progress: Progress = None,
                    cancel: Cancel = None) -> np.ndarray:
        """Logits (n, num_labels) of (premise ids, hypothesis ids) pairs, each read as
        ``[CLS] premise [SEP] hypothesis [SEP]``, the premise cut to fit ("only_first")."""
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        width = self.options.max_length
        seqs = []
        for premise, hyp in pairs:
            premise = list(premise)[:max(0, width - len(hyp) - 3)]
            first = [cls, *premise, sep]
            seqs.append(_Pair([*first, *hyp, sep], [0] * len(first) + [1] * (len(hyp) + 1)))
        if not seqs:
            return np.zeros((0, len(self.labels)))
        outs = self.model.run_sequences(seqs, outputs=["logits"],
                                        max_batch_tokens=self.max_batch_tokens,
                                        progress=progress, cancel=cancel)
        return np.stack([np.asarray(o["logits"], dtype=np.float64).reshape(-1) for o in outs])

    def _unit_scores(self, premises: list, hyps: list[list[int]], multi: bool,
                     progress: Progress, cancel: Cancel) -> list[np.ndarray]:
        pairs = [(p, h) for p in premises for h in hyps]
        logits = self.pair_logits(pairs, progress, cancel).reshape(len(premises), len(hyps), -1)
        return [self.scores(x, multi) for x in logits]

    def scores(self, logits: np.ndarray, multi_label: bool) -> np.ndarray:
        """Each label's score from its pair's logits (n_labels, num_model_labels)."""
        logits = np.asarray(logits, dtype=np.float64)
        if multi_label or logits.shape[0] == 1:
            pair = logits[:, [self.contradiction_id, self.entailment_id]]
            return softmax(pair, axis=-1)[:, 1]
        return softmax(logits[:, self.entailment_id])

    def _options(self, multi_label, hypothesis_template, paragraphs) -> ZeroShotOptions:
        changes = {k: v for k, v in (("multi_label", multi_label),
                                     ("hypothesis_template", hypothesis_template),
                                     ("paragraphs", paragraphs)) if v is not None}
        return self._call_options(changes) if changes else self.options

    def _hypotheses(self, labels: list[str], opts: ZeroShotOptions) -> list[list[int]]:
        template = opts.hypothesis_template
        # One literal {} and no other braces: the same hypotheses as transformers' format() on
        # every such template, and a template is never a format string (no "{0.__class__}",
        # no "{:>999999999}").
        if template.count("{}") != 1 or template.replace("{}", "").count("{") \
                or template.replace("{}", "").count("}"):
            raise ValueError(
                f"The hypothesis template {template!r} needs exactly one {{}} for the label and "
                "no other braces: write it like \"This example is {}.\"")
        out = []
        for label in labels:
            hyp = template.replace("{}", label)
            if opts.fold_lookalikes:
                hyp = fold_text(hyp).text
            out.append(list(self.tokenizer.tokenize_with_offsets(hyp)[0]))
        return out

    def _room(self, hyps: list[list[int]]) -> int:
        """Premise tokens one window holds next to the longest hypothesis."""
        room = self.options.max_length - 3 - max(len(h) for h in hyps)
        if room <= 0:
            raise ValueError(
                f"The hypotheses are too long for the model ({self.options.max_length} tokens "
                "per pair): shorten the labels or the template.")
        return room


@dataclass(frozen=True)
class _Pair:
    ids: list[int]
    type_ids: list[int]


def parse_labels(labels) -> list[str]:
    """The labels as a list: a string is split at commas (as transformers); blanks dropped.
    No labels, or one label twice, is a ValueError."""
    if isinstance(labels, str):
        labels = labels.split(",")
    out = [str(x).strip() for x in (labels or [])]
    out = [x for x in out if x]
    if not out:
        raise ValueError("Give at least one label to classify into (e.g. \"invoice, contract\").")
    seen = set()
    for x in out:
        if x in seen:
            raise ValueError(f"The label {x!r} is given twice; give each label once.")
        seen.add(x)
    return out


def nli_indices(labels: tuple[str, ...], model_dir=None) -> tuple[int, int]:
    """(entailment, contradiction) indices from the model's labels (id2label in id order)."""
    lower = [str(x).lower() for x in labels]
    entail = next((i for i, x in enumerate(lower) if x.startswith("entail")), None)
    if entail is None:
        where = f"The model in {model_dir}" if model_dir is not None else "This model"
        raise UnsupportedModelError(
            f"{where} does not say which of its labels means entailment (its labels: "
            f"{', '.join(labels)}); zero-shot classification needs an NLI model. Install one "
            "from the catalog (albert-lens models list --catalog), which records each "
            "checkpoint's label mapping, or name the labels in its config.json's id2label.")
    contra = next((i for i, x in enumerate(lower) if x.startswith("contra")), None)
    if contra is None:
        contra = len(labels) - 1 if entail == 0 else 0
    return entail, contra


def _label_index(labels: list[str], label: str) -> int:
    try:
        return labels.index(str(label).strip())
    except ValueError:
        raise ValueError(f"{label!r} is not one of the labels: {', '.join(labels)}") from None


def _order(scores: np.ndarray) -> list[int]:
    """Indices by score, highest first (ties: as numpy's argsort reversed, as transformers)."""
    return [int(i) for i in reversed(np.asarray(scores).argsort())]


# --- a model's sanity check ---------------------------------------------------------------------
# Pairs whose answer no NLI model worth using gets wrong: (premise, hypothesis, entails).
SANITY_PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("A man is playing a guitar on stage.", "A man is playing music.", True),
    ("A man is playing a guitar on stage.", "Nobody is playing an instrument.", False),
    ("The cat is asleep on the sofa.", "An animal is resting.", True),
    ("The cat is asleep on the sofa.", "The cat is running in the garden.", False),
    ("She bought three apples and two pears.", "She bought some fruit.", True),
    ("The shop was closed all day on Monday.", "The shop was open all day on Monday.", False),
)


@dataclass(frozen=True)
class SanityCheck:
    """`ok`: the entailment and contradiction indices look right (at least `needed` of the
    obvious pairs come out the right way round); `message` says so for a person."""

    ok: bool
    right: int
    total: int
    needed: int
    message: str


def check_nli_model(pipe: ZeroShotClassificationPipeline, needed: int = 5) -> SanityCheck:
    """Run `SANITY_PAIRS` through the model: an entailing pair must score entailment above
    contradiction and a contradicting pair the reverse. A model whose labels are swapped (or
    that is no NLI model) gets most of them wrong."""
    tok = pipe.tokenizer
    pairs = [(tok.tokenize_with_offsets(p)[0], tok.tokenize_with_offsets(h)[0])
             for p, h, _ in SANITY_PAIRS]
    logits = pipe.pair_logits(pairs)
    right = sum(
        int((row[pipe.entailment_id] > row[pipe.contradiction_id]) == entails)
        for row, (_, _, entails) in zip(logits, SANITY_PAIRS)
    )
    total = len(SANITY_PAIRS)
    ok = right >= needed
    labels = pipe.labels
    message = (
        f"{pipe.model_name}: {right} of {total} obvious premise/hypothesis pairs right; "
        + (f"entailment is label {pipe.entailment_id} ({labels[pipe.entailment_id]})."
           if ok else
           f"its labels look wrong (entailment = {labels[pipe.entailment_id]}, contradiction "
           f"= {labels[pipe.contradiction_id]}), so it is not used for classification.")
    )
    return SanityCheck(ok, right, total, needed, message)
