"""Results of the analysis tasks: plain dataclasses with character offsets into the text.

Every span satisfies `text == document_text[start:end]` and carries no surrounding whitespace,
so the app can highlight anything without knowing about tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """An answer to a question. `no_answer` is True when the model says the text has none
    (SQuAD 2.0 models); then `text` is "" and `start == end == 0`."""

    text: str
    start: int
    end: int
    score: float
    no_answer: bool = False


@dataclass(frozen=True)
class Entity:
    label: str
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class SentenceSentiment:
    start: int
    end: int
    text: str
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Sentiment:
    """The document's label and probabilities; `sentences` drive the app's sentiment view."""

    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    sentences: list[SentenceSentiment] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    """Extractive summary: sentences in document order."""

    sentences: list[Span] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


def to_dict(result) -> dict:
    """JSON-ready form of any result (lists of results too)."""
    if isinstance(result, list):
        return [to_dict(r) for r in result]  # type: ignore[return-value]
    return asdict(result)
