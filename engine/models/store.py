"""The local model store: one folder per installed model, under `engine.paths.models_dir()`.

Layout::

    <store>/
        twmkn9--albert-base-v2-squad2/     config.json, weights, spiece.model, ... and
            albert-lens.json               our metadata: id, task, source, revision, files + sha256
        store.json                         the user's default model per task
        .downloads/<name>@<commit>/        resumable partial downloads (never looks installed)
        .tmp-<pid>-<random>/               an install being assembled (renamed into place at the end)

A folder is an installed model only when its `albert-lens.json` is complete and every file it
lists is present with the listed size. The metadata is written inside the temporary folder, which
is renamed into place as a whole, so an interrupted install never leaves a half model that looks
installed; leftover temporary folders are ignored and removed once they are old.

Every change of what is installed (install, replace, remove, the defaults) happens under the
store's lock (`.store.lock`, filelock), so concurrent processes never see each other half-way; a
replacement swaps the two folders in one rename where the system can (Linux renameat2).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine import paths
from engine.albert.config import read_json_object
from engine.errors import (
    CorruptModelFileError,
    ModelError,
    ModelExistsError,
    ModelNotFoundError,
    StoreError,
    UnsupportedModelError,
)
from engine.models.catalog import (
    TASKS,
    CatalogEntry,
    canonical_task,
    catalog_entry,
    load_catalog,
    recommended_model,
)
from engine.tasks.registry import tasks_using

METADATA_NAME = "albert-lens.json"
STATE_NAME = "store.json"
TEMP_PREFIX = ".tmp-"
DOWNLOADS_NAME = ".downloads"
LOCK_NAME = ".store.lock"
# Changes under the lock take milliseconds; this long a wait means a stuck process.
LOCK_TIMEOUT_SECONDS = 60.0
METADATA_FORMAT = 1
SOURCES = ("hub", "import")
# A temporary install folder older than this belongs to a process that died: remove it.
STALE_TEMP_SECONDS = 3600
# Partial downloads are kept for resuming; after this long nobody is coming back for them.
STALE_DOWNLOAD_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class InstalledModel:
    """One installed model, as its `albert-lens.json` describes it."""

    id: str
    task: str
    path: Path
    source: str  # "hub" or "import"
    revision: str | None  # the Hub commit sha the files come from; None for imports
    size_bytes: int
    installed_at: str  # ISO 8601, UTC
    head: str
    files: dict[str, dict] = field(default_factory=dict)  # name -> {"size", "sha256"}
    title: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    origin: str | None = None  # the Hub endpoint, or the imported folder

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    @property
    def short_revision(self) -> str:
        return self.revision[:12] if self.revision else "-"

    def to_dict(self) -> dict:
        return {
            "id": self.id, "task": self.task, "path": str(self.path), "source": self.source,
            "revision": self.revision, "size_bytes": self.size_bytes,
            "installed_at": self.installed_at, "head": self.head, "title": self.title,
            "label_map": dict(self.label_map), "origin": self.origin,
            "files": {k: dict(v) for k, v in self.files.items()},
        }




# --- locations ----------------------------------------------------------------------------------
def store_dir() -> Path:
    return paths.models_dir()


def downloads_dir() -> Path:
    return store_dir() / DOWNLOADS_NAME


def ensure_store() -> Path:
    """The store folder, created if needed; `StoreError` when it cannot be (a file, read-only)."""
    return paths.ensure_dir(store_dir())


_LOCKS: dict[str, object] = {}


@contextlib.contextmanager
def store_lock():
    """Hold the store's lock (re-entrant in one thread) while the installed set changes."""
    from filelock import FileLock, Timeout

    root = ensure_store()
    path = root / LOCK_NAME
    try:
        # Opened here first so a read-only store is reported, not waited on as a held lock.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
    except OSError as exc:
        raise StoreError(paths.unusable_message(root, exc)) from exc
    lock = _LOCKS.get(str(path))
    if lock is None:
        lock = _LOCKS.setdefault(str(path), FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS))
    try:
        lock.acquire()
    except Timeout as exc:
        raise StoreError(
            f"The model store {root} is busy: another Albert Lens process has been changing it "
            f"for over {LOCK_TIMEOUT_SECONDS:.0f} s. Try again when it has finished.") from exc
    except OSError as exc:
        raise StoreError(paths.unusable_message(root, exc)) from exc
    try:
        yield root
    finally:
        lock.release()


