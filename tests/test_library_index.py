"""The Library's first stage: folders, passages, keyword search, change detection, status."""

from __future__ import annotations

import os
import sqlite3

import pytest

import engine
import engine.documents
from engine.documents.errors import NoTextLayerError
from engine.errors import LibraryError
from engine.library import scan
from engine.library.library import library_path
from tests.library_support import FACTS, dump, make_corpus

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home of its own: named libraries live under it."""
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def lib(tmp_path):
    with engine.open_library(tmp_path / "lib.sqlite3", device="cpu") as library:
        yield library


@pytest.fixture
def loads(monkeypatch):
    """Paths loaded by the engine's loader, and paths hashed by the scan."""
    seen = {"load": [], "hash": []}
    real_load, real_hash = engine.documents.load_document, scan.file_sha256

    def load(path, **kw):
        seen["load"].append(str(path))
        return real_load(path, **kw)

    def sha(path):
        seen["hash"].append(str(path))
        return real_hash(path)

    monkeypatch.setattr(engine.documents, "load_document", load)
    monkeypatch.setattr(scan, "file_sha256", sha)
    return seen


def _check_hit(hit, word):
    document = engine.load_document(hit.path)
    assert hit.text == document.text[hit.start:hit.end]
    assert word in hit.text
    assert hit.page == (document.page_of(hit.start) if document.pages else None)


def test_facts_are_found_at_their_document_page_and_span(lib, corpus):
    lib.add_folder(corpus)
    report = lib.update()
    assert report.new == 8 and not report.cancelled
    for word, (rel, page) in FACTS.items():
        hits = lib.search(word)
        assert hits, word
        assert hits[0].path == str(corpus / rel)
        assert hits[0].page == page
        _check_hit(hits[0], word)
    # The docx is searchable too, and nothing hidden, temporary or in script tags is indexed.
    assert lib.search("twelve percent")[0].path == str(corpus / "notes" / "quarter.docx")
    assert {h.path for h in lib.search("zebracorn")} == {str(corpus / "notes" / "alpha.txt")}


def test_failures_are_recorded_with_the_loaders_reason(lib, corpus):
    lib.add_folder(corpus)
    lib.update()
    status = lib.status()
    failed = dict(status.failed)
    assert set(failed) == {str(corpus / p) for p in
                           ("scan.pdf", "notes/empty.txt", "notes/broken.docx")}
    with pytest.raises(NoTextLayerError) as scanned:
        engine.load_document(corpus / "scan.pdf")
    assert failed[str(corpus / "scan.pdf")] == str(scanned.value)
    assert "OCR" in failed[str(corpus / "scan.pdf")]
    assert all("\n" not in why for why in failed.values())
    assert status.documents == 8 and status.indexed["passages"] == 5
    assert status.passages == len(dump(lib)["passages"]) > 5
    assert status.disk_bytes > 0 and status.folders == [str(corpus)]
    assert set(status.skipped) == {"embeddings", "entities"}  # no models installed
    assert "models" in status.skipped["entities"]
    docs = {d.path: d for d in lib.documents()}
    assert docs[str(corpus / "paper.pdf")].pages == 2
    assert docs[str(corpus / "scan.pdf")].status == "failed"


def test_passages_are_the_qa_retrievers_and_index_the_text(lib, corpus):
    from engine.tasks.qa import PASSAGE_WORDS
    from engine.tasks.retrieval import make_passages

    lib.add_folder(corpus)
    lib.update()
    stored = dump(lib)["passages"]
    path = str(corpus / "notes" / "alpha.txt")
    document = engine.load_document(path)
    expected = make_passages(document.text, [(p.start, p.end) for p in document.paragraphs],
                             *PASSAGE_WORDS)
    assert [(s, e) for p, _, s, e, *_ in stored if p == path] == expected
    for p, _, start, end, page, text, folded in stored:
        doc = engine.load_document(p)
        assert text == doc.text[start:end] and len(folded) == len(text)
        if doc.pages:  # a passage never runs over a page's end
            assert doc.page_of(end - 1) == page


def test_search_through_lookalike_letters(lib, corpus):
    lib.add_folder(corpus)
    lib.update()
    hit = lib.search("albert engine")[0]
    assert hit.path == str(corpus / "notes" / "deep" / "beta.md")
    assert "AᏞBERT" in hit.text  # the original text is what is shown
    # ... and a query written with look-alikes finds plain text.
    assert lib.search("zеbracorn")[0].path == str(corpus / "notes" / "alpha.txt")  # Cyrillic е


def test_query_syntax_is_never_fts_syntax(lib, corpus):
    lib.add_folder(corpus)
    lib.update()
    for query in ('"', "NEAR(", "a OR", "*", "zebracorn AND -", "'; DROP TABLE passages; --"):
        lib.search(query)
    assert lib.search("!!!") == []
    assert lib.search('zebracorn"')[0].path.endswith("alpha.txt")


