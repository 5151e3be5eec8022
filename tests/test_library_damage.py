"""A library whose disk fills up, whose file is damaged or that cannot be written: one-line
LibraryErrors that say what to do, and what was indexed before stays."""

from __future__ import annotations

import os
import sqlite3

import pytest

import engine
from engine.errors import LibraryError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))


def write_docs(folder, count: int, words: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = " ".join(f"word{i}x{j}" for j in range(words))
        (folder / f"d{i:03d}.txt").write_text(f"Report {i}. {body}.\n", encoding="utf-8")


def test_a_full_disk_mid_update_says_so_and_keeps_what_was_indexed(tmp_path):
    write_docs(tmp_path / "docs", 3)
    with engine.open_library(tmp_path / "lib.sqlite3", device="cpu") as lib:
        lib.add_folder(tmp_path / "docs")
        lib.update()
        db = lib._store._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own way to make a database "full": no page past this count can be written.
        db.execute(f"PRAGMA max_page_count = {pages + 2}")
        write_docs(tmp_path / "docs" / "more", 40, words=2000)
        with pytest.raises(LibraryError, match="is full. Free some space, then update again"):
            lib.update()
        assert len(lib.search("word1x5")) >= 1  # indexed before: still there
    with sqlite3.connect(tmp_path / "lib.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_damaged_library_is_a_library_error_not_a_raw_sqlite_one(tmp_path):
    write_docs(tmp_path / "docs", 30, words=200)
    path = tmp_path / "lib.sqlite3"
    with engine.open_library(path, device="cpu") as lib:
        lib.add_folder(tmp_path / "docs")
        lib.update()
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # the header stays (opening works), the pages after go
        fh.seek(size // 3)
        fh.write(os.urandom(size - size // 3))
    with pytest.raises(LibraryError, match="not a usable library database|cannot be used"), \
            engine.open_library(path, device="cpu") as lib:
        lib.search("word1x5")
        lib.status()
        lib.update()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes through file permissions")
def test_a_library_on_a_read_only_location_says_so(tmp_path):
    write_docs(tmp_path / "ro" / "docs", 2)
    path = tmp_path / "ro" / "lib.sqlite3"
    with engine.open_library(path, device="cpu") as lib:
        lib.add_folder(tmp_path / "ro" / "docs")
        lib.update()
    for p in (tmp_path / "ro").glob("lib.sqlite3*"):
        p.chmod(0o444)
    (tmp_path / "ro").chmod(0o555)
    try:
        with pytest.raises(LibraryError, match="cannot write to"), \
                engine.open_library(path, device="cpu") as lib:
            lib.search("word1x5")
    finally:
        (tmp_path / "ro").chmod(0o755)
