"""`albert-lens` when things go wrong: a failing or missing task, a typo, a closed pipe, a file
name that is not UTF-8, no GPU. Partial results survive and every message is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from engine.cli import main

REPO = Path(__file__).resolve().parents[1]
TEXT = (
    "Marie Curie was born in Warsaw. She moved to Paris in 1891 and studied at the Sorbonne.\n\n"
    "Pierre Curie worked with her in Paris. They shared the Nobel Prize in 1903. "
    "It was a very good year for science."
)


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "curie.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_messages(err: str) -> list[str]:
    lines = err.splitlines()
    assert "Traceback" not in err
    assert all(line.startswith("albert-lens: ") for line in lines), err
    return lines


def _all_models(checkpoints) -> list[str]:
    return ["--model", f"ner={checkpoints('token')}",
            "--model", f"sentiment={checkpoints('sequence')}",
            "--model", f"summary={checkpoints('encoder')}"]


# --- 3: one task fails, the others are kept ------------------------------------------------------
def test_a_failing_task_keeps_the_others(sample, checkpoints, capsys, monkeypatch):
    from engine.tasks import summarization

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(summarization.SummarizationPipeline, "__call__", out_of_memory)
    code, out, err = run_cli(["analyze", sample, *_all_models(checkpoints)], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["entities"] and report["sentiment"]["label"] in ("negative", "positive")
    assert "summary" not in report
    assert report["tasks"]["summary"]["status"] == "failed"
    assert "memory" in report["tasks"]["summary"]["error"]
    assert report["tasks"]["ner"]["status"] == report["tasks"]["sentiment"]["status"] == "done"
    lines = _one_line_messages(err)
    assert len(lines) == 1 and "summary" in lines[0] and "memory" in lines[0]


def test_a_single_failing_task_is_an_error_without_output(sample, checkpoints, capsys,
                                                           monkeypatch):
    from engine.tasks import summarization

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(summarization.SummarizationPipeline, "__call__", out_of_memory)
    code, out, err = run_cli(["analyze", sample, "--task", "summary", "--model",
                              checkpoints("encoder")], capsys)
    assert code == 1 and out == ""
    assert _one_line_messages(err) == [err.strip()] and "memory" in err


# --- 4: missing models are skipped, with how to get them -----------------------------------------
def test_missing_models_are_skipped_with_how_to_get_them(sample, checkpoints, capsys,
                                                          monkeypatch, tmp_path):
    from engine.models.importer import import_model

    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    import_model(checkpoints("token"), "ner", model_id="tiny-ner", convert=False)
    code, out, err = run_cli(["analyze", sample, "--device", "cpu"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["entities"] and report["tasks"]["ner"]["model"] == "tiny-ner"
    assert "sentiment" not in report and "summary" not in report
    assert report["tasks"]["sentiment"]["status"] == "skipped"
    assert report["tasks"]["summary"]["status"] == "skipped"
    lines = _one_line_messages(err)
    assert len(lines) == 2
    for task, line in zip(("sentiment", "summary"), lines, strict=True):
        assert f"skipped {task}" in line
        assert "albert-lens models download " in line
        assert f"albert-lens models import DIR --task {task}" in line


def test_nothing_installed_is_an_error(sample, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "empty"))
    code, out, err = run_cli(["analyze", sample], capsys)
    assert code == 1 and out == ""
    lines = _one_line_messages(err)
    assert lines[-1].startswith("albert-lens: error: ") and "no model" in lines[-1].lower()
    assert sum("skipped" in line for line in lines) == 3


def test_gpu_without_a_gpu_says_why_the_cpu_is_used(sample, checkpoints, capsys, monkeypatch):
    from engine.runtime import providers

    monkeypatch.setattr(providers, "available_providers", lambda: [providers.CPU])
    code, out, err = run_cli(["analyze", sample, "--task", "sentiment", "--device", "gpu",
                              "--model", checkpoints("sequence")], capsys)
    assert code == 0, err
    json.loads(out)
    lines = _one_line_messages(err)
    assert len(lines) == 1
    assert "CPU" in lines[0] and "no GPU provider found" in lines[0]
    code, out, err = run_cli(["analyze", sample, "--task", "sentiment", "--device", "cpu",
                              "--model", checkpoints("sequence")], capsys)
    assert code == 0 and err == ""


# --- 5: a mistyped command -----------------------------------------------------------------------
@pytest.fixture
def opened(monkeypatch):
    calls: list[list[str]] = []
    fake = types.ModuleType("app.main")
    fake.run_app = lambda files: calls.append(files) or 0
    monkeypatch.setitem(sys.modules, "app.main", fake)
    return calls


@pytest.mark.parametrize("typo, meant", [("analyse", "analyze"), ("analize", "analyze"),
                                         ("modles", "models")])
def test_a_mistyped_command_says_did_you_mean(typo, meant, sample, opened, capsys, tmp_path,
                                              monkeypatch):
    from app.entry import main as albert_lens

    monkeypatch.chdir(tmp_path)
    assert albert_lens([typo, str(sample)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and opened == []
    assert err == f"albert-lens: unknown command '{typo}' — did you mean '{meant}'?\n"
    # The headless engine says the same.
    assert main([typo, str(sample)]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_files_still_open_the_app(sample, opened, tmp_path, monkeypatch, capsys):
    from app.entry import main as albert_lens

    monkeypatch.chdir(tmp_path)
    (tmp_path / "analyse").write_text("a file named like a command", encoding="utf-8")
    assert albert_lens([str(sample)]) == 0
    assert albert_lens(["analyse"]) == 0  # an existing file wins
    assert albert_lens(["analyse.txt"]) == 0  # a file name, even a missing one
    assert albert_lens(["notes/analyse"]) == 0
    assert albert_lens(["zebra"]) == 0  # not close to any command
    assert opened == [[str(sample)], ["analyse"], ["analyse.txt"], ["notes/analyse"], ["zebra"]]
    assert capsys.readouterr().err == ""


# --- 6: a reader that closes early ---------------------------------------------------------------
def _closed_pipe_run(args: list[str]) -> subprocess.CompletedProcess:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written
    try:
        return subprocess.run([sys.executable, "-m", "app.entry", *args], stdout=write_end,
                              stderr=subprocess.PIPE, cwd=REPO, timeout=120, check=False)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("args", [
    ["models", "list", "--json", "--catalog"],
    ["models", "list"],
    ["--help"],
    ["analyze", "--help"],
    ["--version"],
])
def test_a_closed_pipe_is_quiet(args):
    proc = _closed_pipe_run(args)
    assert proc.stderr == b""
    assert proc.returncode in (0, 141)  # argparse's own help and version ignore the pipe


def test_a_closed_pipe_after_an_analysis_is_quiet(sample, checkpoints):
    proc = _closed_pipe_run(["analyze", str(sample), "--task", "sentiment", "--model",
                             str(checkpoints("sequence"))])
    assert proc.stderr == b""
    assert proc.returncode == 141


def test_head_reads_the_first_lines_quietly():
    proc = subprocess.run(
        f"{sys.executable} -m app.entry models list --json --catalog | head -c 20",
        shell=True, capture_output=True, cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert proc.stdout.startswith(b"{")


# --- 7: a file name that is not UTF-8 ------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bytes file names: Linux")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_file_name_that_is_not_utf8(fmt, tmp_path, checkpoints):
    folder = os.fsencode(tmp_path)
    path = os.path.join(folder, b"caf\xe9.txt")
    with open(path, "wb") as f:
        f.write(TEXT.encode("utf-8"))
    proc = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"engine.cli", b"analyze", path, b"--task",
         b"sentiment", b"--format", fmt.encode(), b"--model",
         os.fsencode(checkpoints("sequence"))],
        capture_output=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    out = proc.stdout.decode("utf-8")  # strict: valid UTF-8
    if fmt == "json":
        report = json.loads(out)
        assert report["document"]["path"] == os.fsdecode(folder) + "/caf\\xe9.txt"
        assert report["sentiment"]["label"] in ("negative", "positive")
    else:
        assert "caf\\xe9.txt" in out and "Sentiment:" in out
