"""The Library across processes: kill -9 in the middle of an update, two updaters at once."""

from __future__ import annotations

import time

import pytest

import engine
from engine.errors import LibraryBusyError
from tests.library_support import dump, run_python

pytestmark = pytest.mark.timeout(180)

_UPDATE = """
import os, signal, sys, time
import engine, engine.documents
real = engine.documents.load_document
calls = []
def load(path, **kw):
    calls.append(path)
    if len(calls) == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)   # in the middle of a document
    if {marker!r}:
        open({marker!r}, "a").close()
    time.sleep({delay})
    return real(path, **kw)
engine.documents.load_document = load
with engine.open_library({db!r}) as lib:
    lib.add_folder({root!r})
    r = lib.update(wait={wait})
    print(r.new, r.unchanged)
"""


def _folder(root, n=8):
    root.mkdir()
    for i in range(n):
        body = " ".join(f"Paragraph {j} of file {i} names the word tern{i}." for j in range(40))
        (root / f"d{i:02}.txt").write_text(body + "\n\nA second paragraph.\n", encoding="utf-8")
    return root


def _script(db, root, *, kill_at=0, marker="", delay=0.0, wait=0):
    return _UPDATE.format(db=str(db), root=str(root), kill_at=kill_at, marker=marker,
                          delay=delay, wait=wait)


def _reference(tmp_path, root):
    with engine.open_library(tmp_path / "reference.sqlite3") as ref:
        ref.add_folder(root)
        ref.update()
        return dump(ref)


def test_kill_9_mid_update_then_update_gives_the_uninterrupted_index(tmp_path):
    root = _folder(tmp_path / "docs")
    db = tmp_path / "lib.sqlite3"
    code, _out, err = run_python(_script(db, root, kill_at=4), tmp_path / "home")
    assert code == -9, err
    with engine.open_library(db) as lib:
        assert lib.store.integrity_check() == "ok"
        assert lib.status().documents == 3  # the three committed before the kill
        report = lib.update()
        assert report.new == 5 and report.unchanged == 3
        assert dump(lib) == _reference(tmp_path, root)


def test_a_second_updater_is_told_at_once_and_nothing_is_corrupted(tmp_path):
    root = _folder(tmp_path / "docs")
    db = tmp_path / "lib.sqlite3"
    marker = tmp_path / "started"
    proc = run_python(_script(db, root, marker=str(marker), delay=0.3), tmp_path / "home",
                      wait=False)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with engine.open_library(db) as lib:
            with pytest.raises(LibraryBusyError) as busy:
                lib.update()
            assert "another Albert Lens process" in str(busy.value)
            assert "\n" not in str(busy.value)
            lib.search("tern0")  # reading goes on while the other process writes
            lib.status()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    with engine.open_library(db) as lib:
        assert lib.store.integrity_check() == "ok"
        assert dump(lib) == _reference(tmp_path, root)


def test_two_updaters_that_wait_take_turns(tmp_path):
    root = _folder(tmp_path / "docs", n=5)
    db = tmp_path / "lib.sqlite3"
    procs = [run_python(_script(db, root, delay=0.05, wait=-1), tmp_path / "home", wait=False)
             for _ in range(2)]
    results = sorted(p.communicate(timeout=120)[0].split() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    assert results == [["0", "5"], ["5", "0"]]  # one indexed everything, the other nothing
    with engine.open_library(db) as lib:
        assert lib.store.integrity_check() == "ok"
        assert dump(lib) == _reference(tmp_path, root)
