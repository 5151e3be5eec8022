"""Exports: results as JSON, entities as CSV, an HTML report whose document text is escaped."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from app.export import entities_csv, html_report, results_dict, write_csv, write_html, write_json
from tests.app_support import fake_factory, make_window, open_document, wait_idle

HOSTILE = (
    "😀 Marie Curie wrote <script>alert('x')</script> and <b>bold</b> & more.\n\n"
    "=SUM(A1) Warsaw is <i>here</i>. It was a good day in Paris."
)


@pytest.fixture
def session(qtbot, tmp_path, home):
    factory = fake_factory()
    w = make_window(qtbot, factory)
    path = tmp_path / "hostile.txt"
    path.write_text(HOSTILE, encoding="utf-8")
    s = open_document(qtbot, w, path)
    # Tag a piece of markup as an entity too: its text must stay text in every export.
    ner = factory.made["ner"]
    ner.names = {"Marie Curie": "PER", "Warsaw": "LOC", "Paris": "LOC", "<b>bold</b>": "MISC",
                 "=SUM(A1)": "MISC"}
    w.entities_panel.start(s)
    w.ask_panel.ask("Where was she born?")
    w.summary_panel.start(s)
    w.sentiment_panel.start(s)
    wait_idle(qtbot, w)
    s.window_ = w
    return s


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.marks: list[tuple[str, str]] = []
        self._mark: list[str] | None = None
        self._cls = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "mark":
            self._mark, self._cls = [], dict(attrs).get("class", "")

    def handle_endtag(self, tag):
        if tag == "mark" and self._mark is not None:
            self.marks.append((self._cls, "".join(self._mark)))
            self._mark = None

    def handle_data(self, data):
        self.text.append(data)
        if self._mark is not None:
            self._mark.append(data)


def test_html_report_escapes_the_document(session, tmp_path):
    report = html_report(session.document_state)
    assert "<script>" not in report and "<b>bold</b>" not in report and "<i>" not in report
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in report
    parsed = _Collect()
    parsed.feed(report)
    assert "script" not in parsed.tags and "b" not in parsed.tags[parsed.tags.index("article"):]
    # The document reads back exactly (paragraph by paragraph) from the report's text.
    article = report[report.index("<article>"):]
    body = _Collect()
    body.feed(article)
    assert "".join(body.text).replace("\n", "") == HOSTILE.replace("\n\n", "").replace("\n", "")
    # Entities are marked, with their own text inside the mark.
    marked = {text for _, text in body.marks}
    assert {"Marie Curie", "Warsaw", "Paris", "<b>bold</b>"} <= marked
    assert ("e-PER", "Marie Curie") in body.marks
    write_html(tmp_path / "r.html", session.document_state)
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == report


def test_hidden_types_are_left_out_of_the_report(session):
    report = html_report(session.document_state, hidden_types={"LOC"})
    body = _Collect()
    body.feed(report[report.index("<article>"):])
    assert all(cls != "e-LOC" for cls, _ in body.marks)


def test_json_has_every_result_with_code_point_offsets(session, tmp_path):
    path = tmp_path / "r.json"
    write_json(path, session.document_state)
    data = json.loads(path.read_text(encoding="utf-8"))
    text = session.document.text
    assert data["document"]["length"] == len(text) and data["document"]["text"] == text
    assert data["entities"] and all(text[e["start"]:e["end"]] == e["text"]
                                    for e in data["entities"])
    assert data["questions"][0]["question"] == "Where was she born?"
    assert data["questions"][0]["answers"][0]["text"] == "Warsaw"
    assert all(text[s["start"]:s["end"]] == s["text"] for s in data["summary"]["sentences"])
    assert data["sentiment"]["label"] in ("positive", "negative")
    assert results_dict(session.document_state)["entities"] == data["entities"]


def test_csv_lists_entities_and_defuses_formulas(session, tmp_path):
    rows = list(csv.DictReader(io.StringIO(entities_csv(session.document_state))))
    assert len(rows) == len(session.document_state.entities)
    by_text = {r["text"]: r for r in rows}
    assert by_text["Marie Curie"]["type"] == "PER"
    assert by_text["Marie Curie"]["type_name"] == "Person"
    assert "<b>bold</b>" in by_text
    # A cell that a spreadsheet would run as a formula is quoted.
    assert "'=SUM(A1)" in by_text
    first = rows[0]
    assert session.document.text[int(first["start"]):int(first["end"])] == first["text"]
    write_csv(tmp_path / "e.csv", session.document_state)
    assert (tmp_path / "e.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_export_actions_write_files(session, tmp_path):
    window = session.window_
    assert window.export_to(tmp_path / "x.html", write_html)
    assert window.export_to(tmp_path / "x.json", write_json)
    assert window.export_to(tmp_path / "x.csv", write_csv)
    assert all((tmp_path / f"x.{ext}").stat().st_size > 0 for ext in ("html", "json", "csv"))
    assert not window.export_to(tmp_path / "missing-dir" / "x.html", write_html)
    assert window.error_log[-1][0] == "Cannot export"


def test_the_export_carries_the_classification_the_state_holds():
    from app.document_state import DocumentState
    from engine.documents import Document
    from engine.tasks.results import Classification, ClassifiedPart

    text = "Please pay the attached invoice.\n\nThe tap in plot 4 leaks."
    document = Document.from_text(text)
    second = text.index("The tap")
    state = DocumentState(document)
    state.classification = Classification(
        ["invoice", "repair"], [0.7, 0.3], False,
        [ClassifiedPart(0, 32, text[:32], ["invoice", "repair"], [0.9, 0.1]),
         ClassifiedPart(second, len(text), text[second:], ["repair", "invoice"], [0.8, 0.2])])
    block = results_dict(state)["classification"]
    assert block["labels"] == ["invoice", "repair"] and block["scores"] == [0.7, 0.3]
    assert [(p["start"], p["end"], p["labels"][0]) for p in block["parts"]] == [
        (0, 32, "invoice"), (second, len(text), "repair")]
    assert all(text[p["start"]:p["end"]] == p["text"] for p in block["parts"])
