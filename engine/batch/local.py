"""The default backend: a process pool (spawn) on this machine, each worker with its own
pipelines, and ONNX Runtime threads per worker so that workers x threads fits the cores."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from engine.batch import rows
from engine.batch.files import BatchFile
from engine.batch.settings import BatchSettings
from engine.errors import AlbertLensError

_worker = None
_worker_error: BaseException | None = None


class BatchWorkerError(AlbertLensError):
    """The batch's worker processes could not start."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan_workers(todo: int, workers: int | None, device: str = "cpu") -> tuple[int, int]:
    """(worker processes, ONNX Runtime threads each): workers x threads <= cores."""
    n = cores()
    if workers is None:
        # One GPU is shared better by one process feeding it than by several.
        workers = 1 if device == "gpu" else n
    workers = max(1, min(workers, max(todo, 1)))
    return workers, max(1, n // workers)


def _init(settings: BatchSettings, threads: int) -> None:
    global _worker, _worker_error
    # Ctrl-C is the parent's to handle: it keeps the rows it has and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    from engine.batch.worker import Worker

    try:
        _worker = Worker(settings, threads)
    except BaseException as exc:  # noqa: BLE001 - said when the first document asks for it
        _worker_error = exc


def _exit_with_parent() -> None:
    """A worker whose parent was killed (kill -9, out of memory) would wait on its task queue
    forever: it ends itself as soon as it is handed to another parent."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="albert-lens-batch-parent", daemon=True).start()


def _analyze(file: BatchFile) -> dict:
    if _worker is None:
        raise _worker_error or BatchWorkerError("the batch worker did not start")
    return _worker.analyze(file)


def run_local(files: Iterable[BatchFile], settings: BatchSettings, workers: int, threads: int,
              on_row: Callable[[dict], None]) -> None:
    """Analyse `files` in `workers` processes; `on_row(row)` in this process for each one."""
    import multiprocessing

    pending = list(files)[::-1]
    tries: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    while pending:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init,
                                   initargs=(settings, threads))
        in_flight: dict = {}
        broken = False
        try:
            while (pending or in_flight) and not broken:
                while pending and len(in_flight) < 2 * workers:
                    file = pending.pop()
                    in_flight[pool.submit(_analyze, file)] = file
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        row = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del in_flight[future]
                    on_row(row)
        except BaseException:
            _stop(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        # A worker died (out of memory, killed): which of the documents in flight did it is not
        # known, so each is tried once more in a new pool; twice in flight at a death is a row
        # that says so.
        for file in in_flight.values():
            tries[file.path] = tries.get(file.path, 0) + 1
            if tries[file.path] >= 2:
                on_row(_lost(file, settings))
            else:
                pending.append(file)


def _lost(file: BatchFile, settings: BatchSettings) -> dict:
    row = rows.base_row(file.path, file.size, file.mtime_ns, [], settings.analysis_key())
    row.update(status=rows.FAILED,
               error="the worker analysing it stopped (out of memory, or killed); "
                     "run again with --retry-failed to try it once more")
    return row


def _stop(pool: ProcessPoolExecutor) -> None:
    # Interrupted: the workers' current documents are not waited for (their rows are lost and
    # analysed by the next run).
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except OSError:
            continue  # already gone
    pool.shutdown(wait=False, cancel_futures=True)
