"""Results of the analysis tasks: plain dataclasses with character offsets into the text.

Every span satisfies `text == document_text[start:end]` and carries no surrounding whitespace,
so the app can highlight anything without knowing about tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from engine.tasks.labels import entity_type, polarity


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """An answer to a question. `no_answer` is True when the model says the text has none
    (SQuAD 2.0 models); then `text` is "" and `start == end == 0`.

    `context_start:context_end` is the sentence (or sentences) around the answer, by the
    engine's sentence splitter; it always contains `start:end`; 0, 0 for a no-answer."""

    text: str
    start: int
    end: int
    score: float
    no_answer: bool = False
    context_start: int = 0
    context_end: int = 0


def entity_key(text: str, folded: bool = False) -> str:
    """What mentions of one entity share: the text with look-alike letters folded
    (`engine.lookalikes`; skipped when `folded` says it is already), case folded and white
    space collapsed, so "ALBERT", "AᏞBERT" and "Αlbert" are one entity."""
    if not folded:
        from engine.lookalikes import fold_lookalikes

        text = fold_lookalikes(text).text
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Entity:
    """`label` is the model's ("B-PER" with aggregation "none", else "PER"); `type` is the
    entity type without a B-/I-/E-/S- prefix ("PER"), worked out from the label when not given;
    `key` groups the mentions of one entity (`entity_key`), worked out from `text` when not
    given."""

    label: str
    start: int
    end: int
    text: str
    score: float
    type: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if not self.type:
            object.__setattr__(self, "type", entity_type(self.label))
        if not self.key:
            object.__setattr__(self, "key", entity_key(self.text))


class _Polarity:
    """Fills in `polarity` from the labels when a result is made without one."""

    def __post_init__(self) -> None:
        if self.polarity is None:
            object.__setattr__(self, "polarity",
                               float(polarity(self.label, self.score, self.scores)))


@dataclass(frozen=True)
class SentenceSentiment(_Polarity):
    """One sentence's label and probabilities; `polarity` as `Sentiment.polarity`."""

    start: int
    end: int
    text: str
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    polarity: float | None = None


@dataclass(frozen=True)
class Sentiment(_Polarity):
    """The document's label and probabilities; `sentences` drive the app's sentiment view.

    `polarity` is -1 (negative) … +1 (positive) whatever the model's labels are called
    (`engine.tasks.labels.polarity`), worked out from the labels when not given."""

    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    sentences: list[SentenceSentiment] = field(default_factory=list)
    polarity: float | None = None


@dataclass(frozen=True)
class Summary:
    """Extractive summary: sentences in document order."""

    sentences: list[Span] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class ClassifiedPart:
    """One paragraph of a classified text: its span and its own labels and scores (sorted by
    score, as `Classification`)."""

    start: int
    end: int
    text: str
    labels: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else ""


@dataclass(frozen=True)
class Classification:
    """Zero-shot classification: the user's labels sorted by score, highest first.

    Single-label: the scores sum to 1 over the labels; `multi_label`: each label's score is on
    its own (entailment against contradiction). `parts`: one per paragraph of the text."""

    labels: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    multi_label: bool = False
    parts: list[ClassifiedPart] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else ""

    def score(self, label: str) -> float:
        return self.scores[self.labels.index(label)]


@dataclass(frozen=True)
class Attribution:
    """How much one word (a sentence, for question answering) moves a verdict: the label's
    probability on the full input minus that probability with this span removed. Positive:
    the span supports the label; negative: it argues against it."""

    start: int
    end: int
    text: str
    weight: float


def to_dict(result) -> dict:
    """JSON-ready form of any result (lists of results too)."""
    if isinstance(result, list):
        return [to_dict(r) for r in result]  # type: ignore[return-value]
    return asdict(result)
