"""Albert Lens engine: documents in, analyses out. Never imports Qt.

The public contract (see docs/architecture.md) lives here. Heavy modules are imported lazily so that
`import engine` stays cheap for the CLI and the app's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import AlbertLensError

__version__ = "0.1.0"

# The devices people choose between; engine.runtime.providers accepts a provider's name too.
DEVICE_CHOICES = ("auto", "gpu", "cpu")

if TYPE_CHECKING:  # pragma: no cover
    from engine.albert.tokenizer import AlbertTokenizer
    from engine.documents import Document
    from engine.runtime.loaded_model import LoadedModel


def load_tokenizer(model_dir) -> AlbertTokenizer:
    """The checkpoint's sentencepiece tokenizer, with exact character offsets."""
    from engine.albert.tokenizer import AlbertTokenizer

    return AlbertTokenizer.from_pretrained(model_dir)


def load_model(
    model_dir,
    device: str = "auto",
    backend: str = "onnx",
    precision: str = "fp32",
    head: str = "auto",
) -> LoadedModel:
    """A callable ALBERT network: numpy arrays in, dict of numpy arrays (HF output names) out."""
    from engine.runtime.loaded_model import load_model as _load

    return _load(model_dir, device=device, backend=backend, precision=precision, head=head)


def load_document(path, **options: Any) -> Document:
    """Read a .txt/.md/.html/.pdf/.docx/.epub file into one Document with character ranges."""
    from engine.documents import load_document as _load

    return _load(path, **options)


def pipeline(task: str, model=None, device: str = "auto", **options: Any):
    """A task runner: "question-answering", "ner", "sentiment" or "summarization"."""
    from engine.tasks import pipeline as _pipeline

    return _pipeline(task, model=model, device=device, **options)


def split_sentences(text: str, paragraphs=None) -> list[tuple[int, int]]:
    """The sentences of `text` as (start, end) code-point ranges, split as every task splits them."""
    from engine.tasks.sentences import split_sentences as _split

    return _split(text, paragraphs)


def find_lookalikes(text: str):
    """The words of `text` written with look-alike letters of other scripts ("AᏞBERT"), each with
    its exact (start, end), what it spells and the scripts it mixes."""
    from engine.lookalikes import find_lookalikes as _find

    return _find(text)


def fold_lookalikes(text: str):
    """`text` with look-alike words replaced by what they spell, at the same positions."""
    from engine.lookalikes import fold_lookalikes as _fold

    return _fold(text)


def open_library(name_or_path=None, device: str = "auto"):
    """Open (or create) a Library: a name (`<data dir>/libraries/<name>.sqlite3`, "default"
    when None) or a path ending in .sqlite3. See engine.library."""
    from engine.library import open_library as _open

    return _open(name_or_path, device=device)


def choose_device(device: str = "auto"):
    """The device the engine would run on for `device`, and why (no model is loaded)."""
    from engine.runtime.providers import choose_provider

    return choose_provider(device)


__all__ = [
    "DEVICE_CHOICES",
    "AlbertLensError",
    "__version__",
    "choose_device",
    "find_lookalikes",
    "fold_lookalikes",
    "load_document",
    "load_model",
    "load_tokenizer",
    "open_library",
    "pipeline",
    "split_sentences",
]
