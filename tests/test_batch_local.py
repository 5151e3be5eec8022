"""`albert-lens batch` on this machine: rows that match `albert-lens analyze` for each file,
broken files as rows with their errors, Parquet and JSON lines alike, and a run killed half-way
that resumes to exactly the rows of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import engine
from engine.batch.rows import SCHEMA
from engine.cli import main
from tests.batch_support import (
    QUESTION,
    by_path,
    install_models,
    make_folder,
    read_rows,
    results_only,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def home(tmp_path_factory, checkpoints):
    home = tmp_path_factory.mktemp("batch-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALBERT_LENS_HOME", str(home))
        install_models(checkpoints)
    return home


@pytest.fixture(autouse=True)
def _home(home, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(home))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def full_run(home, folder, tmp_path_factory):
    """One uninterrupted parquet run of every task over the folder: (exit code, rows)."""
    out = tmp_path_factory.mktemp("full") / "results.parquet"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALBERT_LENS_HOME", str(home))
        code = main(["batch", str(folder[0]), "--task", "ner,sentiment,summary,qa",
                     "-q", QUESTION, "--out", str(out), "--workers", "2", "--device", "cpu",
                     "--progress", "none"])
    return code, out


def analyze_json(path: Path, capsys) -> dict:
    code = main(["analyze", str(path), "--task", "all", "-q", QUESTION, "--device", "cpu",
                 "--no-include-text", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_rows_match_analyze_for_every_file(full_run, folder, capsys):
    code, out = full_run
    _root, good, broken = folder
    assert code == 1  # the broken files failed
    assert pq.read_schema(out).equals(SCHEMA, check_metadata=False)
    rows = by_path(read_rows(out))
    assert set(rows) == {str(p) for p in good + broken}  # hidden and .png files not taken
    for path in good:
        row = rows[str(path)]
        report = analyze_json(path, capsys)
        document = engine.load_document(path)
        assert row["status"] == "done" and row["error"] is None
        assert row["format"] == report["document"]["format"]
        assert row["title"] == report["document"]["title"]
        assert row["length"] == len(document.text)
        assert row["pages"] == len(document.pages)
        stat = path.stat()
        assert (row["size"], row["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
        import hashlib
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert {m["task"]: m["id"] for m in row["models"]} == {
            "ner": "local/ner", "sentiment": "local/sentiment", "summary": "local/emb",
            "qa": "local/qa"}
        assert all(m["revision"].startswith("sha256:") for m in row["models"])
        entity_keys = ("label", "type", "start", "end", "text", "score", "page")
        assert row["entities"] == [{k: e[k] for k in entity_keys} for e in report["entities"]]
        s = report["sentiment"]
        assert row["sentiment"]["label"] == s["label"]
        assert row["sentiment"]["score"] == s["score"]
        assert {x["label"]: x["score"] for x in row["sentiment"]["scores"]} == s["scores"]
        assert [(x["start"], x["end"], x["text"], x["label"], x["score"], x["page"])
                for x in row["sentiment"]["sentences"]] == [
            (x["start"], x["end"], x["text"], x["label"], x["score"], x["page"])
            for x in s["sentences"]]
        assert row["summary"] == [{k: x[k] for k in ("start", "end", "text", "score", "page")}
                                  for x in report["summary"]["sentences"]]
        assert [(q["question"], q["no_answer"]) for q in row["questions"]] == [
            (q["question"], q["no_answer"]) for q in report["questions"]]
        assert [[(a["start"], a["end"], a["text"], a["score"], a["page"]) for a in q["answers"]]
                for q in row["questions"]] == [
            [(a["start"], a["end"], a["text"], a["score"], a["page"]) for a in q["answers"]]
            for q in report["questions"]]
        # Every span is exact into the document's text.
        spans = row["entities"] + row["summary"] + row["sentiment"]["sentences"]
        assert spans
        for span in spans:
            assert document.text[span["start"]:span["end"]] == span["text"]
        assert [t["task"] for t in row["tasks"]] == ["ner", "sentiment", "summary", "qa"]
        assert all(t["status"] == "done" for t in row["tasks"])
    assert rows[str(good[3])]["pages"] == 2
    assert {x["page"] for x in rows[str(good[3])]["sentiment"]["sentences"]} == {1, 2}


def test_broken_files_have_rows_with_their_errors(full_run, folder, capsys):
    _, out = full_run
    rows = by_path(read_rows(out))
    for path in folder[2]:
        row = rows[str(path)]
        assert row["status"] == "failed"
        assert row["error"] and "\n" not in row["error"] and "Traceback" not in row["error"]
        assert main(["analyze", str(path), "--task", "ner"]) == 1
        err = capsys.readouterr().err
        assert row["error"] in err  # the same one-line message analyze prints
        assert row["entities"] is None and row["sentiment"] is None
        assert row["sha256"] and row["size"] == path.stat().st_size


def test_jsonl_has_the_same_rows(full_run, folder, tmp_path):
    _, parquet = full_run
    out = tmp_path / "results.jsonl"
    code = main(["batch", str(folder[0]), "--task", "ner,sentiment,summary,qa", "-q", QUESTION,
                 "--out", str(out), "--workers", "1", "--device", "cpu", "--progress", "none"])
    assert code == 1
    lines = out.read_text(encoding="utf-8").splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    jsonl = by_path(read_rows(out))
    expected = by_path(read_rows(parquet))
    assert {p: results_only(r) for p, r in jsonl.items()} == {
        p: results_only(r) for p, r in expected.items()}
    assert not out.with_name(out.name + ".parts").exists()


def _batch_cmd(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "engine.cli", "batch", str(root), "--task",
            "ner,sentiment,summary,qa", "-q", QUESTION, "--out", str(out), "--workers", "1",
            "--device", "cpu", "--progress", "json"]


def test_killed_run_resumes_to_the_rows_of_an_uninterrupted_run(full_run, folder, tmp_path):
    _, full = full_run
    out = tmp_path / "results.parquet"
    env = {**os.environ, "ALBERT_LENS_BATCH_TEST_KILL_AFTER": "3",
           "ALBERT_LENS_BATCH_PART_ROWS": "2"}
    killed = subprocess.run(_batch_cmd(folder[0], out), env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=240, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()  # nothing committed, nothing half-written
    parts = sorted(out.with_name(out.name + ".parts").rglob("*.parquet"))
    assert len(parts) == 1  # the first two rows; the third was lost with the process
    saved = by_path(pq.read_table(parts[0]).to_pylist())
    assert len(saved) == 2

    again = subprocess.run(_batch_cmd(folder[0], out), cwd=REPO, capture_output=True,
                           text=True, timeout=240, check=False)
    assert again.returncode == 1, again.stderr  # the broken files
    events = [json.loads(line) for line in again.stderr.splitlines()]
    start = events[0]
    assert start["event"] == "start" and start["already_done"] == 2
    assert start["todo"] == start["total"] - 2 == 5
    assert events[-1]["event"] == "done" and events[-1]["rows"] == 7
    rows = by_path(read_rows(out))
    expected = by_path(read_rows(full))
    assert {p: results_only(r) for p, r in rows.items()} == {
        p: results_only(r) for p, r in expected.items()}
    for path, row in saved.items():
        assert rows[path]["timings"] == row["timings"]  # kept, not computed again
    assert not out.with_name(out.name + ".parts").exists()

    # Everything done: a third run analyses nothing and leaves the same rows.
    third = subprocess.run(_batch_cmd(folder[0], out), cwd=REPO, capture_output=True,
                           text=True, timeout=240, check=False)
    start = json.loads(third.stderr.splitlines()[0])
    assert start["todo"] == 0 and start["already_done"] == 7
    assert read_rows(out) == list(rows.values()) or by_path(read_rows(out)) == rows


def test_a_changed_file_is_analysed_again(home, folder, tmp_path, capsys):
    root = tmp_path / "docs"
    root.mkdir()
    doc = root / "note.txt"
    doc.write_text("Marie Curie was born in Warsaw.\n", encoding="utf-8")
    out = tmp_path / "r.jsonl"
    argv = ["batch", str(root), "--task", "sentiment", "--out", str(out), "--workers", "1",
            "--progress", "json"]
    assert main(argv) == 0
    doc.write_text("Pierre Curie worked in Paris. He liked it.\n", encoding="utf-8")
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert json.loads(err[-1])["rows"] == 1
    starts = [json.loads(line) for line in err if '"start"' in line]
    assert starts[-1]["todo"] == 1
    (row,) = read_rows(out)
    assert row["length"] == len(doc.read_text(encoding="utf-8"))
    assert [s["text"] for s in row["sentiment"]["sentences"]] == [
        "Pierre Curie worked in Paris.", "He liked it."]


def test_the_local_path_never_imports_ray(home, folder, tmp_path):
    out = tmp_path / "r.parquet"
    code = ("import sys; from engine.cli import main; "
            f"c = main(['batch', {str(folder[1][0])!r}, '--task', 'sentiment', '--out', "
            f"{str(out)!r}, '--workers', '1', '--progress', 'none']); "
            "assert c == 0, c; assert 'ray' not in sys.modules, 'ray imported'; "
            "import engine.batch.worker, engine.batch.local; "
            "assert 'ray' not in sys.modules; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_cluster_without_ray_says_how_to_get_it(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(["batch", str(folder[0]), "--out", str(tmp_path / "r.parquet"), "--cluster"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "pip install -e '.[cluster]'" in err
    assert not (tmp_path / "r.parquet").exists()
    # The desktop bundle leaves Ray out: it says so, and how to get --cluster.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    code = main(["batch", str(folder[0]), "--out", str(tmp_path / "r.parquet"), "--cluster"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "bundle leaves out" in err and "'.[cluster]'" in err


@pytest.mark.parametrize("argv, code, words", [
    (["--task", "poetry"], 2, "Unknown task"),
    (["--task", "qa"], 2, "--question"),
    (["--task", "classify"], 2, "albert-lens analyze"),
    (["--workers", "0"], 2, "--workers"),
    (["--model", "/no/such/model", "--task", "ner"], 1, "No model"),
])
def test_usage_errors_are_one_line(argv, code, words, folder, tmp_path, capsys):
    got = main(["batch", str(folder[0]), "--out", str(tmp_path / "r.parquet"), *argv])
    err = capsys.readouterr().err
    assert got == code and err.startswith("albert-lens: error: ") and err.count("\n") == 1
    assert words in err


def test_an_out_that_is_not_a_batch_output_is_left_alone(folder, tmp_path, capsys):
    out = tmp_path / "results.parquet"
    out.write_bytes(b"my spreadsheet, not parquet")
    assert main(["batch", str(folder[1][0]), "--task", "sentiment", "--out", str(out)]) == 1
    assert "not an albert-lens batch output" in capsys.readouterr().err
    assert out.read_bytes() == b"my spreadsheet, not parquet"


def test_a_full_disk_is_one_line_and_the_run_resumes(folder, tmp_path, monkeypatch, capfd):
    import errno

    from engine.batch import writer

    real = writer.pq.write_table

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.pq, "write_table", full)
    out = tmp_path / "r.parquet"
    code = main(["batch", str(folder[0]), "--task", "sentiment", "--out", str(out),
                 "--workers", "1", "--device", "cpu", "--progress", "none"])
    err = capfd.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("albert-lens: error: cannot write ") and \
        "No space left on device; free some space and run the same command again" in lines[-1]
    assert "Traceback" not in err
    assert not out.exists()
    monkeypatch.setattr(writer.pq, "write_table", real)
    assert main(["batch", str(folder[0]), "--task", "sentiment", "--out", str(out),
                 "--workers", "1", "--device", "cpu", "--progress", "none"]) == 1  # broken files
    assert out.exists()