def safe_name(model_id: str) -> str:
    """A folder name for a model id: 'owner/name' -> 'owner--name', odd characters -> '_'."""
    name = "--".join(re.sub(r"[^A-Za-z0-9._-]", "_", part) for part in str(model_id).split("/"))
    name = re.sub(r"^[.\s]+", "_", name)  # never '.', '..' or a hidden folder
    return name[:150] or "_"


def _folder_for(model_id: str) -> Path:
    """Where a model with this id lives (or will live)."""
    base = store_dir() / safe_name(model_id)
    existing = read_metadata(base)
    if existing is not None and existing.id.lower() != model_id.lower():
        # Two ids with one folder name (odd characters, a case-insensitive disk): keep both.
        return base.with_name(f"{base.name}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}")
    return base


# --- reading ------------------------------------------------------------------------------------
def read_metadata(folder: Path) -> InstalledModel | None:
    """The installed model in `folder`, or None when its metadata is missing or incomplete."""
    folder = Path(folder)
    try:
        data = read_json_object(folder / METADATA_NAME)
    except ModelError:
        return None
    try:
        if data.get("format") != METADATA_FORMAT or data["source"] not in SOURCES:
            return None
        files = {str(k): dict(v) for k, v in data["files"].items()}
        if "config.json" not in files:
            return None
        for name, info in files.items():
            path = folder / name
            if not path.is_file() or path.stat().st_size != int(info["size"]):
                return None  # a file went missing or changed size: not (or no longer) installed
        return InstalledModel(
            id=str(data["id"]),
            task=canonical_task(data["task"]),
            path=folder,
            source=str(data["source"]),
            revision=data.get("revision"),
            size_bytes=int(data["size"]),
            installed_at=str(data["installed_at"]),
            head=str(data["head"]),
            files=files,
            title=data.get("title"),
            label_map={str(k): str(v) for k, v in (data.get("label_map") or {}).items()},
            origin=data.get("origin"),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OSError):
        return None


def _sort_key(model: InstalledModel):
    entry = catalog_entry(model.id)
    rank = 0 if entry is not None and entry.standard else 1 if entry is not None else 2
    return (TASKS.index(model.task), rank, model.installed_at, model.id.lower())


def list_installed(task: str | None = None) -> list[InstalledModel]:
    """Installed models (by task, catalog standard models first); temp folders are ignored."""
    root = store_dir()
    clean_leftovers()
    wanted = canonical_task(task) if task is not None else None
    models = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    for child in children:
        if child.name.startswith(".") or not child.is_dir():
            continue
        model = read_metadata(child)
        if model is not None and (wanted is None or model.task == wanted):
            models.append(model)
    return sorted(models, key=_sort_key)


def get_installed(id_or_name: str) -> InstalledModel | None:
    """An installed model by its id ('owner/name', any case), folder name, or unique bare name."""
    key = str(id_or_name).strip()
    if not key:
        return None
    models = list_installed()
    lowered = key.lower()
    for model in models:
        if model.id == key:
            return model
    for model in models:
        if model.id.lower() == lowered or model.path.name.lower() == lowered:
            return model
    if "/" not in key:
        named = [m for m in models if m.name.lower() == lowered]
        if len(named) == 1:
            return named[0]
    return None


def installed_model_dir(id_or_name: str) -> Path | None:
    """The folder of an installed model (see `get_installed`), or None."""
    model = get_installed(id_or_name)
    return model.path if model is not None else None


# --- defaults -----------------------------------------------------------------------------------
def _state_path() -> Path:
    return store_dir() / STATE_NAME


def _read_state() -> dict:
    try:
        return read_json_object(_state_path())
    except ModelError:
        return {}  # no choice made yet, or a damaged file: the first installed model is used


def _write_state(state: dict) -> None:
    from engine.runtime.graph_cache import atomic_write_bytes

    try:
        atomic_write_bytes(_state_path(), json.dumps(state, indent=2, sort_keys=True).encode())
    except OSError as exc:
        raise StoreError(paths.unusable_message(store_dir(), exc)) from exc


def defaults() -> dict[str, str]:
    """The user's chosen default model id per model task (as stored; may name a removed model)."""
    raw = _read_state().get("defaults")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def set_default_model(task: str, model_id: str) -> InstalledModel:
    """Make an installed model the default for a task (and its aliases)."""
    wanted = canonical_task(task)
    with store_lock():
        model = get_installed(model_id)
        if model is None:
            raise ModelNotFoundError(
                f"'{model_id}' is not installed, so it cannot be the default {task} model. "
                f"Install it with: albert-lens models download {model_id}"
            )
        if model.task != wanted:
            raise UnsupportedModelError(
                f"{model.id} is a {model.task} model; it cannot be the default {task} model."
            )
        state = _read_state()
        chosen = state.get("defaults") if isinstance(state.get("defaults"), dict) else {}
        chosen[wanted] = model.id
        state["defaults"] = chosen
        state.setdefault("format", 1)
        _write_state(state)
    return model


