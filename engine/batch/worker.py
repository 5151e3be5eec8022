"""One document in, one row out: the pipelines a worker holds (a process of the local pool or
a Ray actor) and the analysis `albert-lens analyze` runs, through the same `results_report`."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

from engine.batch import rows
from engine.batch.files import BatchFile
from engine.batch.settings import BatchSettings, model_identity
from engine.errors import Cancelled, DocumentError

_HASH_CHUNK = 1 << 20


def set_threads(threads: int) -> None:
    """ONNX Runtime compute threads of this process (read when a session opens)."""
    if threads > 0:
        os.environ["ALBERT_LENS_THREADS"] = str(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


def resolve(task: str, model) -> Path:
    from engine.tasks._common import resolve_model_dir

    return resolve_model_dir(task, model)


def open_pipelines(settings: BatchSettings) -> dict:
    import engine

    pipes = {}
    for task in settings.tasks:
        options: dict = {}
        if task == "ner":
            options["aggregation"] = settings.aggregation
        elif task == "qa":
            options.update(thorough=settings.thorough, top_k=settings.top_k)
        pipes[task] = engine.pipeline(task, model=settings.models.get(task),
                                      device=settings.device, precision=settings.precision,
                                      fold_lookalikes=settings.fold_lookalikes, **options)
    return pipes


class Worker:
    """Pipelines opened once; `analyze(file)` for every document given to this worker."""

    def __init__(self, settings: BatchSettings, threads: int = 0):
        set_threads(threads)
        self.settings = settings
        self.analysis = settings.analysis_key()
        self.pipes = open_pipelines(settings)
        self.models = [model_identity(task, pipe.model_dir) for task, pipe in self.pipes.items()]

    def analyze(self, file: BatchFile) -> dict:
        import engine
        from engine.cli_errors import describe_error
        from engine.report import check_spans, plain, results_report

        t0 = time.perf_counter()
        row = rows.base_row(file.path, file.size, file.mtime_ns, self.models, self.analysis)
        try:
            row["sha256"] = _sha256(file.path)
            document = engine.load_document(file.path)
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the file's row says why; the run goes on
            from engine.documents.sniff import extension_format

            row.update(status=rows.FAILED, error=describe_error(exc),
                       format=extension_format(Path(file.path).suffix),
                       timings={"load_s": time.perf_counter() - t0, "analyze_s": None,
                                "total_s": time.perf_counter() - t0})
            return row
        t_load = time.perf_counter() - t0
        results: dict = {}
        info: dict = {}
        for task, pipe in self.pipes.items():
            t1 = time.perf_counter()
            try:
                results[task] = self._run(task, pipe, document)
            except (Cancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - reported in the row, the others kept
                info[task] = {"status": rows.FAILED, "model": pipe.model_name,
                              "error": describe_error(exc)}
                continue
            info[task] = {"status": rows.DONE, "model": pipe.model_name,
                          "seconds": round(time.perf_counter() - t1, 3)}
        report = results_report(
            document, entities=results.get("ner"), questions=results.get("qa"),
            summary=results.get("summary"), sentiment=results.get("sentiment"), tasks=info,
            include_text=False)
        check_spans(report, plain(document.text))
        rows.fill_from_report(row, report)
        total = time.perf_counter() - t0
        row["timings"] = {"load_s": t_load, "analyze_s": total - t_load, "total_s": total}
        return row

    def _run(self, task: str, pipe, document):
        s = self.settings
        if task == "summary":
            options = {"ratio": s.ratio} if s.ratio else {"max_sentences": s.sentences}
            return pipe(document, **options)
        if task == "qa":
            return [(q, pipe(q, document, top_k=s.top_k)) for q in s.questions]
        return pipe(document)


def _sha256(path: str) -> str:
    # Non-blocking open: a file swapped for a FIFO since it was listed must not hang a worker.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DocumentError(f"{path} is not a regular file.")
        h = hashlib.sha256()
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()
