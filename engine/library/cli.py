"""`albert-lens library ...`: add folders, update, search and ask a library from the shell.

    albert-lens library add DIR [--no-recursive] [--no-update]   add a folder and index it
    albert-lens library update [--retry-failed]                  bring the index up to date
    albert-lens library status | search Q | ask Q | entities     [--format json|text]
    albert-lens library remove DIR
    (each takes --library NAME_OR_PATH; default: the library called "default")

Progress with an ETA goes to stderr when it is a terminal (or with --progress). Exit 0 on
success, 1 with a one-line reason on stderr for an error the user can fix, 2 for a usage error,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from engine.cli_errors import EXIT_OK, EXIT_USAGE, command_failed, fail


def add_library_parser(subparsers) -> argparse.ArgumentParser:
    """Add `library add | update | status | search | ask | entities | remove`."""
    library = subparsers.add_parser(
        "library", help="index folders of documents; search and ask across them",
        description="A local index of folders of documents: keyword and meaning search, "
                    "questions answered with the document, page and span they come from.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", "-l", default=None, metavar="NAME_OR_PATH",
                        help='library name (default "default") or a .sqlite3 file')
    common.add_argument("--format", default="text", choices=("text", "json"),
                        dest="output_format", help="text (default) or json on stdout")
    common.add_argument("--device", default="auto", choices=("auto", "gpu", "cpu"),
                        help="where the models run (default: auto)")
    common.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress on stderr (default: when stderr is a terminal)")
    sub = library.add_subparsers(dest="library_command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("add", parents=[common], help="add a folder and index it")
    p.add_argument("dir")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                   help="index subfolders too (default: yes)")
    p.add_argument("--update", action=argparse.BooleanOptionalAction, default=True,
                   help="index at once (default: yes)")
    p = sub.add_parser("update", parents=[common], help="bring the index up to date")
    p.add_argument("--wait", action="store_true",
                   help="wait for another process's update to finish instead of stopping")
    p.add_argument("--retry-failed", action="store_true",
                   help="read the files that failed to load again, even if unchanged")
    sub.add_parser("status", parents=[common], help="documents, stages, failures, disk use")
    p = sub.add_parser("search", parents=[common], help="passages that match a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many hits (default 10)")
    p = sub.add_parser("ask", parents=[common], help="answer a question from the library")
    p.add_argument("question")
    p.add_argument("--top-k", type=int, default=3, help="answers (default 3)")
    p = sub.add_parser("entities", parents=[common], help="the entities found, with counts")
    p.add_argument("--label", help="only this type (PER, ORG, LOC...)")
    p.add_argument("--query", help="only entities whose text contains this")
    p = sub.add_parser("remove", parents=[common], help="remove a folder from the library")
    p.add_argument("dir")
    library.set_defaults(func=run_library_command)
    return library


def run_library_command(args: argparse.Namespace, stdout=None, stderr=None) -> int:
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    handler = _HANDLERS.get(getattr(args, "library_command", None))
    if handler is None:
        return fail(err, "choose a library command: add, update, status, search, ask, "
                          "entities or remove", EXIT_USAGE)
    from engine.library import open_library

    try:
        with open_library(args.library, device=args.device) as lib:
            result = handler(lib, args, err)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends as one line
        return command_failed(err, exc, interrupted=(
            "interrupted; what was indexed is kept (run update to go on)."))
    data, text = result
    if args.output_format == "json":
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(text if text.endswith("\n") or not text else text + "\n")
    out.flush()
    return EXIT_OK


# --- commands ------------------------------------------------------------------------------------
def _add(lib, args, err):
    folder = lib.add_folder(args.dir, recursive=args.recursive)
    if not args.update:
        return {"folder": folder}, f"added {folder}"
    report = _run_update(lib, args, err)
    data = {"folder": folder, "update": report.to_dict()}
    return data, f"added {folder}\n{_report_text(report)}"


def _update(lib, args, err):
    report = _run_update(lib, args, err, wait=-1 if args.wait else 0,
                         retry_failed=args.retry_failed)
    return report.to_dict(), _report_text(report)


def _run_update(lib, args, err, wait: float = 0, retry_failed: bool = False):
    show = err.isatty() if args.progress is None else args.progress
    bar = _Progress(err) if show else None
    try:
        return lib.update(progress=bar, wait=wait, retry_failed=retry_failed)
    finally:
        if bar is not None:
            bar.clear()


def _status(lib, args, err):
    s = lib.status()
    from engine.sizes import format_size

    lines = [f"library   {s.path} ({format_size(s.disk_bytes)})",
             f"folders   {', '.join(s.folders) or 'none (albert-lens library add DIR)'}",
             (f"documents {s.documents}: {s.indexed['passages']} searchable, "
              f"{s.indexed['embeddings']} embedded, {s.indexed['entities']} with entities, "
              f"{len(s.failed)} failed"),
             f"passages  {s.passages}, embeddings {s.embeddings}, entities {s.entities}"]
    for stage, why in s.skipped.items():
        lines.append(f"skipped   {stage}: {why}")
    for path, why in s.failed:
        lines.append(f"failed    {path}: {why}")
    return s.to_dict(), "\n".join(lines)


def _where(path: str | None, page: int | None, start: int, end: int) -> str:
    return f"{path}" + (f" p.{page}" if page else "") + f" [{start}:{end}]"


def _search(lib, args, err):
    if args.k < 1:
        raise ValueError("-k must be at least 1")
    hits = lib.search(args.query, k=args.k)
    data = [dict(h.__dict__) for h in hits]
    lines = [f"{h.score:.4f}  {_where(h.path, h.page, h.start, h.end)}\n    {_short(h.text)}"
             for h in hits]
    return data, "\n".join(lines) or "no passage matches."


def _ask(lib, args, err):
    if args.top_k < 1:
        raise ValueError("--top-k must be at least 1")
    answers = lib.ask(args.question, top_k=args.top_k)
    data = [dict(a.__dict__) for a in answers]
    lines = []
    for a in answers:
        if a.no_answer:
            lines.append(f"{a.score:.3f}  (no answer in the library)")
        else:
            lines.append(f"{a.score:.3f}  {a.text}\n    {_where(a.path, a.page, a.start, a.end)}")
    return data, "\n".join(lines) or "no passage to read: the library has no matching text."


def _entities(lib, args, err):
    found = lib.entities(label=args.label, query=args.query)
    data = [dict(e.__dict__) for e in found]
    lines = [f"{e.type:<6} {e.text}  ({e.documents} documents, {e.mentions} mentions)"
             for e in found]
    return data, "\n".join(lines) or "no entities (is an entity model installed?)."


def _remove(lib, args, err):
    gone = lib.remove_folder(args.dir)
    return {"removed": os.path.abspath(args.dir), "documents": gone}, \
        f"removed {os.path.abspath(args.dir)} ({gone} documents)"


_HANDLERS = {"add": _add, "update": _update, "status": _status, "search": _search,
             "ask": _ask, "entities": _entities, "remove": _remove}


def _report_text(r) -> str:
    parts = [f"{r.new} new", f"{r.changed} changed", f"{r.moved} moved", f"{r.deleted} deleted",
             f"{r.unchanged} unchanged", f"{r.failed} failed", f"{r.embedded} embedded",
             f"{r.entities} with entities"]
    lines = [", ".join(parts) + f" in {r.seconds:.1f} s" + (" (cancelled)" if r.cancelled else "")]
    lines += [f"skipped {stage}: {why}" for stage, why in r.skipped.items()]
    return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[:limit - 1] + "…"


class _Progress:
    """`stage [####....] done/total ETA m:ss` on one line of stderr, per stage."""

    def __init__(self, stream):
        self.stream = stream
        self._stage = None
        self._t0 = time.monotonic()

    def __call__(self, event) -> None:
        if event.stage != self._stage:
            self._stage, self._t0 = event.stage, time.monotonic()
        if not event.total:
            line = f"{event.stage}…"
        else:
            width = 30
            filled = int(width * event.done / event.total)
            eta = ""
            if event.done:
                left = (time.monotonic() - self._t0) / event.done * (event.total - event.done)
                eta = f" ETA {int(left) // 60}:{int(left) % 60:02d}"
            line = (f"{event.stage:<10} [{'#' * filled}{'.' * (width - filled)}] "
                    f"{event.done}/{event.total}{eta}")
        self.stream.write("\r\033[K" + line)
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()
