"""`albert-lens models ...`: list, download, import, remove and choose default models.

`add_models_parser(subparsers)` adds the `models` command to the main parser and
`run_models_command(args)` runs it: 0 on success, non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from engine.errors import AlbertLensError, DownloadCancelled, ModelExistsError
from engine.models.catalog import TASKS, canonical_task, load_catalog
from engine.tasks.registry import all_names

TASK_CHOICES = all_names()
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


def add_models_parser(subparsers) -> argparse.ArgumentParser:
    """Add `models list | download | import | remove | default` to an argparse subparsers."""
    models = subparsers.add_parser(
        "models", help="list, download, import and remove models",
        description="Manage the models Albert Lens analyses documents with.",
    )
    sub = models.add_subparsers(dest="models_command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="show the installed models")
    p.add_argument("--catalog", action="store_true",
                   help="show the catalog of models that can be downloaded too")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("download", help="download a model from the Hugging Face Hub")
    p.add_argument("id", help="Hub model id, e.g. twmkn9/albert-base-v2-squad2")
    p.add_argument("--task", choices=TASK_CHOICES,
                   help="what the model is for (default: from the catalog or the checkpoint)")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--no-convert", action="store_true",
                   help="skip the one-time conversion to ONNX (done at first use instead)")

    p = sub.add_parser("import", help="copy a checkpoint folder into the store")
    p.add_argument("dir", help="a Hugging Face ALBERT checkpoint folder")
    p.add_argument("--task", choices=TASK_CHOICES,
                   help="what the model is for (default: from the architectures in config.json)")
    p.add_argument("--id", dest="model_id", help="the name to install it under "
                   "(default: the folder's name)")
    p.add_argument("--replace", action="store_true",
                   help="replace an installed model of the same id")
    p.add_argument("--no-convert", action="store_true",
                   help="skip the one-time conversion to ONNX (done at first use instead)")

    p = sub.add_parser("remove", help="delete an installed model")
    p.add_argument("id", help="the installed model's id or name")

    p = sub.add_parser("default", help="show or choose the model a task uses by default")
    p.add_argument("task", choices=TASK_CHOICES)
    p.add_argument("id", nargs="?", help="the installed model to use (omit to show the current)")

    models.set_defaults(func=run_models_command)
    return models


def run_models_command(args: argparse.Namespace, stdout=None, stderr=None) -> int:
    """Run a parsed `models` command; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    command = getattr(args, "models_command", None)
    handlers = {
        "list": _list, "download": _download, "import": _import, "remove": _remove,
        "default": _default,
    }
    if command not in handlers:
        _fail(err, "choose a models command: list, download, import, remove or default")
        return EXIT_USAGE
    try:
        return handlers[command](args, out, err)
    except DownloadCancelled as exc:
        _fail(err, str(exc))
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        _fail(err, "interrupted; nothing was installed. Run the same command again to resume.")
        return EXIT_CANCELLED
    except ModelExistsError as exc:
        _fail(err, str(exc))
        return EXIT_USAGE
    except AlbertLensError as exc:
        _fail(err, str(exc))
        return EXIT_ERROR
    except ValueError as exc:
        _fail(err, str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        raise  # `| head` closed stdout: engine.cli.main ends quietly
    except Exception as exc:  # a bug of ours still gets one line, not a traceback
        if os.environ.get("ALBERT_LENS_DEBUG"):
            raise
        _fail(err, f"unexpected {type(exc).__name__}: {exc} "
                   "(set ALBERT_LENS_DEBUG=1 for details)")
        return EXIT_ERROR


def _fail(err, message: str) -> None:
    one_line = " ".join(str(message).split())
    print(f"albert-lens: error: {one_line}", file=err)


# --- list ---------------------------------------------------------------------------------------
def _defaults_in_use() -> dict[str, str]:
    from engine.models import store

    chosen = {}
    for task in TASKS:
        try:
            chosen[task] = store.default_model(task).id
        except AlbertLensError:
            pass
    return chosen


def _list(args, out, err) -> int:
    from engine.models import store

    installed = store.list_installed()
    defaults = _defaults_in_use()
    if args.json:
        data = {"installed": [
            {**m.to_dict(), "default": defaults.get(m.task) == m.id} for m in installed]}
        if args.catalog:
            data["catalog"] = [_entry_dict(e) for e in load_catalog()]
        print(json.dumps(data, indent=2), file=out)
        return 0
    if installed:
        rows = [("ID", "TASK", "SIZE", "SOURCE", "REVISION", "DEFAULT")]
        for m in installed:
            rows.append((m.id, m.task, f"{m.size_mb:.1f} MB", m.source, m.short_revision,
                         "yes" if defaults.get(m.task) == m.id else ""))
        _table(rows, out)
        print(f"\nStore: {store.store_dir()}", file=out)
    else:
        print(f"No models are installed (store: {store.store_dir()}).", file=out)
    if args.catalog or not installed:
        have = {m.id.lower() for m in installed}
        print("\nCatalog (albert-lens models download ID):", file=out)
        rows = [("ID", "TASK", "SIZE", "LICENCE", "STANDARD", "INSTALLED")]
        for e in load_catalog():
            rows.append((e.id, e.task, e.size_text, e.licence.split(" (")[0],
                         "yes" if e.standard else "", "yes" if e.id.lower() in have else ""))
        _table(rows, out)
    return 0


def _entry_dict(entry) -> dict:
    return {
        "id": entry.id, "task": entry.task, "title": entry.title, "size_mb": entry.size_mb,
        "size_exact": entry.size_exact, "licence": entry.licence, "metric": entry.metric,
        "standard": entry.standard, "labels": list(entry.labels),
        "label_map": dict(entry.label_map),
    }


def _table(rows, out) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)


