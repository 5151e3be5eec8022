"""Engine work off the UI thread: QRunnables on a QThreadPool, results back through signals.

Callbacks always run on the UI thread: job signals are received by slots of `JobManager`, a
QObject that lives there, so Qt queues them across threads. Progress is throttled so a fast
loop in a worker cannot flood the event queue and make the UI stutter.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from engine.errors import Cancelled

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05
BACKGROUND_NICENESS = 10
Work = Callable[["Progress", Callable[[], bool]], Any]


class CancelToken:
    """Callable the engine polls: `cancel()` is True once the user asked to stop."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


class Progress:
    """What a job reports through: `progress(done, total)` as the engine calls it, plus
    `progress.note(text)` for a phase without a count ("Loading the model…")."""

    def __init__(self, report: Callable[[int, int], None], note: Callable[[str], None]) -> None:
        self._report = report
        self.note = note

    def __call__(self, done: int, total: int) -> None:
        self._report(done, total)


class _Hub(QObject):
    """One long-lived sender for every job's outcome.

    A per-job QObject would be deleted on the UI thread while its worker may still be inside
    `emit()`; one hub that lives as long as the manager avoids that race entirely.
    """

    progress = Signal(int, int, int)
    note = Signal(int, str)
    succeeded = Signal(int, object)
    failed = Signal(int, object)
    cancelled = Signal(int)


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Make the calling thread (and threads it starts later) yield the CPU to the UI.

    On Linux a new thread inherits its creator's niceness. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError:
        pass


def call_at_background_priority(fn: Callable[[], Any]) -> Any:
    """Return `fn()`, run in a short-lived thread at background priority.

    ONNX Runtime starts a session's compute threads from the thread that opens it, so a model
    opened here computes on idle cores without taking the UI thread's turn on a busy one. The
    job threads themselves keep normal priority: they run Python (tokenizing, decoding) while
    holding the GIL, and a niced thread holding the GIL kept the UI thread waiting for it (a
    110 ms stall at the start of most analyses in the app tests; 30-50 ms without).
    """
    outcome: dict[str, Any] = {}

    def body() -> None:
        lower_thread_priority()
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="albert-lens-model-load", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def settle_long_lived_objects() -> None:
    """Exclude everything alive now from future garbage collections.

    A full collection walks every tracked object while holding the GIL, so with a large heap
    (the app's modules, a loaded model's tokenizer and graph) one pass stalls the UI for 100 ms or
    more, whichever thread triggers it. Objects that live for the whole session need not be
    walked again, and freezing is instant (no collection first, which would itself be that
    pause); what is allocated later is collected as usual.
    """
    gc.freeze()


def _run_job(job: Job, hub: _Hub) -> None:
    """The body of a pool thread: run the work, report how it ended through the hub."""
    if job.token():
        hub.cancelled.emit(job.id)
        return
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        hub.progress.emit(job.id, int(done), int(total))

    try:
        result = job.work(Progress(report, lambda text: hub.note.emit(job.id, text)), job.token)
    except Cancelled:
        hub.cancelled.emit(job.id)
    except BaseException as exc:  # every failure must reach the UI, never kill the thread
        if job.token():
            hub.cancelled.emit(job.id)
        else:
            if not isinstance(exc, Exception):
                exc = RuntimeError(repr(exc))
            log.debug("job %s failed", job.title, exc_info=exc)
            hub.failed.emit(job.id, exc)
    else:
        if job.token():
            hub.cancelled.emit(job.id)
        else:
            hub.succeeded.emit(job.id, result)


@dataclass(eq=False)
class Job:
    """One piece of background work and what to do with its outcome (on the UI thread)."""

    id: int
    title: str
    work: Work
    on_success: Callable[[Any], None] | None = None
    on_error: Callable[[Exception], None] | None = None
    on_cancel: Callable[[], None] | None = None
    owner: object = None
    cancellable: bool = True
    visible: bool = True  # shown in the status bar
    token: CancelToken = field(default_factory=CancelToken)
    detail: str = ""
    done: int = 0
    total: int = 0
    state: str = "queued"  # queued, running, succeeded, failed, cancelled

    def cancel(self) -> None:
        self.token.set()

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")


