"""Bringing a library up to date, in stages, each document committed on its own.

1. passages: every new or changed file is loaded (`engine.documents.load_document`), cut into
   passages as the QA retriever cuts them (`make_passages`, within each page for PDFs so a
   passage cites one page), and stored with its FTS5 row in one transaction. Keyword search
   works as soon as the first documents are in. A file that cannot be loaded is stored as
   "failed" with the loader's one-line reason, and the update goes on; it is read again when
   it changes, or at an update with `retry_failed=True` (counted as changed).
2. embeddings: passages of documents not yet embedded by the current embeddings model
   (`engine.tasks.embeddings.SentenceEncoder`, the store's default for "summarization").
3. entities: the same with the store's default NER model (`engine.pipeline("ner")`).

A stage whose model is not installed is skipped, its reason kept in the library's notes. Each
document records the key of the model its rows came from (`model_key`); a new model leaves the
old rows in place until the document's new rows are complete, then swaps them in one
transaction. A `kill -9` loses at most the document in flight: its row is written only with its
passages, so the next update sees it as new again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine import documents as _documents
from engine.errors import AlbertLensError, Cancelled, ModelError
from engine.library import scan
from engine.library.storage import DocumentRow, NewEntity, NewPassage, Store
from engine.lookalikes import fold_lookalikes

STAGES = ("passages", "embeddings", "entities")
# Passages embedded per model call: enough to fill the batches, few enough to commit often.
EMBED_GROUP = 64


@dataclass(frozen=True)
class UpdateProgress:
    """What `Library.update(progress=...)` is told: the stage ("scan", "passages",
    "embeddings", "entities"), documents done and to do in it, and the file in hand."""

    stage: str
    done: int
    total: int
    path: str | None = None


@dataclass
class UpdateReport:
    """What an update did. `changed` counts the files read again (changed, or failed before and
    retried); `skipped` maps a stage to why it did not run (no model installed);
    `cancelled` is True when `cancel()` stopped it (what was committed stays)."""

    new: int = 0
    changed: int = 0
    moved: int = 0
    deleted: int = 0
    touched: int = 0
    unchanged: int = 0
    failed: int = 0
    embedded: int = 0
    entities: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


ProgressFn = Callable[[UpdateProgress], None] | None
CancelFn = Callable[[], bool] | None


def model_key(model) -> str:
    """`id@revision` for a Hub model, `id@sha256:<12 hex>` of its files' hashes for an import:
    a re-import of different weights under the same id is a new model."""
    if model.revision:
        return f"{model.id}@{model.revision}"
    digest = hashlib.sha256(json.dumps(
        sorted((name, info.get("sha256")) for name, info in model.files.items())).encode())
    return f"{model.id}@sha256:{digest.hexdigest()[:12]}"


def entity_key(text: str) -> str:
    """The normalised text entities are grouped under: look-alikes folded, case folded,
    white space collapsed."""
    return " ".join(fold_lookalikes(text).text.casefold().split())


def entities_of(ner, text: str, passages, cancel=None) -> list[NewEntity]:
    """The NER pipeline over a whole document text (as the document view runs it), each
    entity tied to the passage that holds its start (None outside every passage)."""
    import bisect

    starts = [p.start for p in passages]
    out = []
    for e in ner(text, cancel=cancel):
        i = bisect.bisect_right(starts, e.start) - 1
        passage = passages[i] if i >= 0 and e.start < passages[i].end else None
        key = getattr(e, "key", "") or entity_key(e.text)
        out.append(NewEntity(passage.id if passage else None, e.label, e.type, e.start, e.end,
                             e.text, key, float(e.score)))
    return out


def cut_passages(document) -> list[NewPassage]:
    """The document's passages with exact offsets, their page and their folded text."""
    from engine.tasks.qa import PASSAGE_WORDS
    from engine.tasks.retrieval import make_passages

    text = document.text
    folded = fold_lookalikes(text).text
    paragraphs = [(int(p.start), int(p.end)) for p in document.paragraphs]
    groups: list[list[tuple[int, int]]] = [paragraphs]
    if document.pages:
        groups = [[p for p in paragraphs if page.start <= p[0] < max(page.end, page.start + 1)]
                  for page in document.pages]
    out = []
    for group in groups:
        if not group:
            continue  # make_passages would cut the whole text for an empty list
        for a, b in make_passages(text, group, *PASSAGE_WORDS):
            out.append(NewPassage(a, b, document.page_of(a), text[a:b], folded[a:b]))
    return out