def _clear_default_for(model_id: str) -> None:
    state = _read_state()
    chosen = state.get("defaults")
    if isinstance(chosen, dict) and model_id in chosen.values():
        state["defaults"] = {k: v for k, v in chosen.items() if v != model_id}
        _write_state(state)


def default_model(task: str) -> InstalledModel:
    """The user's default for a task, else the first installed model of that task."""
    wanted = canonical_task(task)
    installed = list_installed(wanted)
    chosen = defaults().get(wanted)
    if chosen is not None:
        for model in installed:
            if model.id == chosen:
                return model
    if installed:
        return installed[0]
    entry = recommended_model(wanted)
    what = task if task == wanted else f"{task} ({wanted})"
    how = (f"albert-lens models download {entry.id}" if entry is not None
           else f"albert-lens models import DIR --task {wanted}")
    short = tasks_using(wanted)[0].short  # as the CLI takes it
    offline = ("" if entry is None else
               f"; without a connection, import a model folder: albert-lens models import DIR "
               f"--task {short}")
    raise ModelNotFoundError(
        f"No {what} model is installed. Install one with: {how}"
        f"{offline}"
    )


def default_model_dir(task: str) -> Path:
    """The folder of the model `engine.pipeline(task)` uses when given none."""
    return default_model(task).path


# --- removing -----------------------------------------------------------------------------------
def remove(id_or_name: str) -> InstalledModel:
    """Delete an installed model (and any partial download of it)."""
    with store_lock():
        model = get_installed(id_or_name)
        if model is None:
            raise ModelNotFoundError(
                f"No installed model named '{id_or_name}'. See the installed ones with: "
                "albert-lens models list"
            )
        # Renamed away first, so a crash half-way through the delete never leaves a half model.
        doomed = new_temp_dir(create=False)
        try:
            os.replace(model.path, doomed)
        except OSError as exc:
            raise StoreError(
                f"{model.id} cannot be removed: {paths.unusable_message(store_dir(), exc)}"
            ) from exc
        _clear_default_for(model.id)
    shutil.rmtree(doomed, ignore_errors=True)
    discard_partial_downloads(model.id)
    _forget_graphs(model)
    return model


def _forget_graphs(model: InstalledModel) -> None:
    """Delete the removed model's converted graphs (disk it no longer needs), where the cache can."""
    from engine.runtime import graph_cache

    forget = getattr(graph_cache, "forget_model", None)
    if forget is None:
        return
    with contextlib.suppress(OSError, ModelError):
        forget([info.get("sha256") for info in model.files.values()])


# --- installing ---------------------------------------------------------------------------------
def new_temp_dir(create: bool = True) -> Path:
    """A fresh temporary folder inside the store (same disk, so the final rename is atomic)."""
    root = ensure_store()
    clean_leftovers()
    path = root / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    if create:
        try:
            path.mkdir()
        except OSError as exc:
            raise StoreError(paths.unusable_message(root, exc)) from exc
    return path


def clean_leftovers(now: float | None = None) -> None:
    """Remove temporary install folders and partial downloads nobody will come back for."""
    now = time.time() if now is None else now
    root = store_dir()
    stale = []
    with contextlib.suppress(OSError):
        stale += [(p, STALE_TEMP_SECONDS) for p in root.iterdir() if p.name.startswith(TEMP_PREFIX)]
    with contextlib.suppress(OSError):
        stale += [(p, STALE_DOWNLOAD_SECONDS) for p in (root / DOWNLOADS_NAME).iterdir()]
    for path, age in stale:
        with contextlib.suppress(OSError):
            if now - _newest_mtime(path) > age:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()


def _newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    if path.is_dir():
        for child in path.iterdir():
            with contextlib.suppress(OSError):
                newest = max(newest, child.stat().st_mtime)
    return newest


def discard_partial_downloads(model_id: str) -> None:
    """Forget any partial download of this model."""
    base = safe_name(model_id)
    try:
        children = list(downloads_dir().iterdir())
    except OSError:
        return
    for child in children:
        if child.name == base or child.name.startswith(base + "@"):
            shutil.rmtree(child, ignore_errors=True)


