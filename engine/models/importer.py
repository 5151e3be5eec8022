"""Check a checkpoint folder and copy it into the store (`albert-lens models import DIR --task T`).

The checks here are also what a download must pass before it is installed: an ALBERT config, the
head the task needs (any head will do for embeddings, the encoder is inside every one), the
sentencepiece tokenizer, weights that read back with the shapes the config promises, and nothing
that would run code: no `auto_map` (transformers' `trust_remote_code`), no Python files, no pickle
naming anything but tensors (the restricted unpickler of engine.albert.torch_pickle).

Everything is checked on the source folder before a byte is copied into the store (config sizes
within what ALBERT uses, the graph the conversion would build, the weights' size and shapes); the
copy and the conversion then happen in a temporary folder, and only a model that converted is
renamed into place. Any failure removes the temporary folder: nothing half-checked is installed.

A pickle checkpoint (pytorch_model.bin, sharded or not) is installed as one model.safetensors
holding the tensors the check read, under their checkpoint names: its pickle is read exactly once,
and the store records (and the graph cache keys on) the safetensors file.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine import paths
from engine.albert.config import AlbertConfig, read_json_object
from engine.albert.weights import (
    SAFETENSORS,
    SAFETENSORS_INDEX,
    TORCH_BIN,
    TORCH_BIN_INDEX,
    albert_weights,
    check_weight_files,
    detect_head,
    read_state_dict,
    shard_names,  # noqa: F401  (the shard index is read by engine.albert.weights; re-exported)
    weight_files,
)
from engine.errors import (
    CorruptModelFileError,
    ModelError,
    ModelExistsError,
    ModelFileUnreadableError,
    ModelNotFoundError,
    StoreError,
    UnsafeModelFileError,
    UnsupportedModelError,
)
from engine.models import store
from engine.models.catalog import canonical_task, catalog_entry
from engine.sizes import format_size
from engine.tasks.registry import model_kind, model_kind_for_head

CONFIG = "config.json"
SPIECE = "spiece.model"
# Small files worth keeping beside the weights: tokenizer settings, sentence-transformers layout.
OPTIONAL_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)
POOLING_CONFIG = re.compile(r"^\d+_Pooling/config\.json$")
# Keys of config.json / tokenizer_config.json that make transformers import code from the repo.
CODE_KEYS = ("auto_map", "trust_remote_code", "custom_pipelines")
_HF_CACHE_SNAPSHOT = re.compile(r"models--(?P<repo>[^/\\]+)[/\\]snapshots[/\\](?P<sha>[0-9a-f]{40})$")


@dataclass(frozen=True)
class CheckedModel:
    """A folder that passed `check_model_folder`."""

    folder: Path
    config: AlbertConfig
    head: str  # the head the checkpoint carries
    task: str
    # The tensors, when the weights are pickles: written once as model.safetensors, so the
    # installed model never has its pickle read again.
    pickled: dict | None = field(default=None, repr=False, compare=False)


def wanted_files(available: Iterable[str]) -> list[str]:
    """The files of a checkpoint that Albert Lens needs, picked from the names `available`.

    Weights: model.safetensors, else pytorch_model.bin (or their shard index: the shards it
    names are added by the caller once the index is read).
    """
    names = set(available)
    if CONFIG not in names:
        raise ModelNotFoundError(
            "The model has no config.json: it is not a Hugging Face checkpoint.")
    if SPIECE not in names:
        raise UnsupportedModelError(
            "The model has no spiece.model: Albert Lens needs ALBERT's sentencepiece tokenizer "
            "file next to the weights.")
    for candidate in (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX):
        if candidate in names:
            weights = candidate
            break
    else:
        raise ModelNotFoundError(
            f"The model has no weights Albert Lens can read ({SAFETENSORS} or {TORCH_BIN}).")
    files = [CONFIG, weights, SPIECE]
    files += [n for n in OPTIONAL_FILES if n in names]
    files += sorted(n for n in names if POOLING_CONFIG.match(n))
    return files


def check_no_code(raw: dict, source: str) -> None:
    """Refuse a config that asks transformers to import code shipped with the model."""
    found = [key for key in CODE_KEYS if raw.get(key)]
    if found:
        raise UnsafeModelFileError(
            f"{source} asks to run code shipped with the model ({', '.join(found)}). Albert Lens "
            "never runs code from a model; use a checkpoint of the standard ALBERT architecture."
        )


def check_config(folder: Path, task: str | None) -> tuple[AlbertConfig, str | None]:
    """The config (ALBERT, no remote code) and the task it is checked against.

    Returns the task: the one given, else the one its declared head implies (None if it declares
    none). Raises when the declared head does not fit the task.
    """
    folder = Path(folder)
    config = AlbertConfig.from_pretrained(folder)
    check_no_code(config.raw, str(folder / CONFIG))
    tok_config = folder / "tokenizer_config.json"
    if tok_config.is_file():
        check_no_code(read_json_object(tok_config), str(tok_config))
    head = config.default_head()
    if task is None:
        return config, _kind_of(config, head) if head is not None else None
    task = canonical_task(task)
    if head is not None:
        _check_head(head, task, folder)
    return config, task


def _check_head(head: str, task: str, folder: Path) -> None:
    needed = model_kind(task).head
    if task != "embeddings" and head != needed:
        raise UnsupportedModelError(
            f"{folder} holds a checkpoint with {model_kind_for_head(head).head_description}; "
            f"a {task} model needs {model_kind(task).head_description}."
        )


def check_model_folder(folder, task: str | None = None) -> CheckedModel:
    """Everything that must hold before a folder is installed; raises a typed error otherwise."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelNotFoundError(f"{folder} is not a folder.")
    python = sorted(p.name for p in folder.glob("*.py"))
    if python:
        raise UnsafeModelFileError(
            f"{folder} contains Python code ({', '.join(python[:3])}). Albert Lens never runs "
            "code from a model folder; remove it or use a standard ALBERT checkpoint."
        )
    names = [p.name for p in folder.iterdir() if p.is_file()]
    names += [p.relative_to(folder).as_posix() for p in folder.glob("*_Pooling/config.json")]
    wanted_files(names)  # config, tokenizer and weights present
    config, task = check_config(folder, task)  # sizes and the conversion's cost are bounded here
    _check_readable(folder, _files_to_copy(folder))
    _check_tokenizer(folder / SPIECE, config)
    weights = weight_files(folder)
    check_weight_files(weights, config)  # far too large for the config: refused unread
    try:
        tensors = read_state_dict(folder, config)  # pickles go through the restricted unpickler
    except MemoryError as exc:
        raise ModelError(f"Not enough memory to read the weights of {folder}.") from exc
    head = detect_head(config, tensors)
    if task is None:
        task = _kind_of(config, head)
    _check_head(head, task, folder)
    if head in ("token", "sequence") and len(config.id2label) == 1:
        raise UnsupportedModelError(
            f"{folder} holds a regression head (one output); a {task} model needs labels.")
    albert_weights(config, tensors, head)  # every tensor present with the config's shapes
    pickled = None if weights[0].suffix == ".safetensors" else dict(tensors)
    return CheckedModel(folder=folder, config=config, head=head, task=task, pickled=pickled)


