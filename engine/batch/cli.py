"""`albert-lens batch PATH... --task T,T --out results.parquet`: every file, one row each.

Exit status: 0 when every document was analysed, 1 when any failed (its row says why) or the
run could not start, 2 for a usage error, 130 when interrupted (what was done is kept: the same
command resumes). Without Ray installed, `--cluster` says how to get it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import engine
from engine.cli_errors import EXIT_ERROR, EXIT_OK, command_failed

# Test hook: the process SIGKILLs itself once it has received this many rows (a crash half-way).
KILL_AFTER_VARIABLE = "ALBERT_LENS_BATCH_TEST_KILL_AFTER"


class BatchUsageError(Exception):
    """A batch command line that cannot work as given (exit 2)."""


def add_batch_parser(subparsers) -> argparse.ArgumentParser:
    from engine.batch.progress import MODES
    from engine.batch.settings import DEFAULT_TASKS
    from engine.batch.writer import FORMATS

    p = subparsers.add_parser(
        "batch", help="analyse many files into one Parquet or JSON-lines table",
        description="Analyse every document under PATH (files and folders, recursively) and "
                    "write one row per document with the results (docs/batch.md). Re-running "
                    "with the same --out resumes: documents already done are skipped.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and folders")
    p.add_argument("--task", default=",".join(DEFAULT_TASKS),
                   help="tasks, comma-separated: ner, sentiment, summary, qa (with --question) "
                        f"or all (default {','.join(DEFAULT_TASKS)})")
    p.add_argument("--question", "-q", action="append", default=[],
                   help="a question for every document (repeat for several)")
    p.add_argument("--out", "-o", required=True, help="the table to write (results.parquet)")
    p.add_argument("--format", choices=FORMATS, dest="output_format",
                   help="parquet or jsonl (default: from --out's extension, else parquet)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (default: one per core; Ray: actors)")
    p.add_argument("--cluster", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: no ADDRESS starts a local Ray, an ADDRESS joins that "
                        "cluster (also when RAY_ADDRESS is set); needs pip install -e '.[cluster]'")
    p.add_argument("--model", "-m", action="append", default=[], metavar="TASK=DIR_OR_ID",
                   help="the model for a task: a folder or an installed id (default: the "
                        "store's default for the task)")
    p.add_argument("--device", default="auto", choices=engine.DEVICE_CHOICES)
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching GLOB (name or path below PATH; repeat)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files matching GLOB (repeat)")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="auto (a bar on a terminal), json (JSON lines on stderr) or none")
    p.add_argument("--retry-failed", action="store_true",
                   help="analyse again the documents that failed in an earlier run")
    p.add_argument("--top-k", type=int, default=1, help="answers per question (default 1)")
    p.add_argument("--thorough", action="store_true",
                   help="QA: read every window of each document")
    p.add_argument("--aggregation", default="simple",
                   choices=("none", "simple", "first", "average", "max"))
    p.add_argument("--sentences", type=int, default=3, metavar="N",
                   help="summary length in sentences (default 3)")
    p.add_argument("--ratio", type=float, help="summary length as a share of the sentences")
    p.add_argument("--keep-lookalikes", action="store_true",
                   help="let the models read look-alike letters of other scripts as written")
    p.set_defaults(func=run_batch)
    return p


def run_batch(args: argparse.Namespace, stderr=None) -> int:
    err = stderr if stderr is not None else sys.stderr
    try:
        return _run(args, err)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends as one line
        return command_failed(err, exc, usage=(BatchUsageError,), interrupted=(
            "interrupted; what was done is kept - run the same command again to resume"))


def settings_from(args) -> object:
    from engine.batch.settings import BATCH_TASKS, BatchSettings
    from engine.cli import _task_short
    from engine.tasks.registry import TASKS, task_spec

    names = [n.strip() for n in args.task.split(",") if n.strip()]
    if not names:
        raise BatchUsageError("--task needs at least one task (ner, sentiment, summary, qa)")
    wanted: set[str] = set()
    for name in names:
        if name == "all":
            wanted |= {t for t in BATCH_TASKS if t != "qa" or args.question}
            continue
        try:
            short = task_spec(name).short
        except ValueError as exc:
            raise BatchUsageError(str(exc)) from None
        if short not in BATCH_TASKS:
            raise BatchUsageError(f"--task {name}: batch rows hold {', '.join(BATCH_TASKS)}; "
                                  f"use albert-lens analyze for {short}")
        wanted.add(short)
    if "qa" in wanted and not args.question:
        raise BatchUsageError("--task qa needs a question: add --question \"...\"")
    tasks = tuple(s.short for s in TASKS if s.short in wanted)
    models: dict[str, str | None] = dict.fromkeys(tasks)
    for value in args.model:
        key, sep, rest = value.partition("=")
        task = _task_short(key) if sep else None
        if task is None:
            if len(tasks) != 1:
                raise BatchUsageError(f"--model {value}: say which task it is for, "
                                      "e.g. --model ner=DIR")
            task, rest = tasks[0], value
        if task in models:
            models[task] = rest
    if args.top_k < 1 or args.sentences < 1:
        raise BatchUsageError("--top-k and --sentences must be at least 1")
    if args.ratio is not None and not 0 < args.ratio <= 1:
        raise BatchUsageError(f"--ratio {args.ratio}: a share of the sentences, more than 0 "
                              "and at most 1")
    if args.workers is not None and args.workers < 1:
        raise BatchUsageError("--workers must be at least 1")
    return BatchSettings(
        tasks=tasks, models=models, questions=tuple(args.question), device=args.device,
        precision=args.precision, aggregation=args.aggregation, top_k=args.top_k,
        thorough=args.thorough, sentences=args.sentences, ratio=args.ratio,
        fold_lookalikes=not args.keep_lookalikes)


def _run(args, err) -> int:
    from dataclasses import replace

    from engine.batch import files as batch_files
    from engine.batch import rows
    from engine.batch.progress import Progress
    from engine.batch.settings import model_identity, models_key
    from engine.batch.worker import resolve
    from engine.batch.writer import Output, format_for

    settings = settings_from(args)
    address = args.cluster if args.cluster is not None else os.environ.get("RAY_ADDRESS")
    cluster = args.cluster is not None or bool(address)
    if cluster:
        from engine.batch.ray_backend import require_ray

        require_ray()
    found = batch_files.collect(args.paths, args.include, args.exclude)
    if not found:
        raise batch_files.BatchInputError(
            "no documents found under " + ", ".join(args.paths)
            + " (.txt .md .html .pdf .docx .epub; see --include/--exclude)")
    # The models are resolved here, so a missing one is one line before any work; workers on
    # other nodes find a store model by its id, a folder by its path.
    identities, models = [], {}
    for task in settings.tasks:
        folder = resolve(task, settings.models.get(task))
        identity = model_identity(task, folder)
        identities.append(identity)
        installed = not os.path.isabs(identity.id)
        models[task] = identity.id if cluster and installed else os.fspath(folder)
    settings = replace(settings, models=models)
    expected_models = models_key(identities)
    analysis = settings.analysis_key()
    fmt = format_for(Path(args.out), args.output_format)
    progress = Progress(args.progress, err)
    with Output(Path(args.out), fmt) as output:
        done = output.done()
        todo, already, failed_before = [], 0, 0
        for f in found:
            key = done.get(f.path)
            if key is not None and rows.row_key(key) == (
                    f.path, f.size, f.mtime_ns, expected_models, analysis) \
                    and not (args.retry_failed and key["status"] == rows.FAILED):
                already += 1
                failed_before += key["status"] == rows.FAILED
            else:
                todo.append(f)
        kill_after = int(os.environ.get(KILL_AFTER_VARIABLE) or 0)
        received = 0
        if cluster:
            from engine.batch.ray_backend import run_ray

            progress.start(len(found), already, failed_before, "ray", args.workers or 0)
            run_ray(todo, settings, output, address or None, args.workers, progress)
        elif todo:
            from engine.batch.local import plan_workers, run_local

            workers, threads = plan_workers(len(todo), args.workers, settings.device)
            progress.start(len(found), already, failed_before, "local", workers)
            writer = output.part_writer()

            def on_row(row: dict) -> None:
                nonlocal received
                writer.add(row)
                progress.row(row)
                received += 1
                if kill_after and received >= kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)

            try:
                run_local(todo, settings, workers, threads, on_row)
            finally:
                writer.flush()
        else:
            progress.start(len(found), already, failed_before, "local", 0)
        count, failed = output.commit({f.path: (f.size, f.mtime_ns) for f in found})
    progress.finish(count, failed, str(output.out))
    return EXIT_ERROR if failed else EXIT_OK