# --- download / import --------------------------------------------------------------------------
class ProgressBar:
    """A one-line text progress bar (redrawn in place on a terminal, in steps otherwise)."""

    def __init__(self, stream, width: int = 28, min_interval: float = 0.1):
        self.stream = stream
        self.width = width
        self.min_interval = min_interval
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._last_step = -1
        self._drawn = False

    def __call__(self, done: int, total: int, name: str) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        if self.tty:
            now = time.monotonic()
            if now - self._last < self.min_interval and fraction < 1.0:
                return
            self._last = now
            filled = round(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            line = (f"{name[-30:]:<30} [{bar}] {fraction * 100:5.1f}%  "
                    f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")
            self.stream.write("\r" + line)
            self.stream.flush()
            self._drawn = True
        else:
            step = int(fraction * 10)
            if step > self._last_step:
                self._last_step = step
                print(f"  {step * 10:3d}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB", file=self.stream)

    def message(self, text: str) -> None:
        self.close()
        print(f"{text}…", file=self.stream)

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _download(args, out, err) -> int:
    from engine.models.download import download_model

    bar = ProgressBar(err)
    try:
        model = download_model(
            args.id, task=canonical_task(args.task) if args.task else None,
            revision=args.revision, progress=bar, stage=bar.message,
            convert=not args.no_convert,
        )
    finally:
        bar.close()
    print(f"Installed {model.id} ({model.task}, {model.size_mb:.1f} MB, revision "
          f"{model.short_revision}) in {model.path}", file=out)
    return 0


def _import(args, out, err) -> int:
    from engine.models.importer import import_model

    # Without --task the importer reads the task from config.json (or says it cannot).
    task = canonical_task(args.task) if args.task else None
    try:
        model = import_model(args.dir, task, model_id=args.model_id,
                             convert=not args.no_convert, replace=args.replace)
    except ModelExistsError as exc:
        raise ModelExistsError(
            f"{exc.model_id} is already installed; add --replace to replace it, or --id NAME "
            "to install this one beside it.", exc.model_id) from exc
    how = "" if args.task else " (task from config.json)"
    print(f"Imported {args.dir} as {model.id} ({model.task}{how}, {model.size_mb:.1f} MB) into "
          f"{model.path}", file=out)
    return 0


# --- remove / default ---------------------------------------------------------------------------
def _remove(args, out, err) -> int:
    from engine.models import store

    model = store.remove(args.id)
    print(f"Removed {model.id}.", file=out)
    return 0


def _default(args, out, err) -> int:
    from engine.models import store

    task = canonical_task(args.task)
    if args.id:
        model = store.set_default_model(task, args.id)
        print(f"{model.id} is now the default {task} model.", file=out)
    else:
        model = store.default_model(args.task)
        print(model.id, file=out)
    return 0
