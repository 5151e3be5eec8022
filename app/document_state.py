"""One open document's state, without Qt: the document, each task's results and state, and
what is worked out from them (entity groups, hidden types, which mention is shown).

Views subscribe to it and redraw when told which task changed, in the spirit of napari's models
and views: the state knows nothing of its views, so exports and tests use it without a window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.tasks import registry

if TYPE_CHECKING:
    from engine.documents import Document
    from engine.tasks.results import Answer, Classification, Entity, Sentiment, Summary

# What a task's panel shows while nothing is listed.
IDLE, RUNNING, DONE, FAILED, CANCELLED, NO_MODEL = (
    "idle", "running", "done", "failed", "cancelled", "no-model")

EntityGroup = tuple  # (type, name, mentions sorted by start): one per (type, Entity.key)
Listener = Callable[[str], None]


@dataclass
class TaskState:
    state: str = IDLE
    message: str = ""
    job: object = None


@dataclass
class QuestionResult:
    question: str
    answers: list[Answer] = field(default_factory=list)
    answered: bool = False  # the model ran; until then "no answer" would be a false claim

    @property
    def no_answer(self) -> bool:
        return not self.answers or self.answers[0].no_answer


def answer_context(answer: Answer) -> tuple[int, int]:
    """The sentence(s) around an answer as the engine found them; the answer itself when the
    result carries none."""
    if answer.context_end > answer.context_start:
        return min(answer.context_start, answer.start), max(answer.context_end, answer.end)
    return answer.start, answer.end


def group_entities(entities: list[Entity]) -> list[EntityGroup]:
    """(type, name, mentions) per entity, most mentioned first. Mentions group by the engine's
    `Entity.key` (look-alike letters folded, case folded), so "ALBERT" and "AᏞBERT" are one
    entity; its name is its most common plain-ASCII spelling, else its first."""
    groups: dict[tuple[str, str], list[Entity]] = defaultdict(list)
    for e in entities:
        groups[(e.type, e.key or e.text)].append(e)
    named = []
    for (kind, _key), mentions in groups.items():
        mentions = sorted(mentions, key=lambda m: m.start)
        named.append((kind, entity_name(mentions), mentions))
    named.sort(key=lambda g: (-len(g[2]), g[1].lower(), g[0]))
    return named


def entity_name(mentions: list[Entity]) -> str:
    """The spelling an entity is listed under: the most common plain-ASCII one (the first of
    equals in document order), else the first mention's."""
    plain = Counter(m.text for m in mentions if m.text.isascii())
    return plain.most_common(1)[0][0] if plain else mentions[0].text


class DocumentState:
    """The results of every analysis run on one document, and each task's state.

    Setting a result does not notify by itself: a result lands as its task turns DONE, and that
    change (`set_task_state`) is the one notification, so a view redraws once per result.
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        self.tasks: dict[str, TaskState] = {name: TaskState() for name in registry.TASK_NAMES}
        self.entities: list[Entity] | None = None
        self.entity_groups: list[EntityGroup] | None = None
        self.hidden_types: set[str] = set()
        self.mention_cursor: dict[tuple[str, str], int] = {}
        self.questions: list[QuestionResult] = []
        self.current_question: QuestionResult | None = None
        self.summary: Summary | None = None
        self.sentiment: Sentiment | None = None
        self.classification: Classification | None = None
        self.classification_labels: list[str] = []  # as typed: each label keeps its colour
        self._listeners: list[Listener] = []

    # --- views -----------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(task)` whenever a task's results or state change; returns the
        function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def notify(self, task: str) -> None:
        for listener in list(self._listeners):
            listener(task)

    # --- task states -----------------------------------------------------------------------------
    def set_task_state(self, task: str, state: str, message: str = "",
                       job: object = None) -> None:
        self.tasks[task] = TaskState(state, message, job)
        self.notify(task)

    def state(self, task: str) -> str:
        return self.tasks[task].state

    # --- results ---------------------------------------------------------------------------------
    def set_entities(self, entities: list[Entity],
                     groups: list[EntityGroup] | None = None) -> None:
        """The entities in document order; `groups` when already worked out (off the UI thread)."""
        self.entities = entities
        self.entity_groups = groups
        self.mention_cursor.clear()

    def groups(self) -> list[EntityGroup]:
        """The entities grouped by (type, Entity.key), worked out once per result."""
        if not self.entities:
            return []
        if self.entity_groups is None:
            self.entity_groups = group_entities(self.entities)
        return self.entity_groups

    def set_type_hidden(self, kind: str, hidden: bool) -> None:
        (self.hidden_types.add if hidden else self.hidden_types.discard)(kind)

    def add_answers(self, entry: QuestionResult, answers: list[Answer]) -> None:
        """The model's answers to `entry`: it moves to the top of the questions asked."""
        entry.answers = answers
        entry.answered = True
        self.questions = [q for q in self.questions if q.question != entry.question]
        self.questions.insert(0, entry)

    def shown_answer(self) -> Answer | None:
        """The best answer to the current question, None when there is none."""
        entry = self.current_question
        if entry is None or not entry.answers or entry.answers[0].no_answer:
            return None
        return entry.answers[0]

    def page_of(self, offset: int) -> int | None:
        return self.document.page_of(offset) if self.document.pages else None
