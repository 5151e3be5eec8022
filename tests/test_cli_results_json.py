"""One results JSON (docs/results-json.md) for `albert-lens analyze` and the app's export."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

import engine
from engine import report as results_json
from engine.cli import main
from engine.documents import Document
from engine.tasks.results import Answer, Entity, SentenceSentiment, Sentiment, Span, Summary

REPO = Path(__file__).resolve().parents[1]
# Astral characters before the entities: code points and UTF-16 units differ from the start.
TEXT = (
    "😀 𝔘nicode first. Marie Curie was born in Warsaw. She moved to Paris in 1891 and "
    "studied at the Sorbonne.\n\n"
    "Pierre Curie worked with her in Paris. They shared the Nobel Prize in 1903. "
    "It was a very good year for science and a sad one for nobody.\n\n"
    "ALBERT is a small model made by Google. It reads text and answers questions about it."
)


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "curie.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _models(checkpoints) -> list[str]:
    return ["--model", f"ner={checkpoints('token')}",
            "--model", f"sentiment={checkpoints('sequence')}",
            "--model", f"summary={checkpoints('encoder')}",
            "--model", f"qa={checkpoints('qa')}"]


def _strict_loads(data: str):
    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    return json.loads(data, parse_constant=refuse)


def _keys(value, prefix="") -> set[str]:
    """Every key path of a JSON value, lists collapsed: {"a": [{"b": 1}]} -> {"a", "a[].b"}."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if prefix.endswith("scores"):  # label -> probability: data, not schema
                continue
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            out |= _keys(v, path)
    elif isinstance(value, list):
        for v in value:
            out |= _keys(v, prefix + "[]")
    return out


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_has_the_documented_schema(sample, checkpoints, capsys):
    code, out, err = run_cli(["analyze", sample, "--device", "cpu", "-q", "Who made ALBERT?",
                              "-q", "Where was she born?", "--top-k", "2", *_models(checkpoints)],
                             capsys)
    assert code == 0, err
    report = _strict_loads(out)
    assert report["schema"] == "albert-lens/results" and report["schema_version"] == 1
    doc = report["document"]
    document = engine.load_document(sample)
    assert doc["path"] == str(sample) and doc["format"] == "text"
    assert doc["text"] == document.text and doc["length"] == len(document.text)
    assert doc["paragraphs"] == [{"start": r.start, "end": r.end} for r in document.paragraphs]
    assert doc["pages"] == [] and doc["warnings"] == []
    assert set(report["tasks"]) == {"ner", "qa", "summary", "sentiment"}
    assert all(t["status"] == "done" and t["model"] for t in report["tasks"].values())
    for e in report["entities"]:
        assert set(e) == {"label", "type", "start", "end", "text", "key", "score", "page"}
        assert e["page"] is None and e["type"] == re.sub(r"^[BIES]-", "", e["label"])
    assert [q["question"] for q in report["questions"]] == ["Who made ALBERT?",
                                                            "Where was she born?"]
    for q in report["questions"]:
        assert len(q["answers"]) == 2 and isinstance(q["no_answer"], bool)
        for a in q["answers"]:
            assert set(a) == {"text", "start", "end", "score", "no_answer", "context_start",
                              "context_end", "page"}
    assert len(report["summary"]["sentences"]) == 3
    assert set(report["summary"]["sentences"][0]) == {"start", "end", "text", "score", "page"}
    s = report["sentiment"]
    assert set(s) == {"label", "score", "scores", "polarity", "sentences"}
    assert set(s["scores"]) == {"negative", "positive"}
    assert set(s["sentences"][0]) == {"start", "end", "text", "label", "score", "scores",
                                      "polarity", "page"}
    # The doc names every key this report holds.
    doc_text = (REPO / "docs" / "results-json.md").read_text(encoding="utf-8")
    for key in _keys(report):
        assert f"`{key}`" in doc_text, f"docs/results-json.md does not describe {key}"


def test_document_text_indexes_every_span(sample, checkpoints, capsys):
    code, out, err = run_cli(["analyze", sample, "-q", "Who made ALBERT?",
                              *_models(checkpoints)], capsys)
    assert code == 0, err
    report = _strict_loads(out)
    text = report["document"]["text"]
    spans = list(results_json.iter_spans(report))
    assert len(spans) > 5
    for span in spans:
        assert text[span["start"]:span["end"]] == span["text"]
    # This file is already in Document form (paragraphs split by one blank line), so its text
    # is the file's text: offsets index the file.
    assert text == sample.read_text(encoding="utf-8")


def test_no_include_text_leaves_the_text_out(sample, checkpoints, capsys):
    code, out, err = run_cli(["analyze", sample, "--task", "ner", "--no-include-text",
                              "--model", checkpoints("token")], capsys)
    assert code == 0, err
    doc = _strict_loads(out)["document"]
    assert doc["text"] is None and doc["length"] == len(TEXT)


def _session(document, entities=(), sentiment=None, summary=None, questions=()):
    """The app's own document state (Qt-free), holding these results."""
    from app.document_state import DocumentState, QuestionResult

    state = DocumentState(document)
    state.set_entities(list(entities))
    state.sentiment, state.summary = sentiment, summary
    for question, answers in reversed(list(questions)):
        state.add_answers(QuestionResult(question), answers)
    return state


