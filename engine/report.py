"""The one results JSON: a Document and its analyses as a JSON-ready dict (docs/results-json.md).

`albert-lens analyze` and the app's "Results as JSON" both call `results_report` and `to_json`,
so a script written against one reads the other. No Qt here.

Offsets are Python code points into `document.text`. The dict holds only str, int, float, bool,
None, lists and dicts; non-finite numbers become None so the JSON is strict (RFC 8259), and
lone surrogates (from a file name that is not valid UTF-8, say) never reach the output, so it is
always valid UTF-8.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine.tasks.registry import TASKS

SCHEMA = "albert-lens/results"
SCHEMA_VERSION = 1
TASK_NAMES = tuple(spec.short for spec in TASKS)
# The key each task's results live under.
RESULT_KEYS = {spec.short: spec.result_key for spec in TASKS}
STATUSES = ("done", "failed", "skipped")

_SURROGATE = re.compile("[\ud800-\udfff]")


def display_text(value: str) -> str:
    """`value` as valid Unicode: bytes a file name smuggled in as surrogates show as \\xNN."""
    if not _SURROGATE.search(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def display_path(path) -> str | None:
    """A path for people and for JSON: never raises, never emits lone surrogates."""
    if path is None:
        return None
    return display_text(os.fspath(path) if not isinstance(path, str) else path)


def results_report(
    document,
    *,
    entities: Iterable | None = None,
    questions: Iterable | None = None,
    summary=None,
    sentiment=None,
    tasks: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | None = None,
    include_text: bool = True,
    lookalikes=None,
    folding: bool | None = None,
    classification=None,
    explanations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything known about `document`, in the one results schema.

    - `entities`: `Entity` results; `questions`: (question, [Answer]) pairs or objects with
      `.question` and `.answers`; `summary`: a `Summary`; `sentiment`: a `Sentiment`. None means
      the task did not run (its key is left out).
    - `tasks`: per task name ("ner", "qa", "summary", "sentiment") what is known of the run:
      `status` ("done", "failed", "skipped"), `model`, `seconds`, `error`. A task with results
      and no entry is "done".
    - `include_text`: False leaves `document.text` null (the offsets still refer to it).
    - `lookalikes`: `engine.fold_lookalikes(document.text)` when already made (else it is made
      here); `folding`: whether the analyses read those words folded (None: not known).
    - `classification`: a zero-shot `Classification`; `explanations`: per task short name, the
      (explained, skipped) pair `engine.tasks.explain.explain_parts` returns.
    """
    text = document.text
    pages = list(getattr(document, "pages", None) or [])

    def page(offset: int) -> int | None:
        return document.page_of(offset) if pages else None

    report: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generator": f"Albert Lens {_version()}",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "offsets": "code points into document.text",
        "document": {
            "path": display_path(getattr(document, "path", None)),
            "title": display_text(document.title or ""),
            "format": document.format,
            "length": len(text),
            "text": text if include_text else None,
            "warnings": [display_text(str(w)) for w in (document.warnings or [])],
            "paragraphs": [_range(r) for r in (document.paragraphs or [])],
            "pages": [_range(r) for r in pages],
        },
        "device": device,
        "tasks": {},
        "lookalikes": _lookalikes(text, lookalikes, folding, page),
    }
    if entities is not None:
        report["entities"] = [
            {"label": e.label, "type": e.type, "start": e.start, "end": e.end,
             "text": e.text, "key": e.key, "score": e.score, "page": page(e.start)}
            for e in entities
        ]
    if questions is not None:
        report["questions"] = [_question(q, page) for q in questions]
    if summary is not None:
        report["summary"] = {"sentences": [
            {"start": s.start, "end": s.end, "text": s.text, "score": s.score,
             "page": page(s.start)}
            for s in summary.sentences
        ]}
    if sentiment is not None:
        report["sentiment"] = {
            "label": sentiment.label, "score": sentiment.score, "scores": dict(sentiment.scores),
            "polarity": sentiment.polarity,
            "sentences": [
                {"start": s.start, "end": s.end, "text": s.text, "label": s.label,
                 "score": s.score, "scores": dict(s.scores), "polarity": s.polarity,
                 "page": page(s.start)}
                for s in sentiment.sentences
            ],
        }
    if classification is not None:
        report["classification"] = {
            "labels": list(classification.labels), "scores": list(classification.scores),
            "multi_label": classification.multi_label,
            "parts": [
                {"start": p.start, "end": p.end, "text": p.text, "labels": list(p.labels),
                 "scores": list(p.scores), "page": page(p.start)}
                for p in classification.parts
            ],
        }
    if explanations is not None:
        report["explanations"] = {
            "method": "leave-one-out: the label's probability minus its probability with the "
                      "word (qa: the sentence) removed",
            "items": [{"task": task, **item} for task, (done, _) in explanations.items()
                      for item in done],
            "skipped": [{"task": task, **item} for task, (_, skipped) in explanations.items()
                        for item in skipped],
        }
    statuses = {name: dict(info) for name, info in (tasks or {}).items()}
    for name in TASK_NAMES:
        if RESULT_KEYS[name] in report and name not in statuses:
            statuses[name] = {"status": "done"}
    for name in (*TASK_NAMES, *sorted(set(statuses) - set(TASK_NAMES))):
        if name in statuses:
            info = statuses[name]
            report["tasks"][name] = {
                "status": info.get("status", "done"), "model": info.get("model"),
                "seconds": info.get("seconds"), "error": info.get("error"),
            }
    return plain(report)


