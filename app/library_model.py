"""The Library for the app: one library's listing, its reads and updates as background jobs.

Reads (listings, search, ask, entities) run on the job manager's "library" lane, one at a time
on one connection; updates on the "indexing" lane with a connection of their own, so a search
is answered while a long update writes (SQLite's WAL lets them). Nothing here touches the
database on the UI thread. The folders are watched while the app runs; a change, once it
settles, starts an incremental update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.library_watcher import FolderWatcher, folders_to_watch
from app.workers import Job, JobManager
from engine.errors import LibraryBusyError
from engine.library import (
    DocumentInfo,
    EntityInfo,
    FolderInfo,
    Hit,
    Library,
    LibraryAnswer,
    LibraryStatus,
    PendingStage,
    UpdateProgress,
    UpdateReport,
    library_path,
)
from engine.library.indexer import STAGES

# While an update runs, the listing is read again at most this often.
RELIST_MS = 700
PAUSE_POLL_S = 0.05
# A model stage estimated to take longer than this (a new model re-reading every document)
# waits until the person agrees; the rest of the update goes on without it.
LONG_RERUN_S = 120.0
# Another process (albert-lens library update) holds the library: try again after this.
BUSY_RETRY_MS = 30_000


@dataclass
class Listing:
    """What the Folders tab shows: each folder with its counts, every document, the totals."""

    folders: list[FolderInfo] = field(default_factory=list)
    documents: list[DocumentInfo] = field(default_factory=list)
    status: LibraryStatus | None = None


class LibraryModel(QObject):
    """One library (the default one unless told otherwise) as the app sees it."""

    listing_changed = Signal()
    progress = Signal(object)  # UpdateProgress, on the UI thread
    update_running = Signal(bool)
    update_finished = Signal(object)  # UpdateReport, or None when cancelled or failed
    paused_changed = Signal(bool)
    failed = Signal(str, object)  # a title and the exception, for the window's error box
    notice = Signal(str)  # a line about the library's state that needs no dialog ("" clears)
    long_stages = Signal(object)  # [PendingStage] held back until the person agrees

    def __init__(self, jobs: JobManager, device: str = "auto",
                 name_or_path: str | Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.device = device
        self.location = library_path(name_or_path)
        self.listing = Listing()
        self.current: UpdateProgress | None = None  # what the running update has in hand
        self.update_job: Job | None = None
        self.last_report: UpdateReport | None = None
        self._readers: list[Library] = []  # used on the "library" lane only
        self._writers: list[Library] = []  # used on the "indexing" lane only
        self._again = False
        # Retries of the failed documents asked for, and how many of them the last completed
        # update served: one asked while an update runs (or while another process holds the
        # library) is done by the next update, not lost.
        self._retries_asked = 0
        self._retries_served = 0
        self._serving = 0  # what the running update serves
        self._paused = threading.Event()
        self._refreshing: Job | None = None
        self._refresh_again = False
        self._then: list[Callable[[], None]] = []  # run once the running update has ended
        self.held_back: list[PendingStage] = []
        self._declined = False  # "Not now": long stages wait for the next start of the app
        self.watcher = FolderWatcher(self)
        self.watcher.changed.connect(self.update)
        self._relist = QTimer(self)
        self._relist.setSingleShot(True)
        self._relist.setInterval(RELIST_MS)
        self._relist.timeout.connect(self.refresh)
        self.progress.connect(self._on_progress)

    # --- connections (off the UI thread) ---------------------------------------------------------
    def _open(self, pool: list[Library]) -> Library:
        if not pool:
            pool.append(Library(self.location, device=self.device))
        return pool[0]

    def _read(self, title: str, fn: Callable[[Library], object], on_success,
              on_error=None) -> Job:
        return self.jobs.submit(
            title, lambda _progress, _cancel: fn(self._open(self._readers)),
            on_success=on_success, on_error=on_error or (lambda e: self.failed.emit(title, e)),
            visible=False, lane="library")

    def stored_entities(self, path: str | Path) -> list | None:
        """The entities the library holds for `path` when the file is unchanged since it was
        indexed and they came from the current default NER model; else None. Any thread: it
        opens a connection of its own, and never creates a library."""
        if not self.location.exists():
            return None
        try:
            with Library(self.location, device=self.device) as lib:
                return lib.stored_entities(path)
        except Exception:  # noqa: BLE001 - a library that cannot answer: run the model instead
            return None

    # --- start and listing -----------------------------------------------------------------------
    def start(self) -> None:
        """At start-up: a library that exists is listed, watched and brought up to date (files
        may have changed while the app was closed). None is created until a folder is added."""
        if self.location.exists():
            self.refresh()
            self.update()

    def refresh(self) -> None:
        """Read the listing again (at once, or after the read in flight)."""
        if self._refreshing is not None:
            self._refresh_again = True
            return

        def read(lib: Library) -> Listing:
            return Listing(lib.folder_status(), lib.documents(), lib.status())

        def done(listing: Listing | None) -> None:
            self._refreshing = None
            if listing is not None:
                self.listing = listing
                self.listing_changed.emit()
            if self._refresh_again:
                self._refresh_again = False
                self.refresh()

        self._refreshing = self._read("Reading the library", read, done,
                                      lambda e: (done(None), self.failed.emit(
                                          "Cannot read the library", e)))
        self._refreshing.on_cancel = lambda: done(None)

    # --- folders ---------------------------------------------------------------------------------
    def add_folder(self, path: str | Path) -> None:
        def added(_folder) -> None:
            self.refresh()
            # The running update planned without this folder: stop it (what it did stays) and
            # start again, which skips what is already indexed.
            if self.update_job is not None:
                self._again = True
                self.cancel_update()
            else:
                self.update()

        self._read("Adding a folder", lambda lib: lib.add_folder(path), added,
                   lambda e: self.failed.emit("Cannot add the folder", e))

    def remove_folder(self, path: str) -> None:
        """Remove a folder and its documents; a running update stops first (it would index
        the folder's files again)."""
        def remove() -> None:
            self._read("Removing a folder", lambda lib: lib.remove_folder(path),
                       lambda _n: (self.refresh(), self.update()),
                       lambda e: self.failed.emit("Cannot remove the folder", e))

        if self.update_job is not None:
            self._then.append(remove)
            self.cancel_update()
        else:
            remove()

    # --- updates ---------------------------------------------------------------------------------
    @property
    def updating(self) -> bool:
        return self.update_job is not None

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def retry_pending(self) -> bool:
        """A retry of the failed documents was asked for and no update has done it yet."""
        return self._retries_asked > self._retries_served

    def update(self, agreed: bool = False, retry_failed: bool = False) -> Job | None:
        """Bring the index up to date in the background; during an update, once more after it.
        A model stage estimated to take more than LONG_RERUN_S runs only when `agreed`.
        `retry_failed` reads the documents that failed to load again although unchanged."""
        if retry_failed:
            self._retries_asked += 1
        if self.update_job is not None:
            self._again = True
            return None
        paused = self._paused
        ask = not agreed
        self._serving = self._retries_asked
        retry = self.retry_pending

        def work(progress, cancel) -> tuple[UpdateReport, list[str], list[PendingStage]]:
            lib = self._open(self._writers)
            held: list[PendingStage] = []
            if ask:
                held = [p for p in lib.pending() if p.documents and p.seconds is not None
                        and p.seconds > LONG_RERUN_S]
            stages = tuple(s for s in STAGES if s not in {p.stage for p in held})

            def tell(p: UpdateProgress) -> None:
                self.progress.emit(p)
                progress(p.done, p.total)

            def stop() -> bool:
                # Pausing holds the update here, between two documents (or inside a model's
                # batches, which poll this too); it goes on from the same place.
                while paused.is_set() and not cancel():
                    time.sleep(PAUSE_POLL_S)
                return cancel()

            report = lib.update(progress=tell, cancel=stop, stages=stages,
                                 retry_failed=retry)
            return report, folders_to_watch([(f.path, f.recursive)
                                             for f in lib.folder_status()]), held

        self.update_job = self.jobs.submit(
            "Updating the library", work, on_success=self._updated,
            on_error=self._update_failed, on_cancel=self._update_cancelled,
            cancellable=False, visible=False, lane="indexing")
        self.update_running.emit(True)
        return self.update_job

    def pause(self, on: bool = True) -> None:
        if on != self.paused:
            (self._paused.set if on else self._paused.clear)()
            self.paused_changed.emit(on)

    def stop_update(self) -> None:
        """The person's Cancel: the running update stops, and neither a re-run that a folder
        change queued meanwhile nor a retry of failed documents starts after it."""
        self._again = False
        self._retries_served = self._retries_asked
        self.cancel_update()

    def cancel_update(self) -> None:
        if self.update_job is not None:
            self.jobs.cancel(self.update_job)
            self.pause(False)

    def _on_progress(self, p: UpdateProgress) -> None:
        if self.update_job is None:
            return  # a late signal from an update that has ended
        self.current = p
        if p.stage != "scan" and not self._relist.isActive():
            self._relist.start()

    def _ended(self, report: UpdateReport | None) -> None:
        self.update_job = None
        self.current = None
        self._relist.stop()
        self.pause(False)
        self.last_report = report
        self.refresh()
        self.update_running.emit(False)
        self.update_finished.emit(report)
        then, self._then = self._then, []
        for fn in then:
            fn()
        if self._again:
            self._again = False
            self.update()

    def _served(self, kept: bool) -> None:
        """The running update has ended; unless `kept` (it will be tried again), the retries
        asked before it started are done."""
        if not kept:
            self._retries_served = max(self._retries_served, self._serving)

    def _restarting(self) -> bool:
        # A cancel followed by more work (a folder added or removed) is not the person's stop.
        return self._again or bool(self._then)

    def _updated(self, result: tuple[UpdateReport, list[str], list[PendingStage]]) -> None:
        report, folders, held = result
        self._served(report.cancelled and self._restarting())
        self.watcher.watch(folders)
        self.notice.emit("")
        if held != self.held_back:
            self.held_back = held
            if not self._declined or not held:
                self.long_stages.emit(held)
        if report.cancelled:
            self._ended(None)
        else:
            self._ended(report)

    def _update_failed(self, error: BaseException) -> None:
        # A busy library is tried again later, and the retry asked with it.
        self._served(isinstance(error, LibraryBusyError))
        self._again = False
        self._ended(None)
        if isinstance(error, LibraryBusyError):
            # Not a failure: the other process's update will be seen; ours comes later.
            self.notice.emit(" ".join(str(error).split()))
            QTimer.singleShot(BUSY_RETRY_MS, self, self.update)
        else:
            self.failed.emit("Cannot update the library", error)

    def run_held_back(self) -> Job | None:
        """The person agreed: run the long stages now."""
        self.held_back = []
        self.long_stages.emit([])
        if self.update_job is not None:
            self._then.append(lambda: self.update(agreed=True))
            return None
        return self.update(agreed=True)

    def decline_held_back(self) -> None:
        self._declined = True
        self.long_stages.emit([])

    def _update_cancelled(self) -> None:
        self._served(self._restarting())
        self._ended(None)

    # --- reading ---------------------------------------------------------------------------------
    def search(self, query: str, on_result: Callable[[list[Hit]], None],
               on_error: Callable[[BaseException], None], k: int = 20) -> Job:
        return self._read("Searching the library", lambda lib: lib.search(query, k), on_result,
                          on_error)

    def ask(self, question: str, on_result: Callable[[list[LibraryAnswer]], None],
            on_error: Callable[[BaseException], None], top_k: int = 3) -> Job:
        return self._read("Asking the library", lambda lib: lib.ask(question, top_k),
                          on_result, on_error)

    def entities(self, query: str, on_result: Callable[[list[EntityInfo]], None]) -> Job:
        return self._read("Reading the library's entities",
                          lambda lib: lib.entities(query=query or None), on_result)

    def mentions(self, entity: EntityInfo, on_result: Callable[[list[Hit]], None]) -> Job:
        return self._read("Reading an entity's mentions", lambda lib: lib.mentions(entity),
                          on_result)

    # --- end -------------------------------------------------------------------------------------
    def shut_down(self) -> None:
        """The window is closing: stop the update (what it did stays) and watching."""
        self._again = False
        self._then.clear()
        self._retries_served = self._retries_asked
        self.watcher.watch([])
        self.cancel_update()
