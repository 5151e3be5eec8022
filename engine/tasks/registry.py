"""The one description of every analysis task and every kind of model the store holds.

The CLI, the catalog, the store, the downloader, the importer, the report and the app all read
these tables; adding a task is adding one `TaskSpec` here and its pipeline module. This module
imports nothing heavy, so anything may import it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class ModelKind:
    """A kind of model the store holds, and the network head a checkpoint of it must carry."""

    name: str
    head: str
    head_description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """One analysis task: what it is called, what model it needs, how people are shown it."""

    name: str              # the pipeline's name: engine.pipeline(name)
    short: str             # the CLI's --task value, its key under the results JSON's "tasks"
    result_key: str        # where its results live in the results JSON
    aliases: tuple[str, ...]
    model_kind: str        # a ModelKind.name
    suggested_model: str   # a catalog id to offer when no model is installed
    display_name: str      # a tab, a settings row
    verb: str              # what the status bar says while it runs
    model_role: str        # "No <role> model is installed"
    pipeline: str          # "module:Class"

    @property
    def head(self) -> str:
        return model_kind(self.model_kind).head

    def pipeline_class(self) -> type:
        module, _, name = self.pipeline.partition(":")
        return getattr(import_module(module), name)


MODEL_KINDS: tuple[ModelKind, ...] = (
    ModelKind("question-answering", "qa",
              "a question-answering head (AlbertForQuestionAnswering)", ("qa",)),
    ModelKind("ner", "token",
              "a token-classification head (AlbertForTokenClassification)",
              ("entities", "token-classification")),
    ModelKind("sentiment", "sequence",
              "a sequence-classification head (AlbertForSequenceClassification)",
              ("text-classification", "sentiment-analysis")),
    # Any checkpoint serves as an encoder: the head, if any, is left unused.
    ModelKind("embeddings", "encoder", "no task head (AlbertModel)",
              ("sentence-embeddings", "summary", "summarization", "retrieval")),
    # A sequence head too, told apart from sentiment by id2label naming entailment and
    # contradiction (engine.models.importer.detect_task).
    ModelKind("nli", "sequence",
              "a sequence-classification head trained on natural-language inference "
              "(AlbertForSequenceClassification with entailment / neutral / contradiction "
              "labels)", ("mnli", "natural-language-inference")),
)

# In the order `analyze --task all` runs them and the app shows them.
TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="ner", short="ner", result_key="entities",
        aliases=("entities", "token-classification"),
        model_kind="ner", suggested_model="ArBert/albert-base-v2-finetuned-ner",
        display_name="Entities", verb="Finding entities", model_role="entity",
        pipeline="engine.tasks.ner:TokenClassificationPipeline",
    ),
    TaskSpec(
        name="sentiment", short="sentiment", result_key="sentiment",
        aliases=("text-classification", "sentiment-analysis"),
        model_kind="sentiment", suggested_model="textattack/albert-base-v2-SST-2",
        display_name="Sentiment", verb="Reading the sentiment", model_role="sentiment",
        pipeline="engine.tasks.sentiment:TextClassificationPipeline",
    ),
    TaskSpec(
        name="summarization", short="summary", result_key="summary",
        aliases=("summary",),
        model_kind="embeddings", suggested_model="sentence-transformers/paraphrase-albert-small-v2",
        display_name="Summary", verb="Summarizing", model_role="summary (sentence embedding)",
        pipeline="engine.tasks.summarization:SummarizationPipeline",
    ),
    TaskSpec(
        name="question-answering", short="qa", result_key="questions",
        aliases=("qa",),
        model_kind="question-answering", suggested_model="twmkn9/albert-base-v2-squad2",
        display_name="Questions", verb="Looking for the answer", model_role="question-answering",
        pipeline="engine.tasks.qa:QuestionAnsweringPipeline",
    ),
    TaskSpec(
        name="zero-shot-classification", short="classify", result_key="classification",
        aliases=("zero-shot", "classify", "classification", "nli"),
        model_kind="nli", suggested_model="Alireza1044/albert-base-v2-mnli",
        display_name="Classify", verb="Sorting into your labels", model_role="classification (NLI)",
        pipeline="engine.tasks.zero_shot:ZeroShotClassificationPipeline",
    ),
)

TASK_NAMES = tuple(spec.name for spec in TASKS)
MODEL_KIND_NAMES = tuple(kind.name for kind in MODEL_KINDS)


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


_TASK_BY_NAME = {alias: spec for spec in TASKS for alias in (spec.name, spec.short, *spec.aliases)}
_KIND_BY_NAME = {alias: kind for kind in MODEL_KINDS for alias in (kind.name, *kind.aliases)}


def task_spec(name: str) -> TaskSpec:
    """The task behind any of its names ("qa" -> question-answering); ValueError if unknown."""
    spec = _TASK_BY_NAME.get(_key(name))
    if spec is None:
        known = ", ".join(f"{s.name} ({s.short})" if s.short != s.name else s.name for s in TASKS)
        raise ValueError(f"Unknown task {name!r}. Tasks: {known}.")
    return spec


def model_kind(name: str) -> ModelKind:
    """The kind of model a task or model-kind name needs ("summary" -> embeddings)."""
    kind = _KIND_BY_NAME.get(_key(name))
    if kind is None:
        spec = _TASK_BY_NAME.get(_key(name))
        if spec is not None:
            return model_kind(spec.model_kind)
        raise ValueError(
            f"Unknown task {name!r}. Known tasks: {', '.join(MODEL_KIND_NAMES)} "
            "(summarization and retrieval use embeddings models)."
        )
    return kind


def model_kind_for_head(head: str) -> ModelKind:
    for kind in MODEL_KINDS:
        if kind.head == head:
            return kind
    raise ValueError(f"No kind of model has the head {head!r}.")


def tasks_using(kind: str) -> tuple[TaskSpec, ...]:
    """The tasks that run on a kind of model (embeddings: the summary, later retrieval)."""
    wanted = model_kind(kind).name
    return tuple(spec for spec in TASKS if spec.model_kind == wanted)


def all_names() -> tuple[str, ...]:
    """Every name a task or a model kind goes by, for command-line choices."""
    return tuple(sorted(set(_TASK_BY_NAME) | set(_KIND_BY_NAME)))
