"""Fakes and helpers for the app tests: small pipeline objects that honour the engine's contract
(spans in code points, progress, cancel), so the UI can be tested without loading a model.

Each fake implements its task's protocol in engine/tasks/protocol.py with the real pipeline's
call signature (tests/test_app_protocols.py compares them)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest

from engine.errors import Cancelled, CorruptModelFileError, ModelNotFoundError
from engine.tasks.results import (
    Answer,
    Attribution,
    Classification,
    Entity,
    SentenceSentiment,
    Sentiment,
    Span,
    Summary,
)

SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def as_text(source) -> str:
    """Pipelines take a str or a Document, as engine.pipeline's do."""
    return source if isinstance(source, str) else source.text


def sentence_ranges(text: str) -> list[tuple[int, int]]:
    out = []
    for m in SENTENCE.finditer(text):
        a, b = m.span()
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


@dataclass
class FakeDevice:
    provider: str = "CPUExecutionProvider"
    fallback_reason: str | None = "no GPU provider found"
    is_gpu: bool = False

    def describe(self) -> str:
        return f"CPU ({self.fallback_reason})" if self.fallback_reason else "CPU"


class FakePipeline:
    """What every pipeline tells about itself (engine.tasks.protocol.Pipeline)."""

    model_name = "fake"

    def __init__(self) -> None:
        self.device = FakeDevice()


class FakeNER(FakePipeline):
    model_name = "fake-ner"

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__()
        self.names = names
        self.calls = 0

    def __call__(self, text, *, aggregation=None, progress=None, cancel=None):
        text = as_text(text)
        self.calls += 1
        found = []
        for name, label in self.names.items():
            for m in re.finditer(re.escape(name), text):
                found.append(Entity(label, m.start(), m.end(), name, 0.9))
        if progress:
            progress(1, 1)
        return sorted(found, key=lambda e: e.start)


class FakeQA(FakePipeline):
    model_name = "fake-qa"

    def __init__(self, answers: dict[str, list[str]]) -> None:
        super().__init__()
        self.answers = answers

    def __call__(self, question, context, *, progress=None, cancel=None, **options):
        top_k = options.get("top_k", 1)
        context = as_text(context)
        texts = self.answers.get(question)
        if not texts:
            return [Answer("", 0, 0, 0.8, no_answer=True)]
        out = []
        for i, t in enumerate(texts[:top_k]):
            start = context.index(t)
            # As the engine's: each answer carries the sentence around it.
            around = next((a, b) for a, b in sentence_ranges(context) if a <= start < b)
            out.append(Answer(t, start, start + len(t), 0.9 - 0.2 * i, context_start=around[0],
                              context_end=max(around[1], start + len(t))))
        return out


class FakeSentiment(FakePipeline):
    model_name = "fake-sentiment"

    def __call__(self, text, *, sentences=None, document=None, progress=None, cancel=None):
        text = as_text(text)
        items = []
        for a, b in sentence_ranges(text):
            s = text[a:b]
            pos = 0.9 if ("good" in s or "great" in s) else 0.1 if "bad" in s else 0.5
            label = "positive" if pos >= 0.5 else "negative"
            items.append(SentenceSentiment(a, b, s, label, max(pos, 1 - pos),
                                           {"negative": 1 - pos, "positive": pos}))
        mean = sum(i.scores["positive"] for i in items) / max(1, len(items))
        label = "positive" if mean >= 0.5 else "negative"
        return Sentiment(label, max(mean, 1 - mean),
                         {"negative": 1 - mean, "positive": mean}, items)


class FakeSummarizer(FakePipeline):
    model_name = "fake-summary"

    def __init__(self) -> None:
        super().__init__()
        self.options: dict = {}

    def __call__(self, text, *, progress=None, cancel=None, **options):
        max_sentences, ratio = options.get("max_sentences"), options.get("ratio")
        self.options = {"max_sentences": max_sentences, "ratio": ratio}
        text = as_text(text)
        spans = sentence_ranges(text)
        n = max_sentences if max_sentences else max(1, round(len(spans) * (ratio or 0.2)))
        chosen = spans[1::2][:n] or spans[:n]
        return Summary([Span(a, b, text[a:b], 1.0) for a, b in sorted(chosen)])


class SlowPipeline(FakePipeline):
    """Works for `seconds` in small steps, reporting progress and honouring cancel; stands in
    for any task's pipeline, so its call takes what any of them takes."""

    model_name = "slow"

    def __init__(self, seconds: float = 3.0, busy: bool = True, then=None) -> None:
        super().__init__()
        self.seconds = seconds
        self.busy = busy
        self.then = then  # the pipeline whose result it returns in the end
        self.started = False

    def __call__(self, *args, progress=None, cancel=None, **_options):
        self.started = True
        steps = 60
        for i in range(steps):
            if cancel is not None and cancel():
                raise Cancelled("The analysis was cancelled.")
            end = time.perf_counter() + self.seconds / steps
            if self.busy:
                # Pure Python holds the GIL in slices: the worst case for the UI thread.
                while time.perf_counter() < end:
                    sum(range(2000))
            else:
                time.sleep(self.seconds / steps)
            if progress is not None:
                progress(i + 1, steps)
        return self.then(*args, **_options) if self.then is not None else []