def file_sha256(path: Path) -> str:
    # The graph cache's memo: the conversion just before hashed the weights; nothing is added.
    from engine.runtime.graph_cache import file_sha256 as memoised

    return memoised(path, remember=False)


def apply_label_map(folder: Path, label_map: dict[str, str]) -> dict[str, str] | None:
    """Rename labels in `folder/config.json` (id2label and label2id) through `label_map`.

    Returns the original id2label when something changed, else None. A config without id2label
    gets one built from LABEL_<i> keys of the map.
    """
    if not label_map:
        return None
    path = Path(folder) / "config.json"
    data = read_json_object(path)
    original = {str(k): str(v) for k, v in (data.get("id2label") or {}).items()}
    if not original:
        indexed = {}
        for key in label_map:
            match = re.fullmatch(r"LABEL_(\d+)", key)
            if match:
                indexed[match.group(1)] = key
        original = dict(sorted(indexed.items(), key=lambda kv: int(kv[0])))
    renamed = {k: label_map.get(v, v) for k, v in original.items()}
    if renamed == original or not renamed:
        return None
    data["id2label"] = renamed
    data["label2id"] = {v: int(k) for k, v in renamed.items()}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return original


def install_folder(
    tmp_dir: Path,
    *,
    model_id: str,
    task: str,
    head: str,
    source: str,
    revision: str | None,
    origin: str | None,
    known_sha256: dict[str, str] | None = None,
    label_map: dict[str, str] | None = None,
    original_id2label: dict[str, str] | None = None,
    extra: dict | None = None,
    replace: bool = True,
) -> InstalledModel:
    """Write the metadata into `tmp_dir` and rename it into place as the model `model_id`.

    `tmp_dir` must be a folder made by `new_temp_dir()` holding the model's files. An existing
    install of the same id is replaced (`ModelExistsError` instead when `replace` is false); it
    stays installed until the new one is in place.
    """
    tmp_dir = Path(tmp_dir)
    task = canonical_task(task)
    known = dict(known_sha256 or {})
    files = {}
    for path in sorted(p for p in tmp_dir.rglob("*") if p.is_file()):
        name = path.relative_to(tmp_dir).as_posix()
        if name == METADATA_NAME:
            continue
        files[name] = {"size": path.stat().st_size, "sha256": known.get(name) or file_sha256(path)}
    entry = catalog_entry(model_id)
    metadata = {
        "format": METADATA_FORMAT,
        "id": model_id,
        "task": task,
        "head": head,
        "source": source,
        "revision": revision,
        "origin": origin,
        "title": entry.title if entry is not None else None,
        "size": sum(f["size"] for f in files.values()),
        "installed_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "files": files,
        "label_map": dict(label_map or {}),
        "original_id2label": original_id2label,
        **(extra or {}),
    }
    try:
        with open(tmp_dir / METADATA_NAME, "w", encoding="utf-8") as fh:
            json.dump(metadata, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreError(paths.unusable_message(store_dir(), exc)) from exc

    with store_lock():
        final = _folder_for(model_id)
        existing = read_metadata(final)
        if existing is not None and not replace:
            raise ModelExistsError(already_installed_message(existing), existing.id)
        try:
            previous = _move_into_place(tmp_dir, final)
        except OSError as exc:
            raise StoreError(paths.unusable_message(store_dir(), exc)) from exc
        model = read_metadata(final)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    if model is None:  # pragma: no cover - we just wrote it
        raise CorruptModelFileError(f"The model installed in {final} cannot be read back.")
    return model


def already_installed_message(model: InstalledModel) -> str:
    return (f"{model.id} is already installed (in {model.path}). Remove it first, or import "
            "under another id; albert-lens models import takes --replace to replace it.")


def _move_into_place(tmp_dir: Path, final: Path) -> Path | None:
    """Rename `tmp_dir` to `final`; returns where a replaced folder now is (to be deleted)."""
    if not final.exists():
        os.replace(tmp_dir, final)
        return None
    if _exchange(tmp_dir, final):
        return tmp_dir  # one atomic swap: readers see the old model or the new one, never none
    previous = new_temp_dir(create=False)
    os.replace(final, previous)
    try:
        os.replace(tmp_dir, final)
    except BaseException:
        os.replace(previous, final)
        raise
    return previous


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one rename (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False  # the file system cannot swap: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def catalog_status() -> list[tuple[CatalogEntry, InstalledModel | None]]:
    """Each catalog entry with its installed model (or None), for the app's model manager."""
    installed = {m.id.lower(): m for m in list_installed()}
    return [(entry, installed.get(entry.id.lower())) for entry in load_catalog()]
