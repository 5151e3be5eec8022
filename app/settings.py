"""User settings that persist across runs, in an INI file under the engine's config folder.

Lists are stored as JSON strings: QSettings hands a one-element list back as a bare string, and
an INI file written on one platform must read the same on another.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from engine import DEVICE_CHOICES, paths
from engine.tasks import registry

PRECISIONS = ("fp32", "int8")
THEMES = ("system", "light", "dark")
# The app's order of the tasks (panels and Ctrl+1…5, the model manager, the start page): what a
# reader does first, not the registry's run order. Everything else about a task is the registry's.
TASK_ORDER = ("ner", "question-answering", "summarization", "sentiment", "zero-shot-classification")
# Every kind of model the store holds, those of the app's tasks first (a kind whose task has
# no panel yet is still listed by the model manager).
MODEL_KIND_ORDER = tuple(dict.fromkeys([*(registry.model_kind(t).name for t in TASK_ORDER),
                                        *registry.MODEL_KIND_NAMES]))
DEFAULT_FONT_SIZE = 12
MIN_FONT_SIZE, MAX_FONT_SIZE = 8, 32
MAX_RECENT = 10
MAX_QUESTIONS = 30
MAX_LABEL_SETS = 20


def task_name(task: str) -> str:
    """A task as people are shown it ("Entities")."""
    return registry.task_spec(task).display_name


def model_kind_name(kind: str) -> str:
    """A kind of model as people are shown it: the tasks it serves ("embeddings": "Summary")."""
    return " / ".join(spec.display_name for spec in registry.tasks_using(kind))


def settings_path() -> Path:
    return paths.config_dir() / "albert-lens.ini"


class _Choice:
    """A setting that is one of `choices`: anything else in the file reads as `default`, and
    setting anything else is a ValueError."""

    def __init__(self, key: str, choices: tuple[str, ...], default: str) -> None:
        self.key, self.choices, self.default = key, choices, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, settings: Settings | None, owner: type | None = None):
        if settings is None:
            return self
        return settings._choice(self.key, self.choices, self.default)

    def __set__(self, settings: Settings, value: str) -> None:
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}")
        settings._q.setValue(self.key, value)


class _Flag:
    """An on/off setting."""

    def __init__(self, key: str, default: bool) -> None:
        self.key, self.default = key, default

    def __get__(self, settings: Settings | None, owner: type | None = None):
        if settings is None:
            return self
        return settings._flag(self.key, self.default)

    def __set__(self, settings: Settings, value: bool) -> None:
        settings._q.setValue(self.key, bool(value))


class Settings:
    """Typed accessors over one QSettings file; every setter writes through."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._q = QSettings(str(self.path), QSettings.Format.IniFormat)

    # --- plain values ----------------------------------------------------------------------------
    def _choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = str(self._q.value(key, default))
        return value if value in choices else default

    def _flag(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    device = _Choice("engine/device", DEVICE_CHOICES, "auto")
    precision = _Choice("engine/precision", PRECISIONS, "fp32")
    # engine.pipeline(fold_lookalikes=): the models read "AᏞBERT" as "ALBERT".
    fold_lookalikes = _Flag("engine/fold_lookalikes", True)
    theme = _Choice("view/theme", THEMES, "system")
    sentiment_tint = _Flag("view/sentiment_tint", False)
    classify_tint = _Flag("view/classify_tint", True)
    multi_label = _Flag("classify/multi_label", False)
    welcome_dismissed = _Flag("start/welcome_dismissed", False)

    @property
    def font_size(self) -> int:
        try:
            size = int(self._q.value("view/font_size", DEFAULT_FONT_SIZE))
        except (TypeError, ValueError):
            return DEFAULT_FONT_SIZE
        return min(max(size, MIN_FONT_SIZE), MAX_FONT_SIZE)

    @font_size.setter
    def font_size(self, value: int) -> None:
        self._q.setValue("view/font_size", min(max(int(value), MIN_FONT_SIZE), MAX_FONT_SIZE))

    @property
    def summary_length(self) -> tuple[str, int]:
        """("sentences", n) or ("percent", p)."""
        mode = self._choice("summary/mode", ("sentences", "percent"), "sentences")
        try:
            value = int(self._q.value("summary/value", 3 if mode == "sentences" else 20))
        except (TypeError, ValueError):
            value = 3 if mode == "sentences" else 20
        return mode, max(1, min(value, 100 if mode == "percent" else 200))

    @summary_length.setter
    def summary_length(self, value: tuple[str, int]) -> None:
        mode, amount = value
        self._q.setValue("summary/mode", mode)
        self._q.setValue("summary/value", int(amount))

    # --- lists -----------------------------------------------------------------------------------
    def _list(self, key: str) -> list[str]:
        raw = self._q.value(key, "[]")
        try:
            value = json.loads(raw) if isinstance(raw, str) else []
        except ValueError:
            return []
        return [str(v) for v in value] if isinstance(value, list) else []

    def _set_list(self, key: str, values: list[str]) -> None:
        self._q.setValue(key, json.dumps(list(values)))

    @property
    def recent_files(self) -> list[str]:
        return self._list("files/recent")

    def add_recent_file(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        files = [p for p in self.recent_files if p != path]
        self._set_list("files/recent", [path, *files][:MAX_RECENT])

    def remove_recent_file(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        self._set_list("files/recent", [p for p in self.recent_files if p != path])

    def clear_recent_files(self) -> None:
        self._set_list("files/recent", [])

    @property
    def questions(self) -> list[str]:
        return self._list("ask/history")

    def add_question(self, question: str) -> None:
        question = question.strip()
        if question:
            rest = [q for q in self.questions if q != question]
            self._set_list("ask/history", [question, *rest][:MAX_QUESTIONS])

    @property
    def label_sets(self) -> list[str]:
        """Label sets used before, newest first, each as typed ("invoice, contract")."""
        return self._list("classify/label_sets")

    def add_label_set(self, labels: list[str]) -> None:
        if labels:
            text = ", ".join(labels)
            rest = [x for x in self.label_sets if x != text]
            self._set_list("classify/label_sets", [text, *rest][:MAX_LABEL_SETS])

    def remove_label_set(self, text: str) -> None:
        self._set_list("classify/label_sets", [x for x in self.label_sets if x != text])

    # --- models ----------------------------------------------------------------------------------
    def model_for(self, task: str) -> str | None:
        """The model folder or catalog id chosen for `task`; None lets the engine pick."""
        value = self._q.value(f"models/{task}", "")
        return str(value) if value else None

    def set_model_for(self, task: str, model: str | Path | None) -> None:
        if task not in registry.TASK_NAMES:
            raise ValueError(f"task must be one of {registry.TASK_NAMES}")
        if model:
            self._q.setValue(f"models/{task}", str(model))
        else:
            self._q.remove(f"models/{task}")

    # --- window ----------------------------------------------------------------------------------
    def window_state(self, key: str) -> QByteArray | None:
        value = self._q.value(f"window/{key}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, key: str, value: QByteArray) -> None:
        self._q.setValue(f"window/{key}", value)

    def sync(self) -> None:
        self._q.sync()
