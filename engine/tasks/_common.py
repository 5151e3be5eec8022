"""What every task shares: model resolution, loading, spans, progress and cancel."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.albert.config import read_json_object
from engine.errors import Cancelled, ModelError
from engine.tasks.registry import task_spec

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None

def resolve_model_dir(task: str, model) -> Path:
    """A folder for `model` (a folder or an installed id), or the store's default for the task."""
    if model is None:
        from engine.models.store import default_model_dir

        return Path(default_model_dir(task_spec(task).name))
    from engine.runtime.loaded_model import resolve_model_dir as resolve

    return resolve(model)


def model_name(model_dir: Path) -> str:
    """A name for people: the catalog id of an installed model, else the folder name."""
    meta = Path(model_dir) / "albert-lens.json"
    if meta.is_file():
        try:
            data = read_json_object(meta)
            if isinstance(data.get("id"), str):
                return data["id"]
        except ModelError:
            pass
    return Path(model_dir).name


@dataclass
class TaskModel:
    """A tokenizer and a network loaded together for one task."""

    model_dir: Path
    tokenizer: Any
    model: Any

    @property
    def name(self) -> str:
        return model_name(self.model_dir)

    def describe(self) -> str:
        return self.model.describe()


class TaskPipeline:
    """What every pipeline shares: the model in use, where it runs, the constructor's preamble
    (`_open`) and its options. A subclass names its `task` (a registry name) and its
    `options_class` (a frozen dataclass: keyword options build it, calls may change fields)."""

    task = ""
    options_class: type = object
    options: Any
    loaded: TaskModel
    tokenizer: Any
    model: Any
    labels: tuple[str, ...] = ()

    def _open(self, model, device: str, backend: str, precision: str,
              options: dict[str, Any]) -> Path:
        """Build the options (a TypeError names an unknown one, before anything is loaded),
        resolve the model (a folder, an installed id, or the store's default), load it with
        the head the task needs (`task_spec(task).head`) and read its labels once."""
        self.options = make_options(self.options_class, self.task, **options)
        model_dir = resolve_model_dir(self.task, model)
        self.loaded = load_task_model(model_dir, device, self.task, backend, precision)
        self.tokenizer = self.loaded.tokenizer
        self.model = self.loaded.model
        if task_spec(self.task).head in LABELLED_HEADS:
            self.labels = model_labels(self.model)
        return model_dir

    def _call_options(self, options: dict[str, Any]):
        """This call's options: the pipeline's with `options` changed."""
        return make_options(self.options_class, self.task, self.options, **options)

    def _read(self, source, cancel: Cancel, options=None) -> Reading:
        """A call's text (a str or a Document) as the model reads it, once it is not cancelled:
        look-alike words folded unless the call's `options` (else the pipeline's) say
        `fold_lookalikes=False`."""
        text, paragraphs = text_and_paragraphs(source)
        check_cancel(cancel)
        fold = (self.options if options is None else options).fold_lookalikes
        return read_text(text, paragraphs, fold)

    @property
    def model_name(self) -> str:
        return self.loaded.name

    @property
    def model_dir(self) -> Path:
        return self.loaded.model_dir

    @property
    def device(self):
        """The `DeviceChoice` in use (`.describe()`, `.is_gpu`, `.fallback_reason`)."""
        return self.loaded.model.device

    def describe(self) -> str:
        return f"{self.model_name} on {self.device.describe()}"


# Heads whose outputs are scores over the checkpoint's labels.
LABELLED_HEADS = ("token", "sequence")