def _check_readable(folder: Path, names: list[str]) -> None:
    """Every file to be copied opens and reads (a permission error is named as one)."""
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise ModelFileUnreadableError(f"cannot read {path}: {reason}.") from exc


def detect_task(model_dir) -> str | None:
    """The model task a checkpoint folder is for, from its config's `architectures`.

    "question-answering", "ner", "sentiment" or "embeddings" (the names of
    `engine.models.TASKS`, which `import_model` takes); None when the config names no ALBERT
    class or the folder cannot be read (importing it then says what is wrong).
    AlbertModel, AlbertForMaskedLM and AlbertForPreTraining are plain encoders: "embeddings".
    """
    try:
        config = AlbertConfig.from_pretrained(Path(model_dir).expanduser())
    except (ModelError, OSError):
        return None
    head = config.default_head()
    return _kind_of(config, head) if head is not None else None


def _kind_of(config: AlbertConfig, head: str) -> str:
    """The kind of model a head makes: a sequence head whose labels name entailment and
    contradiction is an NLI model (one that says only LABEL_0… is taken for sentiment unless
    imported with --task nli)."""
    names = [str(v).lower() for v in config.id2label.values()]
    if head == "sequence" and any(n.startswith("entail") for n in names) and any(
            n.startswith("contra") for n in names):
        return "nli"
    return model_kind_for_head(head).name


