"""`Library`: folders of documents, one local index, search and questions across them.

    with engine.open_library() as lib:            # <data dir>/libraries/default.sqlite3
        lib.add_folder("~/papers")
        lib.update(progress=print)                 # incremental, resumable, in stages
        lib.search("reciprocal rank fusion")       # -> [Hit(path, page, start, end, text, score)]
        lib.ask("Who signed the contract?")        # -> [LibraryAnswer(...)]

Every `start`/`end` indexes `engine.load_document(path).text`. One process updates a library at
a time (a lock file beside the database: a second `update()` raises `LibraryBusyError` at once,
or waits with `wait=`); searches and reads go on while an update writes. No Qt here: the app's
Library view and `albert-lens library` call these methods.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from engine.errors import LibraryBusyError, LibraryError
from engine.library import scan
from engine.library.indexer import (
    STAGES,
    CancelFn,
    Indexer,
    ProgressFn,
    UpdateReport,
    entity_key,
    model_key,
    read_note,
)
from engine.library.search import Hit, LibraryAnswer, Searcher
from engine.library.storage import Store

SUFFIX = ".sqlite3"
DEFAULT_NAME = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")


@dataclass(frozen=True)
class EntityInfo:
    """One distinct entity: its normalised `key` (look-alikes folded, case folded), its type
    ("PER", "ORG"...), the most common way it is written, and how many documents and
    mentions it has."""

    key: str
    type: str
    text: str
    documents: int
    mentions: int


@dataclass(frozen=True)
class DocumentInfo:
    """A document of the library: `status` is "indexed" or "failed" (then `error` says why);
    `stages` names the model key each later stage's rows came from (None: not yet);
    `mentions` counts an entity's mentions when `documents(entity=...)` was asked."""

    path: str
    title: str | None
    status: str
    error: str | None
    format: str | None
    pages: int
    size: int
    passages: int
    stages: dict[str, str | None] = field(default_factory=dict)
    mentions: int = 0


@dataclass(frozen=True)
class FolderInfo:
    """A folder of the library with its documents' counts."""

    path: str
    recursive: bool
    documents: int
    indexed: int
    failed: int


@dataclass(frozen=True)
class PendingStage:
    """What the next update of one model stage would do with the installed default model:
    `model` its key (None with `reason` when none is installed), `documents` and `passages`
    still to do, and `seconds`, an estimate from the speed this model ran at before (None
    until it has run on at least a few passages). The app asks before a long re-run."""

    stage: str
    model: str | None
    documents: int
    passages: int
    seconds: float | None
    reason: str | None = None


@dataclass(frozen=True)
class LibraryStatus:
    """Counts for a status line: `indexed[stage]` is how many documents each stage covers;
    `failed` lists (path, reason); `skipped[stage]` why a stage did not run; `models[stage]`
    the model key the last update used."""

    path: str
    folders: list[str]
    documents: int
    indexed: dict[str, int]
    failed: list[tuple[str, str]]
    passages: int
    embeddings: int
    entities: int
    disk_bytes: int
    skipped: dict[str, str]
    models: dict[str, str | None]

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["failed"] = [{"path": p, "error": e} for p, e in self.failed]
        return out


def library_path(name_or_path: str | os.PathLike | None = None) -> Path:
    """Where a library lives: a name -> `<data dir>/libraries/<name>.sqlite3` ("default" when
    None); a path ending in .sqlite3 -> that file."""
    from engine import paths

    if name_or_path is None:
        name_or_path = DEFAULT_NAME
    text = os.fspath(name_or_path)
    if text.endswith(SUFFIX):
        return Path(text).expanduser().absolute()
    if not _NAME.match(text) or text.endswith("."):
        raise LibraryError(
            f"'{text}' is not a library name: use letters, digits, spaces, '.', '_' or '-' "
            f"(at most 100), or a path to a file ending in {SUFFIX}.")
    return paths.data_dir() / "libraries" / f"{text}{SUFFIX}"


def open_library(name_or_path: str | os.PathLike | None = None,
                 device: str = "auto") -> Library:
    """Open (or create) a library by name or by path; see `library_path`."""
    return Library(library_path(name_or_path), device=device)


