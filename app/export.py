"""Exports of a document's results: JSON (everything), CSV (entities), an HTML report.

The JSON is the one results schema (docs/results-json.md) that `albert-lens analyze` prints too;
engine.report builds it for both.

The report shows the document with its highlights. Document text is always escaped with
html.escape and never interpreted: a document containing "<script>" shows those characters.
Every export works from a `DocumentState` (app.document_state), so the exports can be tested and
reused without a window.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import engine
from app.palette import ANSWER_COLOUR, SUMMARY_COLOUR, entity_colour, entity_type_name
from engine.report import results_report, to_json
from engine.tasks import registry

if TYPE_CHECKING:
    from app.document_state import DocumentState

CSV_COLUMNS = ("type", "type_name", "label", "text", "start", "end", "score", "page")
# A cell starting with one of these is a formula to spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- JSON ----------------------------------------------------------------------------------------
_SCHEMA_STATUS = {"failed": "failed", "no-model": "skipped"}


def results_dict(state: DocumentState) -> dict[str, Any]:
    """Everything known about the document in the one results schema (docs/results-json.md),
    built by the same engine function as `albert-lens analyze`'s JSON."""
    tasks = {}
    for name, task in state.tasks.items():
        status = _SCHEMA_STATUS.get(task.state)
        if status is not None:
            tasks[registry.task_spec(name).short] = {"status": status,
                                                     "error": task.message or None}
    return results_report(
        state.document,
        entities=state.entities,
        questions=state.questions or None,
        summary=state.summary,
        sentiment=state.sentiment,
        classification=state.classification,
        tasks=tasks,
    )


def write_json(path: str | Path, state: DocumentState) -> None:
    Path(path).write_text(to_json(results_dict(state)) + "\n", encoding="utf-8")


# --- CSV -----------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    # OWASP CSV injection: a leading quote makes spreadsheets show the cell, not run it.
    return "'" + text if text.startswith(_FORMULA_START) else text


def entities_csv(state: DocumentState) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in state.entities or []:
        page = state.page_of(e.start)
        # Labels come from the model's config (id2label), as untrusted as the document's text.
        writer.writerow([_cell(e.type), _cell(entity_type_name(e.type)),
                         _cell(e.label), _cell(e.text), e.start, e.end, f"{e.score:.4f}",
                         "" if page is None else page])
    return buf.getvalue()


def write_csv(path: str | Path, state: DocumentState) -> None:
    # utf-8-sig so spreadsheet programs read non-ASCII entity names correctly.
    Path(path).write_text(entities_csv(state), encoding="utf-8-sig", newline="")


# --- HTML ----------------------------------------------------------------------------------------
def _css_class(kind: str) -> str:
    return "e-" + (re.sub(r"[^A-Za-z0-9_-]", "_", kind) or "_")


_STYLE = """
body { font: 17px/1.6 Georgia, 'DejaVu Serif', serif; color: #1d1d1f; background: #fafaf7;
       margin: 0; }
main { max-width: 46em; margin: 0 auto; padding: 2em 1.5em 4em; }
header h1 { font-family: system-ui, sans-serif; font-size: 1.6em; margin-bottom: .2em; }
.meta, .legend, section.results { font-family: system-ui, sans-serif; font-size: .85em; }
.meta { color: #666; }
.legend span { display: inline-block; padding: 0 .5em; margin: 0 .4em .3em 0;
               border-radius: 3px; color: #1b1b1b; }
section.results { background: #fff; border: 1px solid #ddd; border-radius: 6px;
                  padding: .6em 1.2em; margin: 1.2em 0; }
section.results h2 { font-size: 1.1em; margin: .6em 0 .3em; }
mark { color: #1b1b1b; border-radius: 2px; padding: 0 1px; }
.summary { background: %(summary)s; }
.answer { background: %(answer)s; font-weight: bold; }
article p { margin: 0 0 1em; }
"""


def _segments(start: int, end: int, marks: list[tuple[int, int, str, str]]):
    """Cut text[start:end] where any mark begins or ends; yield (a, b, marks covering a..b)."""
    inside = [m for m in marks if m[0] < end and m[1] > start]
    cuts = {start, end}
    for a, b, _, _ in inside:
        cuts.add(min(max(a, start), end))
        cuts.add(min(max(b, start), end))
    points = sorted(cuts)
    for a, b in itertools.pairwise(points):
        yield a, b, [m for m in inside if m[0] <= a and m[1] >= b]