def load_task_model(model_dir: Path, device: str, task: str, backend: str = "onnx",
                    precision: str = "fp32") -> TaskModel:
    """Tokenizer and network of `model_dir` for `task`; UnsupportedModelError when the
    checkpoint's head is not the one the task needs. Any checkpoint serves as an encoder."""
    import engine
    from engine.errors import UnsupportedModelError

    spec = task_spec(task)
    tokenizer = engine.load_tokenizer(model_dir)
    model = engine.load_model(model_dir, device=device, backend=backend, precision=precision,
                              head="encoder" if spec.head == "encoder" else "auto")
    if model.head != spec.head:
        raise UnsupportedModelError(
            f"The model in {model_dir} has a '{model.head}' head; the {spec.name} task "
            f"needs a '{spec.head}' head. Choose a {spec.name} model (for example "
            f"{spec.suggested_model})."
        )
    return TaskModel(Path(model_dir), tokenizer, model)


def model_labels(model) -> tuple[str, ...]:
    """The checkpoint's `id2label` in id order (LABEL_i where it names none)."""
    return tuple(model.id2label.get(i, f"LABEL_{i}") for i in range(model.config.num_labels))


def make_options(cls, task: str, base=None, **options):
    """`cls(**options)` (or `base` with `options` changed): a frozen options dataclass, with a
    TypeError naming any option the task does not have."""
    known = {f.name for f in fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown {task} option(s): {', '.join(sorted(unknown))} "
                        f"(options: {', '.join(sorted(known))})")
    return cls(**options) if base is None else replace(base, **options)


# --- text ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOptions:
    """What every task's options share (each task's options dataclass extends it).

    ``fold_lookalikes``: the model reads words written with look-alike letters of other scripts
    ("AᏞBERT") as the words they spell (`engine.lookalikes`); spans keep the original's text."""

    fold_lookalikes: bool = True


@dataclass(frozen=True)
class Reading:
    """A call's text: `text` is what the model reads (look-alikes folded, one code point for
    one, so every offset on it is an offset into `original`), `original` what spans' texts are
    cut from; `paragraphs` index both."""

    text: str
    original: str
    paragraphs: list[tuple[int, int]] | None

    def span(self, start: int, end: int) -> str:
        return self.original[start:end]


def read_text(text: str, paragraphs: list[tuple[int, int]] | None = None,
              fold: bool = True) -> Reading:
    return Reading(fold_text(text).text if fold else text, text, paragraphs)


def text_and_paragraphs(source) -> tuple[str, list[tuple[int, int]] | None]:
    """A str, or anything with `.text` (a Document), and its paragraph ranges when it has them."""
    if isinstance(source, str):
        return source, None
    text = getattr(source, "text", None)
    if not isinstance(text, str):
        raise TypeError(f"expected a str or a Document, not {type(source).__name__}")
    paragraphs = getattr(source, "paragraphs", None)
    ranges = [(int(p.start), int(p.end)) for p in paragraphs] if paragraphs else None
    return text, ranges


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without surrounding whitespace (may become empty)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class LRU(OrderedDict):
    """A tiny least-recently-used cache, safe to share between worker threads."""

    def __init__(self, size: int = 8):
        super().__init__()
        self.size = size
        self._lock = threading.Lock()

    def get_or(self, key, make: Callable[[], Any]):
        with self._lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = make()  # outside the lock: two threads may build the same value, never wait
        with self._lock:
            if key in self:
                return self[key]
            self[key] = value
            while len(self) > self.size:
                self.popitem(last=False)
        return value


_FOLDED = LRU(4)


def fold_text(text: str):
    """`engine.lookalikes.fold_lookalikes(text)`, cached per text: the tasks of one document
    (and every question about it) fold it once."""
    from engine.lookalikes import fold_lookalikes

    if len(text) < 2048:  # cheaper to fold again than to hash and keep
        return fold_lookalikes(text)
    return _FOLDED.get_or(text_key(text), lambda: fold_lookalikes(text))


# --- progress and cancel -------------------------------------------------------------------------
def check_cancel(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("The analysis was cancelled.")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def logsumexp(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    m = float(x.max())
    if not np.isfinite(m):
        return m
    return m + float(np.log(np.exp(x - m).sum()))
