"""`albert-lens`: the headless engine's commands; with no command, the desktop app.

engine/ never imports the app: the installed `albert-lens` is `app.entry:main`, which calls `main`
here with `open_app` set. Run on its own (`python -m engine.cli`), this module is headless.

    albert-lens [FILE ...]                 open the desktop app (with these documents)
    albert-lens analyze FILE --task ...    analyse a document, JSON (or a report) on stdout
    albert-lens models ...                 manage models
    albert-lens --version

Exit status: 0 on success, 1 when the work cannot be done (missing model, unreadable file...),
2 for a usage error (a mistyped command gets "did you mean"), 130 when interrupted, 141 when the
reader of stdout went away (`| head`); the reason is one line on stderr, never a traceback (set
ALBERT_LENS_DEBUG=1 to see one). `analyze --task all` keeps what it could do: tasks without an
installed model are skipped (exit 0 when one ran), a failed task is reported (exit 1) and the
others' results are still printed. The JSON is docs/results-json.md, built by engine.report.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
import traceback
from collections.abc import Callable

import engine
from engine.cli_errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    command_failed,
    describe_error,
)
from engine.errors import Cancelled, ModelNotFoundError
from engine.report import check_spans, display_text, plain, results_report, to_json
from engine.tasks.registry import TASKS, model_kind, task_spec, tasks_using

# 128 + SIGPIPE, what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141
# --task values, in the order `all` runs them (the question-answering task only with a question).
ANALYZE_TASKS = (*(spec.short for spec in TASKS), "all")


def _task_short(name: str) -> str | None:
    """The --task value a --model TASK= prefix means (any name of a task or its kind of model)."""
    try:
        return task_spec(name).short
    except ValueError:
        pass
    try:
        return tasks_using(model_kind(name).name)[0].short
    except (ValueError, IndexError):
        return None


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
    from engine.models.cli import add_models_parser  # the store and catalog: only for commands

    add_models_parser(subparsers)
    from engine.library.cli import add_library_parser

    add_library_parser(subparsers)
    from engine.batch.cli import add_batch_parser

    add_batch_parser(subparsers)
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


def commands() -> set[str]:
    return {"analyze", "models", "library", "batch"}


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
    p.add_argument("--device", default="auto", choices=engine.DEVICE_CHOICES,
                   help="where the models run (default: auto = a GPU when there is one)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    p.add_argument("--format", default="json", choices=("json", "text"), dest="output_format",
                   help="json (default; schema in docs/results-json.md) or a readable text report")
    p.add_argument("--include-text", action=argparse.BooleanOptionalAction, default=True,
                   help="put the document's text in the JSON, which the offsets index "
                        "(default: yes)")
    p.add_argument("--top-k", type=int, default=1, help="answers per question (default 1)")
    p.add_argument("--thorough", action="store_true",
                   help="QA: read every window of the document instead of the best passages")
    p.add_argument("--aggregation", default="simple",
                   choices=("none", "simple", "first", "average", "max"),
                   help="how entity tokens are grouped (default simple)")
    p.add_argument("--sentences", type=int, default=3, metavar="N",
                   help="summary length in sentences (default 3)")
    p.add_argument("--ratio", type=float, help="summary length as a share of the sentences")
    p.add_argument("--labels", metavar="A,B,C",
                   help="classify: the labels to sort the document into, comma-separated")
    p.add_argument("--multi-label", action="store_true",
                   help="classify: score each label on its own (several may apply)")
    p.add_argument("--hypothesis-template", metavar="TEMPLATE",
                   help="classify: the sentence each label becomes (default \"This example is "
                        "{}.\")")
    p.add_argument("--explain", action="store_true",
                   help="add word weights (leave-one-out) for each sentiment sentence, each "
                        "classified paragraph and each answer's paragraph")
    p.add_argument("--keep-lookalikes", action="store_true",
                   help="let the models read words written with look-alike letters of other "
                        "scripts (\"AᏞBERT\") as written, instead of as the words they spell")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=run_analyze)
    return p


# --- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None,
         open_app: Callable[[list[str]], int] | None = None) -> int:
    """Run a command (`analyze`, `models`), or hand the FILE arguments to `open_app`."""
    try:
        try:
            return _main(argv, open_app)
        finally:
            # Flushed here, not at exit, so a closed pipe is seen while it can still be handled.
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        # `albert-lens ... | head`: the reader has what it wanted. Quiet, as other Unix tools.
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None, open_app: Callable[[list[str]], int] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    known = commands()
    if first is not None and first in known:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.func(args)
    meant = did_you_mean(first, known) if first is not None else None
    if meant is not None:
        print(f"albert-lens: unknown command '{display_text(first)}' — did you mean '{meant}'?",
              file=sys.stderr)
        return EXIT_USAGE
    parser = _app_parser()
    args = parser.parse_args(argv)
    if open_app is None:
        parser.error("no command given; the desktop app is started by the installed "
                     "'albert-lens' command (app.entry)")
    return open_app(args.files)


def did_you_mean(word: str, known: set[str]) -> str | None:
    """The command `word` looks like a typo of, or None when it may be a file to open.

    Anything that exists, or has a path separator or an extension, is a file for the app; so is
    a word that is close to no command.
    """
    if os.sep in word or "/" in word or (os.altsep and os.altsep in word) or "." in word:
        return None
    if os.path.exists(word):
        return None
    matches = difflib.get_close_matches(word.lower(), sorted(known), n=1, cutoff=0.7)
    return matches[0] if matches else None


def _stdout_to_devnull() -> None:
    # What is still buffered goes nowhere instead of failing again at interpreter exit.
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def run_analyze(args: argparse.Namespace, stdout=None, stderr=None) -> int:
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        report, code = analyze(args, err)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends as one line
        return command_failed(err, exc, usage=(UsageError,))
    if report is None:
        return code
    if args.output_format == "json":
        write_out(out, to_json(report) + "\n", utf8=True)
    else:
        write_out(out, text_report(report))
    return code


def write_out(out, text: str, utf8: bool = False) -> None:
    """Write `text` whatever the stream's encoding: JSON always as UTF-8 bytes; a report with
    what the stream cannot encode escaped, never a UnicodeEncodeError after the work is done."""
    buffer = getattr(out, "buffer", None)
    if utf8 and buffer is not None:
        out.flush()
        buffer.write(text.encode("utf-8"))
        buffer.flush()
        return
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = text.encode(encoding, "backslashreplace").decode(encoding)
    out.write(text)
    out.flush()


# --- the work ------------------------------------------------------------------------------------
def _task_list(args) -> list[str]:
    if args.task == "all":
        return [spec.short for spec in TASKS
                if (spec.name != "question-answering" or args.question)
                and (spec.short != "classify" or args.labels)]
    if args.task == "qa" and not args.question:
        raise UsageError("--task qa needs a question: add --question \"...\"")
    if args.task == "classify" and not (args.labels or "").strip(" ,"):
        raise UsageError("--task classify needs labels: add --labels \"invoice,contract,...\"")
    return [args.task]


def _models(args, tasks: list[str]) -> dict[str, str | None]:
    chosen: dict[str, str | None] = dict.fromkeys(tasks)
    for value in args.model:
        key, sep, rest = value.partition("=")
        task = _task_short(key) if sep else None
        if task is not None:
            if task in chosen:
                chosen[task] = rest
            continue
        if len(tasks) != 1:
            raise UsageError(
                f"--model {value}: with several tasks say which one it is for, "
                f"e.g. --model ner=DIR (tasks: {', '.join(ANALYZE_TASKS[:-1])})"
            )
        chosen[tasks[0]] = value
    if args.embedding_model and "summary" in chosen:
        chosen["summary"] = chosen["summary"] or args.embedding_model
    return chosen


def _check_options(args) -> None:
    if args.top_k < 1:
        raise UsageError("--top-k must be at least 1")
    if args.sentences < 1:
        raise UsageError("--sentences must be at least 1")
    if args.ratio is not None and not 0 < args.ratio <= 1:
        raise UsageError(f"--ratio {args.ratio}: the ratio is a share of the sentences, "
                         "more than 0 and at most 1 (e.g. --ratio 0.2)")


def _how_to_get(task: str, exc: Exception) -> str:
    message = " ".join(str(exc).split()).rstrip(".")
    if "models import" not in message:
        message += f"; or import a folder: albert-lens models import DIR --task {task}"
    return message


def analyze(args, err) -> tuple[dict | None, int]:
    """Run the asked tasks on the document: (the report, or None when no task ran; exit code).

    One task asked for: its failure is an exception. `--task all`: a task whose default model
    is not installed is skipped, a task that fails is reported on stderr, and the others' results
    are kept; the exit code is 1 when a task failed.
    """
    tasks = _task_list(args)
    models = _models(args, tasks)
    _check_options(args)
    every = args.task == "all"
    show = err.isatty() if args.progress is None else args.progress
    status = _Status(err, show)

    document = engine.load_document(args.file)
    info: dict[str, dict] = {}
    pipes = {}
    device = None
    # Load every model first, so a missing one is known before any long work.
    for task in tasks:
        status.message(f"loading the {task} model…")
        try:
            pipe = engine.pipeline(task, model=models[task], device=args.device,
                                   precision=args.precision,
                                   fold_lookalikes=not args.keep_lookalikes,
                                   **_pipeline_options(task, args))
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            # A model the user named is a hard error: they asked for that one.
            if not every or models[task] is not None:
                raise
            if isinstance(exc, ModelNotFoundError):
                info[task] = {"status": "skipped", "error": _how_to_get(task, exc)}
                status.say(f"albert-lens: warning: skipped {task}: {info[task]['error']}")
            else:
                _debug_traceback(err, exc)
                info[task] = {"status": "failed", "error": describe_error(exc)}
                status.say(f"albert-lens: error: {task} failed: {info[task]['error']}")
            continue
        pipes[task] = pipe
        info[task] = {"status": "loaded", "model": pipe.model_name}
        if device is None:
            device = pipe.device.describe()
            if args.device == "gpu" and not pipe.device.is_gpu:
                why = pipe.device.fallback_reason or "no GPU is available to ONNX Runtime"
                status.say(f"albert-lens: note: --device gpu: the models run on the CPU ({why})")
    status.clear()

    results: dict = {}
    for task, pipe in pipes.items():
        t0 = time.perf_counter()
        try:
            results[task] = _run_task(task, pipe, document, args, status)
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:
            if not every:
                raise
            _debug_traceback(err, exc)
            info[task].update(status="failed", error=describe_error(exc))
            status.say(f"albert-lens: error: {task} failed: {info[task]['error']}; "
                       "the other tasks' results are kept")
            continue
        finally:
            status.clear()
        info[task].update(status="done", seconds=round(time.perf_counter() - t0, 3))

    failed = any(i["status"] == "failed" for i in info.values())
    if not results:
        if not failed:
            status.say("albert-lens: error: no model is installed for any of these tasks; "
                       "install one as said above (albert-lens models list --catalog)")
        return None, EXIT_ERROR
    report = results_report(
        document, entities=results.get("ner"), questions=results.get("qa"),
        summary=results.get("summary"), sentiment=results.get("sentiment"), tasks=info,
        classification=results.get("classify"),
        explanations=_explanations(pipes, results, document) if args.explain else None,
        device=device, include_text=args.include_text,
        lookalikes=engine.fold_lookalikes(document.text), folding=not args.keep_lookalikes,
    )
    check_spans(report, plain(document.text))  # as written: lone surrogates are U+FFFD
    return report, EXIT_ERROR if failed else EXIT_OK


def _run_task(task: str, pipe, document, args, status):
    if task == "ner":
        return pipe(document, progress=status.bar("entities"))
    if task == "sentiment":
        return pipe(document, progress=status.bar("sentiment"))
    if task == "summary":
        options = {"ratio": args.ratio} if args.ratio else {"max_sentences": args.sentences}
        return pipe(document, progress=status.bar("summary"), **options)
    if task == "classify":
        return pipe(document, args.labels, progress=status.bar("classify"))
    return [(question, pipe(question, document, top_k=args.top_k, progress=status.bar("answer")))
            for question in args.question]


def _debug_traceback(err, exc: BaseException) -> None:
    if os.environ.get("ALBERT_LENS_DEBUG"):
        traceback.print_exception(exc, file=err)


def _pipeline_options(task: str, args) -> dict:
    if task == "ner":
        return {"aggregation": args.aggregation}
    if task == "qa":
        return {"thorough": args.thorough, "top_k": args.top_k}
    if task == "classify":
        template = {"hypothesis_template": args.hypothesis_template} \
            if args.hypothesis_template else {}
        return {"multi_label": args.multi_label, **template}
    return {}


def _explanations(pipes: dict, results: dict, document) -> dict:
    """--explain: word weights for each sentiment sentence (its label), each classified
    paragraph (its top label) and sentence weights for each answer, within its paragraph."""
    from engine.tasks.explain import explain_parts
    from engine.tasks.sentences import paragraph_ranges

    text, out = document.text, {}
    if "sentiment" in results:
        parts = [(s.start, s.end, s.label, None) for s in results["sentiment"].sentences]
        out["sentiment"] = explain_parts(pipes["sentiment"].explain, text, parts)
    if "classify" in results:
        found, labels = results["classify"], list(results["classify"].labels)
        zs = pipes["classify"]
        parts = [(p.start, p.end, p.label, {"labels": labels}) for p in found.parts]
        out["classify"] = explain_parts(
            lambda piece, label, labels: zs.explain(piece, labels, label), text, parts)
    if "qa" in results:
        paragraphs = [(p.start, p.end) for p in document.paragraphs or []] or \
            paragraph_ranges(text)
        parts = []
        for question, answers in results["qa"]:
            for answer in answers:
                if answer.no_answer:
                    continue
                a, b = next(((x, y) for x, y in paragraphs if x <= answer.start < y),
                            (0, len(text)))
                span = (answer.start - a, min(answer.end, b) - a)
                parts.append((a, b, answer.text, {"question": question, "span": span}))
        qa = pipes["qa"]
        out["qa"] = explain_parts(
            lambda piece, label, question, span: qa.explain(question, piece, span), text, parts)
    return out


# --- text report ---------------------------------------------------------------------------------
LOOKALIKES_SHOWN = 20


def text_report(report: dict) -> str:
    doc = report["document"]
    lines = [f"{doc['title']}  ({doc['format']}, {doc['length']} characters"
             + (f", {len(doc['pages'])} pages" if doc.get("pages") else "") + ")"]
    if doc.get("path"):
        lines.append(f"  {doc['path']}")
    lines.append(f"Device: {report['device']}")
    for task, done in report["tasks"].items():
        if done.get("model"):
            lines.append(f"Model ({task}): {done['model']}")
    for task, done in report["tasks"].items():
        if done["status"] != "done":
            lines.append(f"{task}: {done['status']} ({done.get('error')})")
    lookalikes = report.get("lookalikes")
    if lookalikes and lookalikes["count"]:
        how = {True: "read as the words they spell", False: "read as written"}.get(
            lookalikes["folding"], "")
        lines += ["", f"Look-alike letters: {lookalikes['count']} of {lookalikes['words']} words "
                      f"({lookalikes['share']:.1%})" + (f", {how}" if how else "")]
        for x in lookalikes["items"][:LOOKALIKES_SHOWN]:
            lines.append(f"  {_one_line(x['text'])} = {_one_line(x['folded'])}  "
                         f"({', '.join(x['scripts'])})  [{_where(x)}]")
        if lookalikes["count"] > LOOKALIKES_SHOWN:
            lines.append(f"  … and {lookalikes['count'] - LOOKALIKES_SHOWN} more (all in the JSON)")
    if "entities" in report:
        ents = report["entities"]
        lines += ["", f"Entities ({len(ents)})"]
        width = max((len(e["label"]) for e in ents), default=0)
        for e in ents:
            lines.append(f"  {e['label']:<{width}}  {_one_line(e['text'])}  "
                         f"[{_where(e)}]  {_score(e['score'])}")
    if "questions" in report:
        lines.append("")
        for q in report["questions"]:
            lines.append(f"Q: {q['question']}")
            for a in q["answers"]:
                if a["no_answer"]:
                    lines.append(f"  (no answer in the document)  {_score(a['score'])}")
                else:
                    lines.append(f"  {_one_line(a['text'])}  [{_where(a)}]  "
                                 f"{_score(a['score'])}")
    if "sentiment" in report:
        s = report["sentiment"]
        scores = ", ".join(f"{k} {_score(v)}" for k, v in s["scores"].items())
        lines += ["", f"Sentiment: {s['label']} ({_score(s['score'])}; {scores})"]
        counts: dict[str, int] = {}
        for x in s["sentences"]:
            counts[x["label"]] = counts.get(x["label"], 0) + 1
        if counts:
            lines.append("  sentences: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if "summary" in report:
        sentences = report["summary"]["sentences"]
        lines += ["", f"Summary ({len(sentences)} sentences)"]
        for x in sentences:
            lines.append(f"  - {_one_line(x['text'])}  [{_where(x)}]")
    if "classification" in report:
        c = report["classification"]
        lines += ["", "Classification" + (" (multi-label)" if c["multi_label"] else "") + ": "
                  + ", ".join(f"{k} {_score(v)}" for k, v in zip(c["labels"], c["scores"]))]
        for x in c["parts"]:
            lines.append(f"  {x['labels'][0]} {_score(x['scores'][0])}  "
                         f"{_one_line(x['text'], 80)}  [{_where(x)}]")
    if "explanations" in report:
        e = report["explanations"]
        lines += ["", (f"Explanations ({len(e['items'])}; weight = the label's probability "
                       "minus it without the word)")]
        for item in e["items"]:
            top = sorted(item["attributions"], key=lambda a: -abs(a["weight"]))[:5]
            lines.append(f"  {item['task']} {item['label']!r} [{_where(item)}]: " + ", ".join(
                f"{_one_line(a['text'], 30)} {a['weight']:+.3f}" for a in top))
        for item in e["skipped"]:
            lines.append(f"  {item['task']} [{_where(item)}] not explained: {item['reason']}")
    return "\n".join(lines) + "\n"


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


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

    def say(self, line: str) -> None:
        """A message line of its own, never mixed into the progress bar."""
        self.clear()
        print(" ".join(line.split()), file=self.stream)
        self.stream.flush()

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