def test_unchanged_files_are_not_opened(lib, corpus, loads):
    lib.add_folder(corpus)
    lib.update()
    assert len(loads["load"]) == 8
    before = dump(lib)
    loads["load"].clear(), loads["hash"].clear()
    report = lib.update()
    assert loads == {"load": [], "hash": []}
    assert report.unchanged == 8 and report.new == report.changed == 0
    assert dump(lib) == before


def test_changed_touched_renamed_and_deleted_files(lib, tmp_path, loads):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        (root / f"d{i}.txt").write_text(f"Document {i} mentions word{i}.\n", encoding="utf-8")
    lib.add_folder(root)
    lib.update()
    loads["load"].clear(), loads["hash"].clear()

    (root / "d0.txt").write_text("Document 0 now mentions pelican.\n", encoding="utf-8")
    os.utime(root / "d1.txt", ns=(1, 10**18))              # same bytes, new time
    os.rename(root / "d2.txt", root / "sub" / "moved.txt")  # same bytes, new path
    (root / "d3.txt").unlink()
    report = lib.update()
    assert loads["load"] == [str(root / "d0.txt")]
    assert sorted(loads["hash"]) == sorted(
        [str(root / "d0.txt"), str(root / "d1.txt"), str(root / "sub" / "moved.txt")])
    assert (report.changed, report.touched, report.moved, report.deleted) == (1, 1, 1, 1)
    assert lib.search("pelican")[0].path == str(root / "d0.txt")
    assert lib.search("word0") == [] and lib.search("word3") == []
    moved = lib.search("word2")[0]
    assert moved.path == str(root / "sub" / "moved.txt")
    assert moved.text == engine.load_document(moved.path).text[moved.start:moved.end]
    loads["load"].clear(), loads["hash"].clear()
    assert lib.update().unchanged == 3 and loads == {"load": [], "hash": []}


def test_same_index_as_a_fresh_library_after_changes(lib, tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(3):
        (root / f"d{i}.txt").write_text(f"Text {i} about herons.\n", encoding="utf-8")
    lib.add_folder(root)
    lib.update()
    (root / "d1.txt").write_text("Rewritten about cranes.\n", encoding="utf-8")
    (root / "d2.txt").rename(root / "d9.txt")
    lib.update()
    with engine.open_library(tmp_path / "fresh.sqlite3") as fresh:
        fresh.add_folder(root)
        fresh.update()
        assert dump(fresh) == dump(lib)


def test_folders_add_remove_and_non_recursive(lib, corpus):
    lib.add_folder(corpus / "notes", recursive=False)
    lib.update()
    assert lib.search("quokkafest") == []  # in notes/deep
    lib.add_folder(corpus / "notes")  # now recursive
    lib.update()
    assert lib.search("quokkafest")
    lib.add_folder(corpus / "web")
    lib.update()
    assert lib.folders() == [str(corpus / "notes"), str(corpus / "web")]
    assert lib.remove_folder(corpus / "web") == 1
    assert lib.search("marmotville") == [] and lib.folders() == [str(corpus / "notes")]
    with pytest.raises(LibraryError, match="not a folder of this library"):
        lib.remove_folder(corpus / "web")
    with pytest.raises(LibraryError, match="does not exist"):
        lib.add_folder(corpus / "nowhere")
    with pytest.raises(LibraryError, match="not a folder"):
        lib.add_folder(corpus / "notes" / "alpha.txt")


def test_cancel_keeps_what_was_committed(lib, tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(5):
        (root / f"d{i}.txt").write_text(f"Text {i} about ibis{i}.\n", encoding="utf-8")
    lib.add_folder(root)
    seen = []
    report = lib.update(progress=seen.append, cancel=lambda: len(seen) > 3)
    assert report.cancelled
    done = lib.status().documents
    assert 0 < done < 5
    assert lib.update().new == 5 - done and lib.status().documents == 5
    stages = [e.stage for e in seen]
    assert stages[0] == "scan" and "passages" in stages


def test_library_names_and_paths(tmp_path):
    assert library_path() == engine.paths.data_dir() / "libraries" / "default.sqlite3"
    assert library_path("work") == engine.paths.data_dir() / "libraries" / "work.sqlite3"
    assert library_path(tmp_path / "x.sqlite3") == tmp_path / "x.sqlite3"
    for bad in ("../up", "a/b", "", ".hidden", "x" * 101):
        with pytest.raises(LibraryError, match="not a library name"):
            library_path(bad)
    with engine.open_library("work") as lib:
        assert lib.path.is_file() and lib.status().documents == 0


def test_a_file_that_is_not_a_library_is_refused(tmp_path):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError) as err:
        engine.open_library(junk)
    assert "not a usable library" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(LibraryError, match="not a file"):
        engine.open_library(tmp_path / "dir.sqlite3")
    assert junk.read_bytes() == b"this is not sqlite" * 100


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    engine.open_library(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LibraryError, match="newer Albert Lens"):
        engine.open_library(path)


def test_wal_and_foreign_keys(lib):
    db = lib.store._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert lib.store.integrity_check() == "ok"