def _lookalikes(text: str, folded, folding: bool | None, page) -> dict[str, Any]:
    if folded is None:
        from engine.lookalikes import fold_lookalikes

        folded = fold_lookalikes(text)
    return {
        "folding": folding,
        "count": folded.count,
        "words": folded.words,
        "share": folded.share,
        "items": [{"start": x.start, "end": x.end, "text": x.text, "folded": x.folded,
                   "scripts": list(x.scripts), "page": page(x.start)}
                  for x in folded.lookalikes],
    }


def _range(r) -> dict[str, int]:
    return {"start": r.start, "end": r.end}


def _question(item, page) -> dict[str, Any]:
    if isinstance(item, tuple):
        question, answers = item
    else:
        question, answers = item.question, item.answers
    answers = list(answers)
    return {
        "question": display_text(str(question)),
        "no_answer": not answers or bool(getattr(answers[0], "no_answer", False)),
        "answers": [
            {"text": a.text, "start": a.start, "end": a.end, "score": a.score,
             "no_answer": bool(getattr(a, "no_answer", False)),
             "context_start": a.context_start, "context_end": a.context_end,
             "page": None if getattr(a, "no_answer", False) else page(a.start)}
            for a in answers
        ],
    }


def _version() -> str:
    import engine

    return engine.__version__


# --- strict JSON ---------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """`value` with only JSON types: numpy numbers as Python ones, NaN/Infinity as None, and
    lone surrogates replaced by U+FFFD (one code point each, so offsets stay right)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {plain(str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"not JSON data: {type(value).__name__}")


def to_json(report: Mapping[str, Any], indent: int | None = 2) -> str:
    """Strict JSON text (no NaN/Infinity), non-ASCII kept as characters."""
    return json.dumps(plain(report), ensure_ascii=False, indent=indent, allow_nan=False)


def check_spans(report: Mapping[str, Any], text: str) -> None:
    """The promise every consumer relies on; a broken span is a bug, never silent."""
    for span in iter_spans(report):
        if text[span["start"]:span["end"]] != span["text"]:
            raise RuntimeError(f"span {span['start']}..{span['end']} does not match the text")


def iter_spans(report: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Every (start, end, text) span of a report: entities, answers, summary, sentiment and
    the look-alike words."""
    yield from report.get("entities", [])
    for question in report.get("questions", []):
        yield from (a for a in question["answers"] if not a.get("no_answer"))
    yield from report.get("summary", {}).get("sentences", [])
    yield from report.get("sentiment", {}).get("sentences", [])
    yield from report.get("lookalikes", {}).get("items", [])
    yield from report.get("classification", {}).get("parts", [])
    for item in report.get("explanations", {}).get("items", []):
        yield item
        yield from item["attributions"]