def _check_tokenizer(path: Path, config: AlbertConfig) -> None:
    import sentencepiece as spm

    try:
        size = spm.SentencePieceProcessor(model_file=str(path)).get_piece_size()
    except (OSError, RuntimeError, ValueError) as exc:
        raise CorruptModelFileError(f"{path} is not a sentencepiece model: {exc}") from exc
    if size > config.vocab_size:
        raise CorruptModelFileError(
            f"{path} has {size} pieces but the model's vocabulary has {config.vocab_size}: the "
            "tokenizer does not belong to these weights."
        )


def _files_to_copy(folder: Path) -> list[str]:
    names = [p.name for p in folder.iterdir() if p.is_file()]
    names += [p.relative_to(folder).as_posix() for p in folder.glob("*_Pooling/config.json")]
    files = wanted_files(names)
    if files[1] in (SAFETENSORS_INDEX, TORCH_BIN_INDEX):
        files[2:2] = [p.name for p in weight_files(folder)]
    return files


def _guess_identity(folder: Path) -> tuple[str, str | None]:
    """An id for an imported folder; a Hugging Face cache snapshot keeps its repo id and commit."""
    match = _HF_CACHE_SNAPSHOT.search(str(folder.resolve()))
    if match:
        return match.group("repo").replace("--", "/", 1), match.group("sha")
    return folder.resolve().name, None


def import_model(folder, task: str | None = None, model_id: str | None = None,
                 convert: bool = True, replace: bool = False) -> store.InstalledModel:
    """Check a checkpoint folder and copy what is needed of it into the store.

    `task` defaults to what the config's architectures say (`detect_task`). `model_id` defaults
    to the folder's name (or, for a Hugging Face cache snapshot, its repo id); an id already
    installed raises `ModelExistsError` unless `replace`, which swaps the new model in at once.
    Catalog label maps apply to imports of catalog models too. With `convert`, the ONNX graph is
    built and cached before the model is installed, so the first analysis does not wait for it
    and a model that cannot be converted is never installed.
    """
    folder = Path(folder).expanduser()
    if task is None:
        task = detect_task(folder)
        if task is None:
            if not folder.is_dir():
                raise ModelNotFoundError(f"{folder} is not a folder.")
            raise UnsupportedModelError(
                f"Cannot tell what {folder} is for: its config.json names no ALBERT model class "
                "in 'architectures'. Say which task it is for (--task).")
    task = canonical_task(task)
    guessed_id, revision = _guess_identity(folder)
    model_id = (model_id or guessed_id).strip()
    if not model_id:
        raise ValueError("The model id must not be empty.")
    if not replace:
        existing = store.get_installed(model_id)
        if existing is not None and existing.id.lower() == model_id.lower():
            raise ModelExistsError(store.already_installed_message(existing), existing.id)
    checked = check_model_folder(folder, task)
    files = _files_to_copy(folder)
    if checked.pickled is not None:  # installed as model.safetensors instead
        files = [n for n in files if n not in pickle_files(folder)]
    total = sum((folder / n).stat().st_size for n in files)
    total += sum(v.nbytes for v in (checked.pickled or {}).values())
    root = store.ensure_store()
    free = shutil.disk_usage(root).free
    if total > free:
        raise ModelError(_no_space_message(root, total, free))
    tmp = store.new_temp_dir()
    try:
        try:
            for name in files:
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
                raise ModelError(_no_space_message(root, total, None)) from exc
            raise StoreError(paths.unusable_message(root, exc)) from exc
        if checked.pickled is not None:
            write_safetensors(tmp, checked.pickled)
        entry = catalog_entry(model_id)
        label_map = entry.label_map if entry is not None else {}
        original = store.apply_label_map(tmp, label_map)
        if convert:
            convert_folder(tmp, task, checked.head)
        model = store.install_folder(
            tmp, model_id=model_id, task=task, head=checked.head, source="import",
            revision=revision, origin=str(folder.resolve()),
            label_map=label_map if original is not None else {}, original_id2label=original,
            replace=replace,
        )
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return model


