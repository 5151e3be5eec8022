"""Which files a batch takes: folders walked recursively, globs, named files, missing paths."""

from __future__ import annotations

import os

import pytest

from engine.batch.files import BatchInputError, collect


def _tree(root):
    for rel in ("a.txt", "b.md", "sub/c.pdf", "sub/deep/d.docx", "sub/old/e.txt",
                ".git/f.txt", "sub/.g.txt", "h.png", "i.txt~"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    return root


def names(files, root):
    return [os.path.relpath(f.path, root) for f in files]


def test_folders_are_walked_recursively_for_readable_formats(tmp_path):
    root = _tree(tmp_path)
    files = collect([root])
    assert names(files, root) == ["a.txt", "b.md", "sub/c.pdf", "sub/deep/d.docx",
                                  "sub/old/e.txt"]
    f = files[0]
    st = (root / "a.txt").stat()
    assert (f.path, f.size, f.mtime_ns) == (str(root / "a.txt"), st.st_size, st.st_mtime_ns)


def test_include_and_exclude_globs(tmp_path):
    root = _tree(tmp_path)
    assert names(collect([root], include=["*.txt"]), root) == ["a.txt", "sub/old/e.txt"]
    assert names(collect([root], exclude=["sub/*"]), root) == ["a.txt", "b.md"]
    assert names(collect([root], include=["*.txt", "*.md"], exclude=["*/old/*"]), root) == [
        "a.txt", "b.md"]


def test_named_files_are_taken_once_whatever_their_name(tmp_path):
    root = _tree(tmp_path)
    files = collect([root / "h.png", root, root / "a.txt"])
    assert names(files, root) == ["a.txt", "b.md", "h.png", "sub/c.pdf", "sub/deep/d.docx",
                                  "sub/old/e.txt"]


def test_a_missing_path_is_a_typed_error(tmp_path):
    with pytest.raises(BatchInputError, match="missing"):
        collect([tmp_path / "missing"])
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(BatchInputError, match="not a regular file"):
        collect([tmp_path / "pipe"])


def test_a_folder_contributes_its_documents_not_leftovers():
    # One rule (engine.documents.folders) for batch runs and the Library alike.
    from engine.documents.folders import is_document_name

    documents = ("a.txt", "B.PDF", "c.docx", "d.epub", "k.htm", "l.markdown")
    leftovers = (".hidden.txt", "~$lock.docx", "e.txt~", "f.part", "g.png", "h", "#i.md#",
                 "j.md.swp", "m.docx.crdownload", ".~lock.n.docx#")
    assert [n for n in documents if not is_document_name(n)] == []
    assert [n for n in leftovers if is_document_name(n)] == []


def test_model_identity_is_the_librarys_model_key(tmp_path, monkeypatch, checkpoints):
    from engine.batch.settings import model_identity
    from engine.library.indexer import model_key
    from engine.models import store
    from engine.models.importer import import_model

    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path))
    import_model(checkpoints("sequence"), "sentiment", model_id="local/s", convert=False)
    installed = store.get_installed("local/s")
    identity = model_identity("sentiment", installed.path)
    assert f"{identity.id}@{identity.revision}" == model_key(installed)
    other = model_identity("sentiment", checkpoints("sequence"))
    assert other.id == str(checkpoints("sequence").resolve())
    assert other.revision.startswith("sha256:")
