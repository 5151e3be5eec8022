"""One row per document: the file, what was run, and the results in nested columns.

The results are taken from the results JSON `engine.report.results_report` builds for
`albert-lens analyze` (same spans, labels, scores and pages), reshaped into one fixed Arrow
schema (docs/batch.md) that every backend writes. A map (the label -> probability `scores`)
becomes a list of {label, score} so Parquet and JSON lines hold the same thing.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

_SCORES = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))
_SPAN = [("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())]

ENTITY = pa.struct([("label", pa.string()), ("type", pa.string()), *_SPAN,
                    ("score", pa.float64()), ("page", pa.int32())])
SENTENCE_SENTIMENT = pa.struct([*_SPAN, ("label", pa.string()), ("score", pa.float64()),
                                ("polarity", pa.float64()), ("scores", _SCORES),
                                ("page", pa.int32())])
SENTIMENT = pa.struct([("label", pa.string()), ("score", pa.float64()),
                       ("polarity", pa.float64()), ("scores", _SCORES),
                       ("sentences", pa.list_(SENTENCE_SENTIMENT))])
SUMMARY_SPAN = pa.struct([*_SPAN, ("score", pa.float64()), ("page", pa.int32())])
ANSWER = pa.struct([*_SPAN, ("score", pa.float64()), ("no_answer", pa.bool_()),
                    ("context_start", pa.int64()), ("context_end", pa.int64()),
                    ("page", pa.int32())])
QUESTION = pa.struct([("question", pa.string()), ("no_answer", pa.bool_()),
                      ("answers", pa.list_(ANSWER))])
MODEL = pa.struct([("task", pa.string()), ("id", pa.string()), ("revision", pa.string())])
TASK_RUN = pa.struct([("task", pa.string()), ("status", pa.string()), ("model", pa.string()),
                      ("seconds", pa.float64()), ("error", pa.string())])
TIMINGS = pa.struct([("load_s", pa.float64()), ("analyze_s", pa.float64()),
                     ("total_s", pa.float64())])

SCHEMA = pa.schema([
    ("path", pa.string()),
    ("format", pa.string()),
    ("size", pa.int64()),
    ("mtime_ns", pa.int64()),
    ("sha256", pa.string()),
    ("title", pa.string()),
    ("length", pa.int64()),
    ("pages", pa.int32()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("models", pa.list_(MODEL)),
    ("analysis", pa.string()),
    ("tasks", pa.list_(TASK_RUN)),
    ("timings", TIMINGS),
    ("entities", pa.list_(ENTITY)),
    ("sentiment", SENTIMENT),
    ("summary", pa.list_(SUMMARY_SPAN)),
    ("questions", pa.list_(QUESTION)),
], metadata={b"albert-lens": f"batch rows v{SCHEMA_VERSION}".encode()})

COLUMNS = tuple(SCHEMA.names)
# What a later run reads back to know what is done.
KEY_COLUMNS = ("path", "size", "mtime_ns", "models", "analysis", "status")
# What differs between two runs that computed the same thing.
RUN_COLUMNS = ("timings", "tasks")

DONE, FAILED = "done", "failed"


def _scores(scores: dict) -> list[dict]:
    return [{"label": k, "score": v} for k, v in scores.items()]


def _pick(item: dict, struct: pa.StructType) -> dict:
    return {f.name: item.get(f.name) for f in struct}


def base_row(path: str, size: int, mtime_ns: int, models, analysis: str) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(path=path, size=size, mtime_ns=mtime_ns, analysis=analysis, tasks=[],
               models=[{"task": m.task, "id": m.id, "revision": m.revision} for m in models])
    return row


def fill_from_report(row: dict, report: dict) -> dict:
    """The results JSON of one document (engine.report) into `row`."""
    doc = report["document"]
    row.update(format=doc["format"], title=doc["title"], length=doc["length"],
               pages=len(doc["pages"]))
    row["tasks"] = [{"task": name, "status": info["status"], "model": info.get("model"),
                     "seconds": info.get("seconds"), "error": info.get("error")}
                    for name, info in report["tasks"].items()]
    if "entities" in report:
        row["entities"] = [_pick(e, ENTITY) for e in report["entities"]]
    if "sentiment" in report:
        s = report["sentiment"]
        row["sentiment"] = {
            "label": s["label"], "score": s["score"], "polarity": s.get("polarity"),
            "scores": _scores(s["scores"]),
            "sentences": [{**_pick(x, SENTENCE_SENTIMENT), "scores": _scores(x["scores"])}
                          for x in s["sentences"]],
        }
    if "summary" in report:
        row["summary"] = [_pick(x, SUMMARY_SPAN) for x in report["summary"]["sentences"]]
    if "questions" in report:
        row["questions"] = [
            {"question": q["question"], "no_answer": q["no_answer"],
             "answers": [_pick(a, ANSWER) for a in q["answers"]]}
            for q in report["questions"]]
    failed = [t for t in row["tasks"] if t["status"] == FAILED]
    row["status"] = FAILED if failed else DONE
    row["error"] = "; ".join(f"{t['task']}: {t['error']}" for t in failed) or None
    return row


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def row_key(row) -> tuple:
    """What makes a row stand for a file analysed a given way."""
    models = ";".join(sorted(f"{m['task']}={m['id']}@{m['revision']}" for m in row["models"] or []))
    return (row["path"], row["size"], row["mtime_ns"], models, row["analysis"])