class JobManager(QObject):
    """Runs jobs on a thread pool and tells the status bar what is going on."""

    changed = Signal()  # a job started, progressed or ended
    job_finished = Signal(object)

    def __init__(self, io_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Engine analyses run one at a time: pipelines share tokenizers, the sentence
        # splitter and caches that are not made for concurrent calls, and ONNX Runtime already
        # uses every core for one run. Opening files and downloads go on beside them.
        # The Library's lanes: its reads (search, ask, listings) one at a time on one connection,
        # and its long updates on their own thread, so a search never waits for indexing.
        self.pools = {"analysis": QThreadPool(self), "io": QThreadPool(self),
                      "library": QThreadPool(self), "indexing": QThreadPool(self)}
        for lane in ("analysis", "library", "indexing"):
            self.pools[lane].setMaxThreadCount(1)
        self.pools["io"].setMaxThreadCount(io_threads)
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._hub = _Hub(self)
        self._hub.progress.connect(self._on_progress)
        self._hub.note.connect(self._on_note)
        self._hub.succeeded.connect(self._on_succeeded)
        self._hub.failed.connect(self._on_failed)
        self._hub.cancelled.connect(self._on_cancelled)

    def submit(self, title: str, work: Work, *, on_success=None, on_error=None, on_cancel=None,
               owner: object = None, cancellable: bool = True, visible: bool = True,
               lane: str = "io") -> Job:
        """Run `work(progress, cancel)` on a pool thread; `lane` is "analysis", "io",
        "library" or "indexing"."""
        job = Job(next(self._ids), title, work, on_success, on_error, on_cancel, owner,
                  cancellable, visible)
        self._jobs[job.id] = job
        job.state = "running"
        hub = self._hub
        self.pools[lane].start(lambda: _run_job(job, hub))
        self.changed.emit()
        return job

    # --- queries ---------------------------------------------------------------------------------
    @property
    def active(self) -> list[Job]:
        return [j for j in self._jobs.values() if not j.finished]

    @property
    def visible(self) -> list[Job]:
        return [j for j in self.active if j.visible]

    def is_busy(self) -> bool:
        return bool(self._jobs)

    # --- control ---------------------------------------------------------------------------------
    def cancel(self, job: Job) -> None:
        # A job still waiting for a thread sees the token as soon as it starts and ends at once.
        job.cancel()
        self.changed.emit()

    def cancel_all(self) -> None:
        for job in self.active:
            if job.cancellable:
                self.cancel(job)

    def cancel_owned_by(self, owner: object) -> None:
        for job in self.active:
            if job.owner is owner:
                self.cancel(job)

    def wait(self, timeout_ms: int = 5000) -> bool:
        deadline = time.monotonic() + timeout_ms / 1000
        done = True
        for pool in self.pools.values():
            left = max(0, int((deadline - time.monotonic()) * 1000))
            done = pool.waitForDone(left) and done
        return done

    # --- outcomes (UI thread) --------------------------------------------------------------------
    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.done, job.total = done, total
            self.changed.emit()

    @Slot(int, str)
    def _on_note(self, job_id: int, text: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.detail = text
            self.changed.emit()

    def _end(self, job_id: int, state: str) -> Job | None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            job.state = state
        return job

    def _call(self, job: Job, callback, *args) -> None:
        try:
            if callback is not None:
                callback(*args)
        finally:
            self.changed.emit()
            self.job_finished.emit(job)

    @Slot(int, object)
    def _on_succeeded(self, job_id: int, result: object) -> None:
        job = self._end(job_id, "succeeded")
        if job is not None:
            self._call(job, job.on_success, result)

    @Slot(int, object)
    def _on_failed(self, job_id: int, error: object) -> None:
        job = self._end(job_id, "failed")
        if job is not None:
            self._call(job, job.on_error, error)

    @Slot(int)
    def _on_cancelled(self, job_id: int) -> None:
        job = self._end(job_id, "cancelled")
        if job is not None:
            self._call(job, job.on_cancel)
