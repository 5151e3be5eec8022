"""`albert-lens`: the headless engine's commands; with no command, the desktop app.

engine/ never imports the app: the installed `albert-lens` is `app.entry:main`, which calls `main`
here with `open_app` set. Run on its own (`python -m engine.cli`), this module is headless.

    albert-lens [FILE ...]                 open the desktop app (with these documents)
    albert-lens analyze FILE --task ...    analyse a document, JSON (or a report) on stdout
    albert-lens models ...                 manage models (when engine.models.cli is present)
    albert-lens --version

Exit status: 0 on success, 1 when the work cannot be done (missing model, unreadable file...),
2 for a usage error, 130 when interrupted; the reason is one line on stderr, never a traceback
(set ALBERT_LENS_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import engine
from engine.errors import AlbertLensError, Cancelled

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
ANALYZE_TASKS = ("qa", "ner", "sentiment", "summary", "all")
# --task value -> engine task name, in the order `all` runs them.
ENGINE_TASK = {"ner": "ner", "sentiment": "sentiment", "summary": "summarization",
               "qa": "question-answering"}
MODEL_KEYS = {"qa": "qa", "question-answering": "qa", "ner": "ner", "entities": "ner",
              "token-classification": "ner", "sentiment": "sentiment",
              "text-classification": "sentiment", "summary": "summary",
              "summarization": "summary", "embeddings": "summary"}


class UsageError(Exception):
    """A command line that cannot work as given (exit 2)."""


# --- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-lens",
        description="Read documents with a local ALBERT engine. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"albert-lens {engine.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_analyze_parser(subparsers)
    models_cli = _models_cli()
    if models_cli is not None:
        models_cli.add_models_parser(subparsers)
    return parser


def _app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-lens",
        description="Read documents with a local ALBERT engine. With no command, opens the app. "
                    f"Commands: {', '.join(sorted(commands()))} (albert-lens COMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"albert-lens {engine.__version__}")
    parser.add_argument("files", nargs="*", help="documents to open in the app")
    return parser


def _models_cli():
    try:
        from engine.models import cli as models_cli
    except ImportError:
        return None
    return models_cli


def commands() -> set[str]:
    names = {"analyze"}
    if _models_cli() is not None:
        names.add("models")
    return names


def add_analyze_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "analyze", help="analyse a document without the app (JSON on stdout)",
        description="Analyse a document with local models and print the results with exact "
                    "character offsets into the document's text.",
    )
    p.add_argument("file", help="a .txt .md .html .pdf .docx .epub document")
    p.add_argument("--task", choices=ANALYZE_TASKS, default="all",
                   help="what to do (default: all; qa runs only with --question)")
    p.add_argument("--question", "-q", action="append", default=[],
                   help="a question about the document (repeat for several)")
    p.add_argument("--model", "-m", action="append", default=[], metavar="[TASK=]DIR_OR_ID",
                   help="model folder or installed id; with --task all, TASK=MODEL (repeat)")
    p.add_argument("--embedding-model", metavar="DIR_OR_ID",
                   help="sentence-embedding model for the summary")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"),
                   help="where the models run (default: auto = a GPU when there is one)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--format", default="json", choices=("json", "text"), dest="output_format",
                   help="json (default) or a readable text report")
    p.add_argument("--top-k", type=int, default=1, help="answers per question (default 1)")
    p.add_argument("--thorough", action="store_true",
                   help="QA: read every window of the document instead of the best passages")
    p.add_argument("--aggregation", default="simple",
                   choices=("none", "simple", "first", "average", "max"),
                   help="how entity tokens are grouped (default simple)")
    p.add_argument("--sentences", type=int, default=3, metavar="N",
                   help="summary length in sentences (default 3)")
    p.add_argument("--ratio", type=float, help="summary length as a share of the sentences")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=run_analyze)
    return p


# --- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None,
         open_app: Callable[[list[str]], int] | None = None) -> int:
    """Run a command (`analyze`, `models`), or hand the FILE arguments to `open_app`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first in commands():
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.func(args)
    parser = _app_parser()
    args = parser.parse_args(argv)
    if open_app is None:
        parser.error("no command given; the desktop app is started by the installed "
                     "'albert-lens' command (app.entry)")
    return open_app(args.files)


