"""`albert-lens analyze`: JSON with exact offsets, readable text, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import engine
from engine.cli import main
from engine.report import iter_spans
from tests.document_factory import sample_paths

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sample_paths()


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    text = SAMPLES[min(1, len(SAMPLES) - 1)].read_text(encoding="utf-8")[:4000]
    path = tmp_path_factory.mktemp("docs") / "report.txt"
    path.write_text(text, encoding="utf-8")
    return path


def run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def spans_of(report: dict) -> list[dict]:
    return list(iter_spans(report))


def test_all_tasks_json_with_exact_offsets(sample, checkpoints, capsys):
    code, out, err = run(["analyze", sample, "--task", "all", "--device", "cpu",
                          "--question", "What is ALBERT?", "--question", "Who made it?",
                          "--top-k", "2",
                          "--model", f"ner={checkpoints('token')}",
                          "--model", f"sentiment={checkpoints('sequence')}",
                          "--model", f"summary={checkpoints('encoder')}",
                          "--model", f"qa={checkpoints('qa')}"], capsys)
    assert code == 0, err
    assert err == ""  # no progress bar when stderr is not a terminal
    report = json.loads(out)
    text = engine.load_document(sample).text
    assert report["document"] == {"path": str(sample), "title": report["document"]["title"],
                                  "format": "text", "length": len(text), "text": text,
                                  "warnings": [], "pages": [],
                                  "paragraphs": report["document"]["paragraphs"]}
    assert report["device"]
    assert set(report["tasks"]) == {"ner", "sentiment", "summary", "qa"}
    assert report["entities"] and report["sentiment"]["sentences"] and report["summary"]
    assert len(report["summary"]["sentences"]) == 3
    assert [q["question"] for q in report["questions"]] == ["What is ALBERT?", "Who made it?"]
    assert [len(q["answers"]) for q in report["questions"]] == [2, 2]
    for span in spans_of(report):
        assert text[span["start"]:span["end"]] == span["text"] == span["text"].strip()
        assert span["page"] is None
    assert set(report["sentiment"]["scores"]) == {"negative", "positive"}
    assert all(t["seconds"] is not None for t in report["tasks"].values())
    # The same engine calls give the same results.
    ner = engine.pipeline("ner", model=checkpoints("token"), device="cpu")
    assert [{k: e[k] for k in ("label", "start", "end", "text", "score", "type", "key")}
            for e in report["entities"]] == [engine.tasks.to_dict(e)
                                             for e in ner(engine.load_document(sample))]


def test_single_task_text_report(sample, checkpoints, capsys):
    code, out, err = run(["analyze", sample, "--task", "summary", "--format", "text",
                          "--model", checkpoints("encoder"), "--sentences", "2"], capsys)
    assert code == 0, err
    assert "Summary (2 sentences)" in out
    assert out.count("\n  - ") == 2
    code, out, _ = run(["analyze", sample, "--task", "qa", "-q", "What is it?", "--format",
                        "text", "--model", checkpoints("qa")], capsys)
    assert code == 0 and "Q: What is it?" in out


def test_pages_are_reported_for_paged_documents(tmp_path, checkpoints, capsys):
    from tests.document_factory import make_pdf

    pdf = make_pdf(tmp_path / "two-pages.pdf", [
        ["Marie Curie was born in Warsaw. She moved to Paris."],
        ["Pierre Curie worked in Paris. They shared a prize in 1903."],
    ])
    code, out, err = run(["analyze", pdf, "--task", "sentiment", "--model",
                          checkpoints("sequence")], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["document"]["format"] == "pdf" and len(report["document"]["pages"]) == 2
    pages = {s["page"] for s in report["sentiment"]["sentences"]}
    assert pages == {1, 2}
    document = engine.load_document(pdf)
    for s in report["sentiment"]["sentences"]:
        assert document.text[s["start"]:s["end"]] == s["text"]
        assert s["page"] == document.page_of(s["start"])


def test_progress_bar_on_request(sample, checkpoints, capsys):
    code, out, err = run(["analyze", sample, "--task", "ner", "--progress", "--model",
                          checkpoints("token")], capsys)
    assert code == 0
    assert "entities" in err and "#" in err
    json.loads(out)


@pytest.mark.parametrize("argv, code, words", [
    (["analyze", "{missing}", "--task", "ner", "--model", "{token}"], 1, "does not exist"),
    (["analyze", "{sample}", "--task", "ner"], 1, "albert-lens models download"),
    (["analyze", "{sample}", "--task", "ner", "--model", "/no/such/model"], 1, "No model"),
    (["analyze", "{sample}", "--task", "ner", "--model", "{sequence}"], 1, "head"),
    (["analyze", "{sample}", "--task", "qa", "--model", "{qa}"], 2, "--question"),
    (["analyze", "{sample}", "--task", "all", "--model", "{token}"], 2, "--model ner=DIR"),
    (["analyze", "{sample}", "--task", "summary", "--model", "{encoder}", "--ratio", "7"], 2,
     "ratio"),
])
def test_errors_are_one_line_with_an_exit_code(argv, code, words, sample, checkpoints, capsys,
                                               tmp_path):
    values = {"sample": sample, "missing": tmp_path / "missing.txt",
              "token": checkpoints("token"), "sequence": checkpoints("sequence"),
              "qa": checkpoints("qa"), "encoder": checkpoints("encoder")}
    got, out, err = run([a.format(**values) for a in argv], capsys)
    assert got == code
    assert out == ""
    assert err.startswith("albert-lens: error: ") and err.count("\n") == 1
    assert words in err
    assert "Traceback" not in err


def test_usage_errors_exit_2(sample, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(sample), "--task", "poetry"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["analyze"])
    assert exc.value.code == 2


def test_without_a_command_the_app_opens_the_files(monkeypatch, sample):
    from app.entry import main as albert_lens

    opened = []
    fake = types.ModuleType("app.main")
    fake.run_app = lambda files: opened.append(files) or 0
    monkeypatch.setitem(sys.modules, "app.main", fake)
    assert albert_lens([str(sample)]) == 0
    assert albert_lens([]) == 0
    assert opened == [[str(sample)], []]


def test_the_engine_alone_stays_headless(sample, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(sample)])
    assert exc.value.code == 2
    assert "desktop app" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert engine.__version__ in capsys.readouterr().out


def test_models_command_is_wired_in(capsys):
    code = main(["models", "list", "--json"])
    assert code == 0
    json.loads(capsys.readouterr().out)


def test_the_installed_command_runs_headless(sample, checkpoints):
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "analyze", str(sample), "--task", "sentiment",
         "--model", str(checkpoints("sequence"))],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sentiment"]["label"] in ("negative", "positive")
    bad = subprocess.run([sys.executable, "-m", "engine.cli", "analyze", "/no/file.txt",
                          "--task", "ner", "--model", str(checkpoints("token"))],
                         capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("fmt", ["txt", "md", "html", "pdf", "docx", "epub"])
def test_analyze_accepts_every_document_format(fmt, tmp_path, checkpoints, capsys):
    from tests import document_factory as make

    sentences = ["Marie Curie was born in Warsaw.", "She moved to Paris in 1891."]
    path = tmp_path / f"doc.{fmt}"
    if fmt == "txt":
        path.write_text("\n\n".join(sentences), encoding="utf-8")
    elif fmt == "md":
        path.write_text("# Curie\n\n" + "\n\n".join(f"*{s}*" for s in sentences), encoding="utf-8")
    elif fmt == "html":
        body = "".join(f"<p>{s}</p>" for s in sentences)
        path.write_text(f"<html><head><script>x()</script></head><body>{body}</body></html>",
                        encoding="utf-8")
    elif fmt == "pdf":
        make.make_pdf(path, [sentences])
    elif fmt == "docx":
        import docx

        word = docx.Document()
        for sentence in sentences:
            word.add_paragraph(sentence)
        word.save(str(path))
    else:
        make.make_epub(path, [("c1", "c1.xhtml", sentences)], spine=["c1"])
    code, out, err = run(["analyze", path, "--task", "ner", "--model", checkpoints("token"),
                          "--no-progress"], capsys)
    assert code == 0, err
    report = json.loads(out)
    text = engine.load_document(path).text
    assert report["document"]["format"] in (fmt, "text", "markdown")
    assert "Marie Curie was born in Warsaw." in text
    for span in report["entities"]:
        assert text[span["start"]:span["end"]] == span["text"]