class Indexer:
    """One update of one library's store. `device` is where the models run."""

    def __init__(self, store: Store, device: str = "auto", progress: ProgressFn = None,
                 cancel: CancelFn = None, stages: tuple[str, ...] = STAGES,
                 retry_failed: bool = False):
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage {min(unknown)!r}: the stages are "
                             f"{', '.join(STAGES)}")
        self.stages = tuple(stages)
        self.store = store
        self.device = device
        self.progress = progress
        self.cancel = cancel
        self.retry_failed = retry_failed
        self.report = UpdateReport()

    def run(self) -> UpdateReport:
        t0 = time.perf_counter()
        try:
            if "passages" in self.stages:
                self._passages()
            if "embeddings" in self.stages:
                self._embeddings()
            if "entities" in self.stages:
                self._entities()
        except Cancelled:
            self.report.cancelled = True
        self.report.seconds = round(time.perf_counter() - t0, 3)
        return self.report

    # --- helpers ---------------------------------------------------------------------------------
    def _tell(self, stage: str, done: int, total: int, path: str | None = None) -> None:
        if self.progress is not None:
            self.progress(UpdateProgress(stage, done, total, path))

    def _check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("The update was cancelled.")

    def _note(self, stage: str, model: str | None, skipped: str | None,
              rate: float | None = None) -> None:
        """Keep what a stage last did: its model, why it was skipped, and its speed in
        passages a second (kept from an earlier run when this one measured none)."""
        note = read_note(self.store, stage)
        note.update(model=model, skipped=skipped)
        if rate is not None and model is not None:
            note.setdefault("rates", {})[model] = rate
        self.store.set_meta(f"stage:{stage}", json.dumps(note))
        if skipped:
            self.report.skipped[stage] = skipped

    # --- stage 1 ---------------------------------------------------------------------------------
    def _passages(self) -> None:
        self._tell("scan", 0, 0)
        known = self.store.documents()
        plan = scan.plan(self.store.folders(), known, self.cancel,
                         retry_failed=self.retry_failed)
        r = self.report
        r.unchanged = plan.unchanged
        for row, state in plan.touched:
            self.store.touch_document(row.id, state.size, state.mtime_ns)
        r.touched = len(plan.touched)
        for row, state in plan.moved:
            # A title the loader took from the file name follows the file's new name.
            title = row.title
            if title == Path(row.path).stem:
                title = Path(state.path).stem
            self.store.move_document(row.id, state.path, state.size, state.mtime_ns, title)
        r.moved = len(plan.moved)
        r.deleted = self.store.delete_documents(row.id for row in plan.deleted)
        for state, reason in plan.unreadable:
            self._store_failure(state, "", f'"{state.path}" cannot be read: {reason}.')
        todo = plan.to_index
        r.new, r.changed = len(plan.new), len(plan.changed)
        for done, (state, digest) in enumerate(todo):
            self._check()
            self._tell("passages", done, len(todo), state.path)
            self._index_file(state, digest)
        self._tell("passages", len(todo), len(todo))

    def _index_file(self, state: scan.FileState, digest: str) -> None:
        try:
            document = _documents.load_document(state.path)
            passages = cut_passages(document)
        except AlbertLensError as exc:
            self._store_failure(state, digest, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the others
            self._store_failure(state, digest, f'"{state.path}" could not be read '
                                f"({type(exc).__name__}: {exc}).")
            return
        self.store.put_document(
            path=state.path, size=state.size, mtime_ns=state.mtime_ns, sha256=digest,
            status="indexed", error=None, title=document.title, fmt=document.format,
            pages=len(document.pages), chars=len(document.text), passages=passages,
            text=document.text)

    def _store_failure(self, state: scan.FileState, digest: str, message: str) -> None:
        self.report.failed += 1
        self.store.put_document(
            path=state.path, size=state.size, mtime_ns=state.mtime_ns, sha256=digest,
            status="failed", error=" ".join(message.split()), title=None, fmt=None, pages=0,
            chars=0, passages=[])

    # --- stages 2 and 3 --------------------------------------------------------------------------
    def _installed(self, stage: str, task: str):
        """The store's default model for `task`, or None with the stage noted as skipped."""
        from engine.models.store import default_model

        try:
            return default_model(task)
        except ModelError as exc:
            self._note(stage, None, " ".join(str(exc).split()))
            return None

    def _todo(self, column: str, key: str) -> list[DocumentRow]:
        return [d for d in self.store.documents()
                if d.status == "indexed" and getattr(d, column) != key]

    def _embeddings(self) -> None:
        installed = self._installed("embeddings", "summarization")
        if installed is None:
            return
        key = model_key(installed)
        todo = self._todo("embed_model", key)
        self._note("embeddings", key, None)
        if not todo:
            return
        self._check()
        try:
            from engine.tasks.embeddings import SentenceEncoder

            encoder = SentenceEncoder(installed.path, device=self.device)
        except (ModelError, ValueError) as exc:
            self._note("embeddings", key, f"the model {installed.id} cannot be used: {exc}")
            return
        group: list[tuple[DocumentRow, list[int], list[str]]] = []
        size = 0
        t0, passages = time.perf_counter(), 0
        for done, doc in enumerate(todo):
            self._check()
            self._tell("embeddings", done, len(todo), doc.path)
            ids = [p.id for p in self.store.passages_of(doc.id)]
            folded = self.store.folded_of(ids)
            group.append((doc, ids, [folded[i] for i in ids]))
            size += len(ids)
            passages += len(ids)
            if size >= EMBED_GROUP:
                self._embed_group(encoder, key, group)
                group, size = [], 0
        if group:
            self._embed_group(encoder, key, group)
        self._note("embeddings", key, None, _rate(passages, time.perf_counter() - t0))
        self._tell("embeddings", len(todo), len(todo))

    def _embed_group(self, encoder, key: str, group) -> None:
        texts = [t for _, _, texts in group for t in texts]
        vectors = encoder.encode(texts, cancel=self.cancel) if texts else []
        at = 0
        for doc, ids, _ in group:
            self.store.put_embeddings(doc.id, key, dict(zip(ids, vectors[at:at + len(ids)])))
            at += len(ids)
            self.report.embedded += 1

    def _entities(self) -> None:
        installed = self._installed("entities", "ner")
        if installed is None:
            return
        key = model_key(installed)
        todo = self._todo("ner_model", key)
        self._note("entities", key, None)
        if not todo:
            return
        self._check()
        try:
            from engine.tasks import pipeline

            ner = pipeline("ner", model=installed.path, device=self.device)
        except (ModelError, ValueError) as exc:
            self._note("entities", key, f"the model {installed.id} cannot be used: {exc}")
            return
        t0, passages = time.perf_counter(), 0
        for done, doc in enumerate(todo):
            self._check()
            self._tell("entities", done, len(todo), doc.path)
            rows = self.store.passages_of(doc.id)
            passages += len(rows)
            text = self.store.document_text(doc.id)
            found = entities_of(ner, text, rows, self.cancel) if text else []
            self.store.put_entities(doc.id, key, found)
            self.report.entities += 1
        self._note("entities", key, None, _rate(passages, time.perf_counter() - t0))
        self._tell("entities", len(todo), len(todo))


def _rate(passages: int, seconds: float) -> float | None:
    # Too little work says nothing about the speed (model loading and start-up dominate).
    return round(passages / seconds, 3) if passages >= 8 and seconds > 0 else None


def read_note(store: Store, stage: str) -> dict:
    """What the last update noted about a stage ({} when nothing)."""
    raw = store.get_meta(f"stage:{stage}")
    try:
        note = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return note if isinstance(note, dict) else {}