def _paragraph_ranges(document) -> list[tuple[int, int]]:
    if document.paragraphs:
        return [(p.start, p.end) for p in document.paragraphs]
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", document.text)]


def html_report(state: DocumentState, hidden_types: set[str] | None = None) -> str:
    """A standalone HTML page: results, then the document with entities and summary marked."""
    document = state.document
    text = document.text
    esc = html.escape
    hidden = set(state.hidden_types if hidden_types is None else hidden_types)

    # (start, end, css class, title) for every mark; wrapped outermost-first in this order.
    marks: list[tuple[int, int, str, str]] = []
    if state.summary is not None:
        marks += [(s.start, s.end, "summary", "In the summary") for s in state.summary.sentences]
    kinds: dict[str, int] = {}
    for e in state.entities or []:
        kind = e.type
        if kind in hidden:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        marks.append((e.start, e.end, _css_class(kind),
                      f"{entity_type_name(kind)} · confidence {e.score:.0%}"))
    answer = state.shown_answer()
    if answer is not None:
        marks.append((answer.start, answer.end, "answer", "Answer"))
    order = {"summary": 0, "answer": 2}

    styles = [_STYLE % {"summary": SUMMARY_COLOUR, "answer": ANSWER_COLOUR}]
    styles += [f".{_css_class(k)} {{ background: {entity_colour(k).name()}; }}" for k in kinds]

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(document.title)} — Albert Lens report</title>",
        "<style>" + "\n".join(styles) + "</style></head><body><main>",
        f"<header><h1>{esc(document.title)}</h1>",
        f'<p class="meta">{esc(str(document.path) if document.path else "Pasted text")} · '
        f"{esc(document.format)} · {len(text):,} characters"
        + (f" · {len(document.pages)} pages" if document.pages else "")
        + f" · report by Albert Lens {esc(engine.__version__)}</p></header>",
    ]
    if kinds:
        parts.append('<p class="legend">' + "".join(
            f'<span class="{_css_class(k)}">{esc(entity_type_name(k))} ({n})</span>'
            for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + "</p>")
    parts.append(_results_section(state))
    parts.append("<article>")
    for p_start, p_end in _paragraph_ranges(document):
        chunk = []
        for a, b, covering in _segments(p_start, p_end, marks):
            piece = esc(text[a:b]).replace("\n", "<br>\n")
            covering.sort(key=lambda m: order.get(m[2], 1))
            for _, _, cls, title in reversed(covering):
                tag = "span" if cls == "summary" else "mark"
                piece = f'<{tag} class="{cls}" title="{esc(title)}">{piece}</{tag}>'
            chunk.append(piece)
        parts.append("<p>" + "".join(chunk) + "</p>")
    parts.append("</article></main></body></html>")
    return "\n".join(parts) + "\n"


def _results_section(state: DocumentState) -> str:
    esc = html.escape
    rows = []
    if state.sentiment is not None:
        s = state.sentiment
        rows.append(f"<h2>Sentiment</h2><p>{esc(s.label)} · {s.score:.0%} confidence"
                    + (f" · {len(s.sentences)} sentences" if s.sentences else "") + "</p>")
    if state.summary is not None and state.summary.sentences:
        items = "".join(f"<li>{esc(s.text)}</li>" for s in state.summary.sentences)
        rows.append(f"<h2>Summary</h2><ol>{items}</ol>")
    if state.questions:
        qa = []
        for q in state.questions:
            if q.no_answer:
                answers = "<em>No answer in this document.</em>"
            else:
                answers = "; ".join(f"{esc(a.text)} ({a.score:.0%})" for a in q.answers
                                    if not a.no_answer)
            qa.append(f"<li><b>{esc(q.question)}</b> — {answers}</li>")
        rows.append(f"<h2>Questions</h2><ul>{''.join(qa)}</ul>")
    if state.entities is not None:
        rows.append(f"<h2>Entities</h2><p>{len(state.entities)} mentions highlighted below"
                    " (hover for type and confidence).</p>")
    if not rows:
        return ""
    return '<section class="results">' + "".join(rows) + "</section>"


def write_html(path: str | Path, state: DocumentState) -> None:
    Path(path).write_text(html_report(state), encoding="utf-8")
