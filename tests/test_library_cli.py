"""`albert-lens library ...` in this process: JSON and text output, exit codes, one-line errors."""

from __future__ import annotations

import io
import json

import pytest

import engine
from engine.cli import build_parser, commands, main

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home of its own: named libraries live under it."""
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("The heron colony nests by the river.\n", encoding="utf-8")
    (root / "sub" / "b.md").write_text("# B\n\nOwls hunt at night.\n", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    return root


def test_library_is_a_command():
    assert "library" in commands()
    args = build_parser().parse_args(["library", "search", "x", "--library", "n"])
    assert args.library_command == "search" and args.library == "n"


def test_add_search_status_remove_json(docs, capsys):
    code, out, err = run(["library", "add", str(docs), "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["folder"] == str(docs) and data["update"]["new"] == 3
    assert data["update"]["failed"] == 1
    code, out, _ = run(["library", "search", "heron", "--format", "json"], capsys)
    hits = json.loads(out)
    assert code == 0 and hits[0]["path"] == str(docs / "a.txt")
    text = engine.load_document(hits[0]["path"]).text
    assert text[hits[0]["start"]:hits[0]["end"]] == hits[0]["text"]
    code, out, _ = run(["library", "status", "--format", "json"], capsys)
    status = json.loads(out)
    assert status["documents"] == 3 and status["indexed"]["passages"] == 2
    assert status["failed"][0]["path"] == str(docs / "empty.txt")
    assert status["path"] == str(engine.paths.data_dir() / "libraries" / "default.sqlite3")
    code, out, _ = run(["library", "update", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["unchanged"] == 3
    code, out, _ = run(["library", "remove", str(docs), "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["documents"] == 3
    code, out, _ = run(["library", "search", "heron", "--format", "json"], capsys)
    assert json.loads(out) == []


def test_text_output_and_named_libraries(docs, capsys):
    code, out, _ = run(["library", "add", str(docs), "--library", "birds"], capsys)
    assert code == 0 and "3 new" in out
    code, out, _ = run(["library", "search", "owls", "--library", "birds"], capsys)
    assert code == 0 and str(docs / "sub" / "b.md") in out and "Owls hunt" in out
    code, out, _ = run(["library", "status", "--library", "birds"], capsys)
    assert "documents 3" in out and "failed    " + str(docs / "empty.txt") in out
    code, out, _ = run(["library", "search", "owls"], capsys)  # the default library is empty
    assert code == 0 and "no passage" in out


def test_errors_are_one_line(docs, tmp_path, capsys):
    code, _, err = run(["library", "add", str(tmp_path / "missing")], capsys)
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = run(["library", "status", "--library", "../etc"], capsys)
    assert code == 1 and "not a library name" in err and err.count("\n") == 1
    code, _, err = run(["library", "remove", str(docs)], capsys)
    assert code == 1 and "not a folder of this library" in err
    run(["library", "add", str(docs), "--no-update"], capsys)
    code, _, err = run(["library", "ask", "Where do herons nest?"], capsys)
    assert code == 1 and "No question-answering model is installed" in err
    assert err.count("\n") == 1
    code, _, err = run(["library", "search", "x", "-k", "0"], capsys)
    assert code == 2 and "-k" in err


def test_progress_on_stderr_with_eta(docs, capsys):
    from engine.library.cli import _Progress
    from engine.library.indexer import UpdateProgress

    stream = io.StringIO()
    bar = _Progress(stream)
    bar(UpdateProgress("passages", 0, 4, "a"))
    bar(UpdateProgress("passages", 2, 4, "b"))
    assert "passages" in stream.getvalue() and "2/4 ETA " in stream.getvalue()
    code, _out, err = run(["library", "add", str(docs), "--progress"], capsys)
    assert code == 0 and "passages" in err and "3/3" in err