class Library:
    """One library database. Use it from one thread (open another for another thread), and
    close it (or use `with`)."""

    def __init__(self, path: str | os.PathLike, device: str = "auto"):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise LibraryError(f"{self.path} is not a file; a library is one {SUFFIX} file.")
        self.device = device
        self._store = Store(self.path)
        self._encoders: dict[str, object] = {}
        self._qa = None
        self._qa_key: str | None = None
        self._searcher = Searcher(self._store, self._encoder_for, self._reader)

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def store(self) -> Store:
        """The storage behind the library (for tools and tests; the methods here are the API)."""
        return self._store

    # --- folders ---------------------------------------------------------------------------------
    def add_folder(self, path: str | os.PathLike, recursive: bool = True) -> str:
        """Add a folder (indexed at the next `update()`); returns its absolute path."""
        folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not os.path.isdir(folder):
            what = "is not a folder" if os.path.exists(folder) else "does not exist"
            raise LibraryError(f"{folder} {what}; add a folder of documents.")
        self._store.add_folder(folder, recursive)
        return folder

    def remove_folder(self, path: str | os.PathLike) -> int:
        """Remove a folder and the documents only it covered; returns how many went."""
        folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not self._store.remove_folder(folder):
            known = ", ".join(self.folders()) or "none"
            raise LibraryError(f"{folder} is not a folder of this library (its folders: {known}).")
        rest = self._store.folders()
        gone = [d.id for d in self._store.documents()
                if not any(scan.under(d.path, f, r) for f, r in rest)]
        return self._store.delete_documents(gone)

    def folders(self) -> list[str]:
        """The folders added, sorted."""
        return [f for f, _ in self._store.folders()]

    def folder_status(self) -> list[FolderInfo]:
        """Each folder with how many of its documents are indexed or failed."""
        rows = self._store.documents()
        out = []
        for folder, recursive in self._store.folders():
            mine = [d for d in rows if scan.under(d.path, folder, recursive)]
            out.append(FolderInfo(folder, recursive, len(mine),
                                  sum(d.status == "indexed" for d in mine),
                                  sum(d.status == "failed" for d in mine)))
        return out

    def pending(self) -> list[PendingStage]:
        """What the model stages of the next update would do, with a time estimate."""
        from engine.errors import ModelError
        from engine.models.store import default_model

        counts = self._store.passage_counts()
        out = []
        for stage, task, column in (("embeddings", "summarization", "embed_model"),
                                    ("entities", "ner", "ner_model")):
            try:
                key = model_key(default_model(task))
            except ModelError as exc:
                out.append(PendingStage(stage, None, 0, 0, None, " ".join(str(exc).split())))
                continue
            todo = [d for d in self._store.documents()
                    if d.status == "indexed" and getattr(d, column) != key]
            passages = sum(counts.get(d.id, 0) for d in todo)
            rate = read_note(self._store, stage).get("rates", {}).get(key)
            seconds = round(passages / rate, 1) if rate else None
            out.append(PendingStage(stage, key, len(todo), passages, seconds))
        return out

    # --- indexing --------------------------------------------------------------------------------
    def update(self, progress: ProgressFn = None, cancel: CancelFn = None,
               wait: float = 0, stages: tuple[str, ...] = STAGES,
               retry_failed: bool = False) -> UpdateReport:
        """Bring the index up to date (see `engine.library.indexer`).

        `progress(UpdateProgress)` is called as documents go by; `cancel()` returning True
        stops at the next document (the report says `cancelled`; what was done stays). Another
        process updating this library: `LibraryBusyError` at once, or after waiting `wait`
        seconds (-1: as long as it takes). `stages` runs only some of "passages",
        "embeddings", "entities" (e.g. passages only, until the user agrees to a long
        re-run that `pending()` estimates). `retry_failed` reads the documents that failed
        to load again even if their files are unchanged (the cause may have been passing: a
        permission since fixed, a file still being written); nothing else is re-read."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path) + ".lock")
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise LibraryBusyError(
                f"The library {self.path} is being updated by another Albert Lens process; "
                "try again when it has finished.") from None
        except OSError as exc:
            raise LibraryError(f"The library {self.path} cannot be locked: {exc}.") from exc
        try:
            return Indexer(self._store, self.device, progress, cancel, stages,
                           retry_failed).run()
        finally:
            lock.release()

    # --- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 20) -> list[Hit]:
        """The `k` best passages for `query` (keyword and, once embedded, meaning)."""
        return self._searcher.search(query, k)

    def ask(self, question: str, top_k: int = 3) -> list[LibraryAnswer]:
        """Answers read by the installed QA model from the best passages across documents.
        `ModelNotFoundError` when no question-answering model is installed."""
        return self._searcher.ask(question, top_k)

    def _encoder_for(self, key: str):
        if key not in self._encoders:
            from engine.models.store import list_installed

            match = next((m for m in list_installed("embeddings") if model_key(m) == key), None)
            encoder = None
            if match is not None:
                from engine.tasks.embeddings import SentenceEncoder

                encoder = SentenceEncoder(match.path, device=self.device)
            self._encoders[key] = encoder
        return self._encoders[key]

    def _reader(self):
        from engine.models.store import default_model

        installed = default_model("question-answering")
        key = model_key(installed)
        if self._qa is None or self._qa_key != key:
            from engine.tasks import pipeline

            self._qa = pipeline("question-answering", model=installed.path, device=self.device)
            self._qa_key = key
        return self._qa

    # --- entities --------------------------------------------------------------------------------
    def entities(self, label: str | None = None, query: str | None = None) -> list[EntityInfo]:
        """Distinct entities, most documents first; `label` keeps one type ("PER"), `query`
        those whose normalised text contains it."""
        key = entity_key(query) if query else None
        return [EntityInfo(k, t, text, int(d), int(m))
                for k, t, d, m, text in self._store.entity_groups(label, key)]

    def documents(self, entity: str | EntityInfo | None = None,
                  label: str | None = None) -> list[DocumentInfo]:
        """Every document (with its status), or those that mention `entity` (its text in any
        case or look-alike spelling, or an `EntityInfo`; `label` narrows it to one type)."""
        counts: dict[int, int] | None = None
        if entity is not None:
            key, type_ = _entity_ref(entity, label)
            counts = dict(self._store.documents_with_entity(key, type_))
        passages = self._store.passage_counts()
        out = []
        for row in self._store.documents():
            if counts is not None and row.id not in counts:
                continue
            out.append(DocumentInfo(
                row.path, row.title, row.status, row.error, row.format, row.pages, row.size,
                passages.get(row.id, 0),
                {"embeddings": row.embed_model, "entities": row.ner_model},
                counts.get(row.id, 0) if counts else 0))
        return out

    def mentions(self, entity: str | EntityInfo, label: str | None = None) -> list[Hit]:
        """Every mention of an entity as a `Hit` (its span, page and document), in document
        and text order; `score` is the NER model's."""
        key, type_ = _entity_ref(entity, label)
        return [Hit(path, page, int(start), int(end), text, float(score), title)
                for path, title, page, start, end, text, score in self._store.mentions(key, type_)]

    def stored_entities(self, path: str | os.PathLike):
        """The entities stored for a document (engine `Entity` results, offsets into its
        text), when the file is unchanged since it was indexed and they came from the current
        default NER model; else None (run the pipeline instead)."""
        from engine.errors import ModelError
        from engine.models.store import default_model
        from engine.tasks.results import Entity

        row = self._store.document_by_path(os.path.abspath(os.fspath(path)))
        if row is None or row.status != "indexed" or row.ner_model is None:
            return None
        try:
            st = os.stat(row.path)
            current = model_key(default_model("ner"))
        except (OSError, ModelError):
            return None
        if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns) or current != row.ner_model:
            return None
        return [Entity(label, start, end, text, score, type_)
                for label, type_, start, end, text, score in self._store.entities_of(row.id)]

    def cooccurrences(self, a: str | EntityInfo, b: str | EntityInfo) -> list[Hit]:
        """The passages where both entities are mentioned, in document order."""
        ids = self._store.passages_with_both(_entity_ref(a), _entity_ref(b))
        rows = self._store.passages_by_id(ids)
        hits = []
        for pid in (i for i in ids if i in rows):
            passage, path, title = rows[pid]
            hits.append(Hit(path, passage.page, passage.start, passage.end, passage.text,
                            float(len(self._store.entities_in(pid))), title))
        hits.sort(key=lambda h: (h.path, h.start))
        return hits

    # --- status ----------------------------------------------------------------------------------
    def status(self) -> LibraryStatus:
        counts = self._store.counts()
        skipped, models = {}, {}
        for stage in STAGES[1:]:
            note = read_note(self._store, stage)
            models[stage] = note.get("model")
            if note.get("skipped"):
                skipped[stage] = note["skipped"]
        return LibraryStatus(
            path=str(self.path), folders=self.folders(), documents=counts["documents"],
            indexed={"passages": counts["indexed"], "embeddings": counts["embedded"],
                     "entities": counts["entities_done"]},
            failed=[(p, e) for p, e in self._store.failures()], passages=counts["passages"],
            embeddings=counts["embeddings"], entities=counts["entities"],
            disk_bytes=self._store.disk_bytes(), skipped=skipped, models=models)


def _entity_ref(entity: str | EntityInfo, label: str | None = None) -> tuple[str, str | None]:
    if isinstance(entity, EntityInfo):
        return entity.key, entity.type
    return entity_key(entity), label