def test_app_export_is_the_same_schema_as_the_cli(sample, checkpoints, capsys, tmp_path):
    from app.export import results_dict, write_json

    code, out, err = run_cli(["analyze", sample, "--device", "cpu", "-q", "Who made ALBERT?",
                              *_models(checkpoints)], capsys)
    assert code == 0, err
    cli = _strict_loads(out)
    document = engine.load_document(sample)
    ner = engine.pipeline("ner", model=checkpoints("token"), device="cpu")
    qa = engine.pipeline("qa", model=checkpoints("qa"), device="cpu")
    senti = engine.pipeline("sentiment", model=checkpoints("sequence"), device="cpu")
    summ = engine.pipeline("summary", model=checkpoints("encoder"), device="cpu")
    session = _session(document, ner(document), senti(document), summ(document),
                       [("Who made ALBERT?", qa("Who made ALBERT?", document))])
    path = tmp_path / "r.json"
    write_json(path, session)
    app = _strict_loads(path.read_text(encoding="utf-8"))
    assert results_dict(session)["entities"] == app["entities"]
    assert _keys(app) == _keys(cli)
    for key in ("document", "entities", "questions", "summary", "sentiment", "schema_version"):
        assert app[key] == cli[key], key


def test_json_is_strict_for_non_finite_scores(tmp_path):
    from app.export import write_json

    document = Document.from_text("Marie Curie was born in Warsaw. It was good.")
    nan, inf = float("nan"), float("inf")
    session = _session(
        document, [Entity("B-PER", 0, 11, "Marie Curie", nan)],
        Sentiment("positive", inf, {"positive": inf, "negative": -inf},
                  [SentenceSentiment(32, 45, "It was good.", "positive", nan, {"positive": nan})]),
        Summary([Span(0, 31, "Marie Curie was born in Warsaw.", nan)]),
        [("Where?", [Answer("Warsaw", 24, 30, nan)])],
    )
    path = tmp_path / "r.json"
    write_json(path, session)
    data = _strict_loads(path.read_text(encoding="utf-8"))
    assert data["entities"][0]["score"] is None
    assert data["sentiment"]["score"] is None
    assert data["sentiment"]["scores"] == {"positive": None, "negative": None}
    assert data["sentiment"]["sentences"][0]["score"] is None
    assert data["summary"]["sentences"][0]["score"] is None
    assert data["questions"][0]["answers"][0]["score"] is None
    assert "NaN" not in results_json.to_json({"x": nan, "y": [inf]})


def test_cli_json_is_strict_when_a_model_gives_nan(sample, checkpoints, capsys, monkeypatch):
    from engine.tasks import ner as ner_module

    original = ner_module.TokenClassificationPipeline.__call__

    def nan_scores(self, *args, **kwargs):
        return [Entity(e.label, e.start, e.end, e.text, float("nan"))
                for e in original(self, *args, **kwargs)]

    monkeypatch.setattr(ner_module.TokenClassificationPipeline, "__call__", nan_scores)
    code, out, err = run_cli(["analyze", sample, "--task", "ner", "--model",
                              checkpoints("token")], capsys)
    assert code == 0, err
    entities = _strict_loads(out)["entities"]
    assert entities and all(e["score"] is None for e in entities)


def test_csv_defuses_formulas_in_model_labels():
    from app.export import entities_csv

    label = '=HYPERLINK("http://evil.example","click")'
    document = Document.from_text("Marie Curie met +Pierre and @home -x.")
    session = _session(document, [
        Entity(label, 0, 11, "Marie Curie", 0.9),
        Entity("B-+CMD", 16, 23, "+Pierre", 0.8),
        Entity("@SUM(A1)", 28, 33, "@home", 0.7),
        Entity("-2+3", 34, 36, "-x", 0.6),
    ])
    rows = list(csv.reader(io.StringIO(entities_csv(session))))
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    for row in body:
        for column, cell in zip(header, row, strict=True):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    first = dict(zip(header, body[0], strict=True))
    assert first["label"] == "'" + label and first["type"] == "'" + label
    assert first["type_name"].startswith("'=")
    assert first["text"] == "Marie Curie"
    assert dict(zip(header, body[1], strict=True))["type"] == "'+CMD"


def test_lone_surrogates_never_reach_the_json(tmp_path):
    from app.export import write_json

    # A str can hold a lone surrogate (a decoder's surrogateescape); UTF-8 cannot. Each is
    # written as U+FFFD, one code point for one, so every offset still holds.
    text = "Marie \udce9 Curie was born in Warsaw."
    document = Document.from_text(text, title="t\udce9")
    at = text.index("Warsaw")
    session = _session(document, [Entity("LOC", at, at + 6, "Warsaw", 0.9),
                                  Entity("MISC", 6, 13, "\udce9 Curie", 0.5)])
    path = tmp_path / "r.json"
    write_json(path, session)
    report = _strict_loads(path.read_bytes().decode("utf-8"))  # strict UTF-8
    written = report["document"]["text"]
    assert written == text.replace("\udce9", "\ufffd") and len(written) == len(text)
    assert report["document"]["title"] == "t\\xe9"
    for e in report["entities"]:
        assert written[e["start"]:e["end"]] == e["text"]
    assert results_json.to_json({"x": "\ud800"}).encode("utf-8")


def test_json_text_is_the_txt_files_text(tmp_path, checkpoints, capsys):
    # Line breaks inside paragraphs, several blank lines, indentation, a final newline: the
    # JSON's text is still the file's, so its offsets index the file.
    raw = ("😀 Marie Curie was born\nin Warsaw.\n\n\n\n   She moved to Paris in 1891.\n"
           "Pierre Curie worked with her.\n")
    path = tmp_path / "loose.txt"
    path.write_bytes(raw.encode("utf-8"))
    code, out, err = run_cli(["analyze", path, "--task", "sentiment", "--model",
                              checkpoints("sequence")], capsys)
    assert code == 0, err
    report = _strict_loads(out)
    assert report["document"]["text"] == raw
    sentences = report["sentiment"]["sentences"]
    assert sentences
    for s in sentences:
        assert raw[s["start"]:s["end"]] == s["text"]