def run_analyze(args: argparse.Namespace, stdout=None, stderr=None) -> int:
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        report = analyze(args, err)
    except UsageError as exc:
        return _fail(err, str(exc), EXIT_USAGE)
    except (Cancelled, KeyboardInterrupt):
        return _fail(err, "interrupted.", EXIT_INTERRUPTED)
    except AlbertLensError as exc:
        return _fail(err, str(exc), EXIT_ERROR)
    except ValueError as exc:
        return _fail(err, str(exc), EXIT_USAGE)
    except Exception as exc:
        if os.environ.get("ALBERT_LENS_DEBUG"):
            raise
        return _fail(err, f"unexpected {type(exc).__name__}: {exc} "
                          "(set ALBERT_LENS_DEBUG=1 for details)", EXIT_ERROR)
    if args.output_format == "json":
        json.dump(report, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(text_report(report))
    out.flush()
    return EXIT_OK


def _fail(err, message: str, code: int) -> int:
    print(f"albert-lens: error: {' '.join(str(message).split())}", file=err)
    err.flush()
    return code


# --- the work ------------------------------------------------------------------------------------
def _task_list(args) -> list[str]:
    if args.task == "all":
        tasks = ["ner", "sentiment", "summary"]
        return tasks + (["qa"] if args.question else [])
    if args.task == "qa" and not args.question:
        raise UsageError("--task qa needs a question: add --question \"...\"")
    return [args.task]


def _models(args, tasks: list[str]) -> dict[str, str | None]:
    chosen: dict[str, str | None] = dict.fromkeys(tasks)
    for value in args.model:
        key, sep, rest = value.partition("=")
        if sep and key.strip().lower() in MODEL_KEYS:
            task = MODEL_KEYS[key.strip().lower()]
            if task in chosen:
                chosen[task] = rest
            continue
        if len(tasks) != 1:
            raise UsageError(
                f"--model {value}: with several tasks say which one it is for, "
                "e.g. --model ner=DIR (tasks: qa, ner, sentiment, summary)"
            )
        chosen[tasks[0]] = value
    if args.embedding_model and "summary" in chosen:
        chosen["summary"] = chosen["summary"] or args.embedding_model
    return chosen


def analyze(args, err) -> dict:
    """Run the asked tasks on the document; the JSON-ready report."""
    tasks = _task_list(args)
    models = _models(args, tasks)
    if args.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    if args.sentences < 1:
        raise UsageError("--sentences must be at least 1")
    show = err.isatty() if args.progress is None else args.progress
    status = _Status(err, show)

    started = time.perf_counter()
    document = engine.load_document(args.file)
    text = document.text
    report: dict = {"document": _document_info(document), "device": None, "models": {}}
    timings: dict[str, float] = {"load_document": round(time.perf_counter() - started, 3)}
    page_of = document.page_of if getattr(document, "pages", None) else None

    # Load every model first, so a missing one fails before any long work.
    pipes = {}
    for task in tasks:
        status.message(f"loading the {task} model…")
        t0 = time.perf_counter()
        options = _pipeline_options(task, args)
        pipes[task] = engine.pipeline(ENGINE_TASK[task], model=models[task], device=args.device,
                                      precision=args.precision, **options)
        timings[f"load_{task}"] = round(time.perf_counter() - t0, 3)
        report["models"][task] = pipes[task].model_name
        if report["device"] is None:
            report["device"] = pipes[task].device.describe()
    status.clear()

    for task in tasks:
        t0 = time.perf_counter()
        pipe = pipes[task]
        if task == "ner":
            result = pipe(document, progress=status.bar("entities"))
            report["entities"] = [_span(e, page_of) for e in result]
        elif task == "sentiment":
            result = pipe(document, progress=status.bar("sentiment"))
            report["sentiment"] = {
                "label": result.label, "score": result.score, "scores": result.scores,
                "sentences": [_span(s, page_of) for s in result.sentences],
            }
        elif task == "summary":
            options = {"ratio": args.ratio} if args.ratio else {"max_sentences": args.sentences}
            result = pipe(document, progress=status.bar("summary"), **options)
            report["summary"] = [_span(s, page_of) for s in result.sentences]
        else:
            answers = []
            for question in args.question:
                found = pipe(question, document, top_k=args.top_k, progress=status.bar("answer"))
                for a in found:
                    item = {"question": question, **_span(a, page_of)}
                    if a.no_answer:
                        item.pop("page", None)
                    answers.append(item)
            report["answers"] = answers
        timings[task] = round(time.perf_counter() - t0, 3)
        status.clear()
    _check_spans(report, text)
    report["timings"] = timings
    return report


def _pipeline_options(task: str, args) -> dict:
    if task == "ner":
        return {"aggregation": args.aggregation}
    if task == "qa":
        return {"thorough": args.thorough, "top_k": args.top_k}
    return {}


def _document_info(document) -> dict:
    info = {
        "path": str(document.path) if document.path is not None else None,
        "title": document.title,
        "format": document.format,
        "chars": len(document.text),
        "paragraphs": len(document.paragraphs),
    }
    if document.pages:
        info["pages"] = len(document.pages)
    if document.warnings:
        info["warnings"] = list(document.warnings)
    return info


def _span(result, page_of: Callable[[int], int | None] | None) -> dict:
    from engine.tasks.results import to_dict

    item = to_dict(result)
    if page_of is not None:
        item["page"] = page_of(result.start)
    return item


def _check_spans(report: dict, text: str) -> None:
    """The promise every consumer relies on; a broken span is a bug, never silent."""
    spans = list(report.get("entities", [])) + list(report.get("summary", []))
    spans += report.get("sentiment", {}).get("sentences", [])
    spans += [a for a in report.get("answers", []) if not a.get("no_answer")]
    for s in spans:
        if text[s["start"]:s["end"]] != s["text"]:
            raise RuntimeError(f"span {s['start']}..{s['end']} does not match the text")


# --- text report ---------------------------------------------------------------------------------
def text_report(report: dict) -> str:
    doc = report["document"]
    lines = [f"{doc['title']}  ({doc['format']}, {doc['chars']} characters"
             + (f", {doc['pages']} pages" if doc.get("pages") else "") + ")"]
    if doc.get("path"):
        lines.append(f"  {doc['path']}")
    lines.append(f"Device: {report['device']}")
    for task, name in report["models"].items():
        lines.append(f"Model ({task}): {name}")
    if "entities" in report:
        ents = report["entities"]
        lines += ["", f"Entities ({len(ents)})"]
        width = max((len(e["label"]) for e in ents), default=0)
        for e in ents:
            lines.append(f"  {e['label']:<{width}}  {_one_line(e['text'])}  "
                         f"[{_where(e)}]  {e['score']:.2f}")
    if "answers" in report:
        lines.append("")
        for a in report["answers"]:
            lines.append(f"Q: {a['question']}")
            if a.get("no_answer"):
                lines.append(f"  (no answer in the document)  {a['score']:.2f}")
            else:
                lines.append(f"  {_one_line(a['text'])}  [{_where(a)}]  {a['score']:.2f}")
    if "sentiment" in report:
        s = report["sentiment"]
        scores = ", ".join(f"{k} {v:.2f}" for k, v in s["scores"].items())
        lines += ["", f"Sentiment: {s['label']} ({s['score']:.2f}; {scores})"]
        counts: dict[str, int] = {}
        for x in s["sentences"]:
            counts[x["label"]] = counts.get(x["label"], 0) + 1
        if counts:
            lines.append("  sentences: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if "summary" in report:
        lines += ["", f"Summary ({len(report['summary'])} sentences)"]
        for x in report["summary"]:
            lines.append(f"  - {_one_line(x['text'])}  [{_where(x)}]")
    return "\n".join(lines) + "\n"


def _where(item: dict) -> str:
    where = f"{item['start']}-{item['end']}"
    return f"p.{item['page']} {where}" if item.get("page") else where


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- progress on stderr --------------------------------------------------------------------------
class _Status:
    """A one-line progress bar on stderr (only when asked, or when stderr is a terminal)."""

    def __init__(self, stream, enabled: bool):
        self.stream = stream
        self.enabled = enabled
        self._dirty = False

    def message(self, text: str) -> None:
        if self.enabled:
            self._write(text)

    def bar(self, label: str) -> Callable[[int, int], None] | None:
        if not self.enabled:
            return None

        def show(done: int, total: int) -> None:
            width = 30
            filled = int(width * done / total) if total else width
            self._write(f"{label:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")

        return show

    def clear(self) -> None:
        if self.enabled and self._dirty:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._dirty = False

    def _write(self, text: str) -> None:
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self._dirty = True


if __name__ == "__main__":
    sys.exit(main())