def fake_factory(pipes: dict | None = None, failing: set[str] | None = None,
                 missing: set[str] | None = None):
    """A pipeline factory for MainWindow(pipeline_factory=...)."""
    pipes = pipes or {}
    failing = failing or set()
    missing = missing or set()
    defaults = {
        "ner": lambda: FakeNER({"Marie Curie": "PER", "Warsaw": "LOC", "Paris": "LOC",
                                "Sorbonne": "ORG"}),
        "question-answering": lambda: FakeQA({"Where was she born?": ["Warsaw", "Paris"]}),
        "sentiment": FakeSentiment,
        "summarization": FakeSummarizer,
    }
    made: dict[str, object] = {}

    def factory(task, model, device, precision, fold_lookalikes=True):
        factory.calls.append((task, model, device, precision, fold_lookalikes))
        if task in missing:
            raise ModelNotFoundError(f"No {task} model is installed.")
        if task in failing:
            raise CorruptModelFileError(f"The {task} model's weights are truncated.")
        if task not in made:
            made[task] = pipes[task] if task in pipes else defaults[task]()
        return made[task]

    factory.made = made
    factory.calls = []
    return factory


SAMPLE_TEXT = (
    "😀 𝔘nicode first: Marie Curie was born in Warsaw. She moved to Paris in 1891.\n\n"
    "At the Sorbonne she did great work. Some days were bad. Marie Curie won two Nobel "
    "prizes.\n\n"
    "Warsaw remembers her; so does Paris. It is a good story."
)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A model store, cache and settings of this test's own."""
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def window(qtbot, home):
    """A shown window on the fake pipelines."""
    return make_window(qtbot, fake_factory())


def text_file(folder: Path, text: str = SAMPLE_TEXT, name: str = "curie.txt") -> Path:
    """`text` written to `folder/name` (made if missing)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


def wait_idle(qtbot, window, timeout: int = 10000) -> None:
    """Until no job runs (documents opened, analyses finished)."""
    qtbot.waitUntil(lambda: not window.jobs.is_busy(), timeout=timeout)


def open_document(qtbot, window, path, timeout: int = 10000):
    """Open `path` in `window` and wait for its tab and its entity run to settle."""
    window.open_path(path)
    qtbot.waitUntil(lambda: any(str(s.document.path) == str(Path(path).absolute())
                                for s in window.sessions), timeout=timeout)
    wait_idle(qtbot, window, timeout)
    return window.current_session()


def message_boxes(window):
    from PySide6.QtWidgets import QMessageBox

    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


class EventLoopGaps:
    """Times between ticks of a 10 ms QTimer on the UI thread, while `with` is open."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def __enter__(self) -> Self:
        self._last = time.perf_counter()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.stop()

    @property
    def longest(self) -> float:
        return max(self.gaps)


def make_window(qtbot, factory=None, settings=None, size: tuple[int, int] | None = None):
    """A shown MainWindow that qtbot closes after the test (real engine when factory is None)."""
    from app.main_window import MainWindow
    from app.settings import Settings

    kwargs = {} if factory is None else {"pipeline_factory": factory}
    w = MainWindow(settings if settings is not None else Settings(), **kwargs)
    qtbot.addWidget(w)
    if size is not None:
        w.resize(*size)
    w.show()
    return w


class FakeClassifier(FakePipeline):
    """Zero-shot: a label scores high where the text names it."""

    model_name = "fake-nli"

    def __call__(self, text, labels, *, multi_label=None, hypothesis_template=None,
                 paragraphs=None, progress=None, cancel=None):
        text = as_text(text).lower()
        labels = [x.strip() for x in (labels.split(",") if isinstance(labels, str) else labels)]
        raw = [2.0 if x.lower() in text else 1.0 for x in labels]
        scores = [r / sum(raw) for r in raw]
        ranked = sorted(zip(scores, labels), reverse=True)
        return Classification([x for _, x in ranked], [s for s, _ in ranked], bool(multi_label))

    def explain(self, text, labels, label=None, *, multi_label=None, hypothesis_template=None,
                progress=None, cancel=None):
        text = as_text(text)
        return [Attribution(m.start(), m.end(), m.group(), 0.0) for m in re.finditer(r"\S+", text)]


# The fake of each task's pipeline, for tests/test_app_protocols.py.
FAKE_PIPELINES = {"ner": FakeNER, "question-answering": FakeQA, "sentiment": FakeSentiment,
                  "summarization": FakeSummarizer, "zero-shot-classification": FakeClassifier}


@pytest.fixture
def themed(qtbot, home):
    """themed("dark") applies a theme to the application; the old look is put back after."""
    from PySide6.QtWidgets import QApplication

    from app.theme import apply_theme

    app = QApplication.instance()
    saved = (app.palette(), app.styleSheet(), app.style().name())
    yield lambda name: apply_theme(app, name)
    app.setStyle(saved[2])
    app.setPalette(saved[0])
    app.setStyleSheet(saved[1])