def pickle_files(folder: Path) -> list[str]:
    """The names of a folder's pickled weights (pytorch_model.bin, or its index and shards)."""
    folder = Path(folder)
    if (folder / SAFETENSORS).is_file() or (folder / SAFETENSORS_INDEX).is_file():
        return []
    names = [TORCH_BIN_INDEX] if (folder / TORCH_BIN_INDEX).is_file() else []
    return names + [p.name for p in weight_files(folder)]


def write_safetensors(folder: Path, tensors: dict) -> Path:
    """`folder/model.safetensors` holding `tensors` under their checkpoint names, written to a
    temporary file that is renamed into place (a failure leaves no half-written weights)."""
    from safetensors.numpy import save_file

    target = Path(folder) / SAFETENSORS
    part = target.with_name(f".{SAFETENSORS}.part")
    needed = sum(v.nbytes for v in tensors.values())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise ModelError(_no_space_message(Path(folder), needed, free))
    try:
        # "pt": what transformers asks of a safetensors file it loads.
        save_file(tensors, str(part), metadata={"format": "pt"})
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, target)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise ModelError(_no_space_message(Path(folder), needed, None)) from exc
        raise StoreError(paths.unusable_message(Path(folder), exc)) from exc
    except Exception as exc:  # safetensors reports its write errors as SafetensorError
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{target} cannot be written ({detail}).") from exc
    finally:
        part.unlink(missing_ok=True)
    return target


def convert_folder(folder: Path, task: str, head: str) -> Path:
    """Build and cache the fp32 graph of a checked folder; typed errors for disk and memory."""
    from engine.runtime.onnx_backend import converted_graph

    config = AlbertConfig.from_pretrained(folder)  # bounds the graph's size again
    head = "encoder" if canonical_task(task) == "embeddings" else head
    cache = paths.graph_cache_dir()
    existing = next((p for p in (cache, *cache.parents) if p.exists()), None)
    if existing is not None and existing.is_dir():
        free = shutil.disk_usage(existing).free
        if config.graph_bytes() > free:
            raise ModelError(_no_space_message(cache, config.graph_bytes(), free))
    try:
        return converted_graph(Path(folder), config, head, "fp32")
    except MemoryError as exc:
        raise ModelError(
            f"Not enough memory to convert {folder} (its graph takes about "
            f"{format_size(config.graph_bytes())}). Close other programs and try again."
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise ModelError(_no_space_message(cache, config.graph_bytes(), None)) from exc
        raise StoreError(
            f"The converted graph cannot be written: {paths.unusable_message(cache, exc)}"
        ) from exc


def _no_space_message(root: Path, needed: int, free: int | None) -> str:
    have = f" ({format_size(free)} free)" if free is not None else ""
    return (f"Not enough disk space in {root}: the model needs about {format_size(needed)}"
            f"{have}. Free some space, or set ALBERT_LENS_HOME to a folder on a larger disk.")
