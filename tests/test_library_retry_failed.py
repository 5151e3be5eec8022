"""Retrying the files that failed to load: `update(retry_failed=True)` and
`albert-lens library update --retry-failed` read them again although they are unchanged, and
nothing else."""

from __future__ import annotations

import json
import os

import pytest

import engine
import engine.documents
from engine.cli import main
from engine.errors import DocumentError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("The heron colony nests by the river.\n", encoding="utf-8")
    (root / "b.txt").write_text("The gannets dive for mackerel at dawn.\n", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")  # fails every time: nothing to read
    return root


class Loader:
    """`load_document` that records each path it is asked for and, while `broken` holds a
    path, fails on it as the engine's loaders fail (as a file without read permission does:
    chmod 000 does not stop root, who may run these tests)."""

    def __init__(self, monkeypatch):
        self.real = engine.documents.load_document
        self.calls: list[str] = []
        self.broken: set[str] = set()
        monkeypatch.setattr(engine.documents, "load_document", self)

    def __call__(self, path, **kw):
        self.calls.append(os.path.basename(path))
        if str(path) in self.broken:
            raise DocumentError(f'"{path}" cannot be read: Permission denied.')
        return self.real(path, **kw)

    def take(self) -> list[str]:
        calls, self.calls = sorted(self.calls), []
        return calls


def _status(lib, path) -> tuple[str, str | None]:
    row = lib.store.document_by_path(str(path))
    return row.status, row.error


def test_a_failed_file_is_read_again_only_when_retry_is_asked(tmp_path, docs, monkeypatch):
    loader = Loader(monkeypatch)
    loader.broken.add(str(docs / "b.txt"))
    with engine.open_library(tmp_path / "lib.sqlite3") as lib:
        lib.add_folder(docs)
        report = lib.update()
        assert (report.new, report.failed) == (3, 2)
        assert loader.take() == ["a.txt", "b.txt", "empty.txt"]
        assert _status(lib, docs / "b.txt") == \
            ("failed", f'"{docs / "b.txt"}" cannot be read: Permission denied.')
        loader.broken.clear()  # the cause has passed; the file itself is unchanged

        report = lib.update()
        assert loader.take() == [] and report.unchanged == 3 and report.failed == 0
        assert _status(lib, docs / "b.txt")[0] == "failed"
        assert lib.search("gannets") == []

        report = lib.update(retry_failed=True)
        assert loader.take() == ["b.txt", "empty.txt"]  # the failed ones, not a.txt
        assert (report.changed, report.unchanged, report.failed) == (2, 1, 1)
        assert _status(lib, docs / "b.txt") == ("indexed", None)
        assert _status(lib, docs / "empty.txt")[0] == "failed"
        assert [h.path for h in lib.search("gannets")] == [str(docs / "b.txt")]
        assert lib.status().documents == 3 and lib.status().indexed["passages"] == 2

        lib.update(retry_failed=True)
        assert loader.take() == ["empty.txt"]
        lib.update()
        assert loader.take() == []


def test_retry_reads_a_failed_file_saved_again_or_renamed(tmp_path, docs, monkeypatch):
    loader = Loader(monkeypatch)
    loader.broken |= {str(docs / "a.txt"), str(docs / "b.txt")}
    with engine.open_library(tmp_path / "lib.sqlite3") as lib:
        lib.add_folder(docs)
        lib.update()
        loader.broken.clear()
        loader.take()
        # Same bytes under a new time and under a new name: without retry, only noted.
        st = os.stat(docs / "a.txt")
        os.utime(docs / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        os.rename(docs / "b.txt", docs / "c.txt")
        report = lib.update()
        assert (report.touched, report.moved) == (1, 1) and loader.take() == []
        assert _status(lib, docs / "a.txt")[0] == _status(lib, docs / "c.txt")[0] == "failed"

        report = lib.update(retry_failed=True)
        assert loader.take() == ["a.txt", "c.txt", "empty.txt"]
        assert _status(lib, docs / "a.txt") == _status(lib, docs / "c.txt") == ("indexed", None)
        assert sorted(d.path for d in lib.documents()) == \
            [str(docs / n) for n in ("a.txt", "c.txt", "empty.txt")]

        # Renamed and retried in one update: read under its new name, the old row gone.
        os.rename(docs / "empty.txt", docs / "void.txt")
        report = lib.update(retry_failed=True)
        assert loader.take() == ["void.txt"] and report.moved == 0 and report.deleted == 1
        assert sorted(d.path for d in lib.documents()) == \
            [str(docs / n) for n in ("a.txt", "c.txt", "void.txt")]
        assert _status(lib, docs / "void.txt")[0] == "failed"


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_update_retry_failed(docs, monkeypatch, capsys):
    loader = Loader(monkeypatch)
    loader.broken.add(str(docs / "b.txt"))
    code, out, err = run(["library", "add", str(docs), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["update"]["failed"] == 2
    loader.broken.clear()
    loader.take()
    code, out, err = run(["library", "update", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["unchanged"] == 3 and loader.take() == []

    code, out, err = run(["library", "update", "--retry-failed", "--format", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert (report["changed"], report["unchanged"], report["failed"]) == (2, 1, 1)
    assert loader.take() == ["b.txt", "empty.txt"]
    code, out, _ = run(["library", "status", "--format", "json"], capsys)
    assert [f["path"] for f in json.loads(out)["failed"]] == [str(docs / "empty.txt")]

    code, out, err = run(["library", "update", "--retry-failed"], capsys)
    assert code == 0, err
    assert out.startswith("0 new, 1 changed, 0 moved, 0 deleted, 2 unchanged, 1 failed, ")
    assert loader.take() == ["empty.txt"]
