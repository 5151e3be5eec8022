"""The Library view's Retry Failed: the documents that failed to load are read again although
their files are unchanged (`LibraryModel.update(retry_failed=True)`), also when the retry is
asked while an update runs or while another process holds the library."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

import app.library_model
import engine.documents
from engine.errors import DocumentError
from tests.app_support import fake_factory, make_window

pytestmark = pytest.mark.timeout(120)


class FlakyLoader:
    """`load_document` that fails on each path in `fail_once` the first time it is read, as
    the engine's loaders fail (chmod 000 does not stop root, who may run these tests), and
    holds a path in `hold` until `release` is set."""

    def __init__(self, monkeypatch):
        self.real = engine.documents.load_document
        self.calls: list[str] = []
        self.fail_once: set[str] = set()
        self.hold: set[str] = set()
        self.holding = threading.Event()
        self.release = threading.Event()
        monkeypatch.setattr(engine.documents, "load_document", self)

    def __call__(self, path, **kw):
        self.calls.append(Path(path).name)
        if str(path) in self.hold:
            self.holding.set()
            self.release.wait(30)
        if str(path) in self.fail_once:
            self.fail_once.discard(str(path))
            raise DocumentError(f'"{path}" cannot be read: Permission denied.')
        return self.real(path, **kw)


@pytest.fixture
def win(qtbot, home):
    w = make_window(qtbot, fake_factory(), size=(1300, 850))
    w.library.show()
    return w


@pytest.fixture
def loader(monkeypatch):
    return FlakyLoader(monkeypatch)


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "heron.txt").write_text("The heron colony nests by the river.\n", encoding="utf-8")
    return root


def settled(model) -> bool:
    return not model.updating and model._refreshing is None and model.listing.status is not None


def wait_failed(qtbot, win, loader, path: Path) -> None:
    """Adds the folder of `path`, whose first read fails, and waits for the update to end."""
    loader.fail_once.add(str(path))
    win.library.model.add_folder(path.parent)
    qtbot.waitUntil(lambda: settled(win.library.model)
                    and win.library.view.document_rows().get(str(path), ("",))[0] == "failed",
                    timeout=20000)


def test_retry_failed_reads_the_failed_document_again(qtbot, win, loader, docs):
    view, model = win.library.view, win.library.model
    heron = docs / "heron.txt"
    # Nothing in the library yet.
    assert not view.retry_button.isEnabled() and not view.failures_box.isVisible()
    wait_failed(qtbot, win, loader, heron)
    assert view.document_rows()[str(heron)] == (
        "failed", f'failed: "{heron}" cannot be read: Permission denied.')
    assert view.retry_button.isEnabled() and view.retry_button.isVisible()
    assert view.failures.text() == "1 document could not be read"
    assert view.retry_button.toolTip()
    assert loader.calls == ["heron.txt"]

    # A plain update does not read an unchanged failed file again.
    model.update()
    qtbot.waitUntil(lambda: settled(model), timeout=20000)
    assert loader.calls == ["heron.txt"] and view.document_rows()[str(heron)][0] == "failed"

    qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
    assert model.updating and not view.retry_button.isEnabled()
    qtbot.waitUntil(lambda: settled(model)
                    and view.document_rows()[str(heron)][0] == "indexed", timeout=20000)
    assert loader.calls == ["heron.txt", "heron.txt"]
    assert view.document_rows()[str(heron)] == ("indexed", "indexed (keywords)")
    assert model.listing.status.failed == []
    assert not view.retry_button.isEnabled() and not view.failures_box.isVisible()
    assert view.summary.text().startswith("1 folder · 1 documents · 1 indexed · ")
    assert not win.error_log


def test_a_retry_asked_during_an_update_runs_after_it(qtbot, win, loader, docs):
    view, model = win.library.view, win.library.model
    heron = docs / "heron.txt"
    wait_failed(qtbot, win, loader, heron)
    late = docs / "late.txt"
    loader.hold.add(str(late))
    late.write_text("The gannets dive for mackerel at dawn.\n", encoding="utf-8")
    try:
        model.update()
        assert loader.holding.wait(20)
        assert model.updating and not view.retry_button.isEnabled()
        assert model.update(retry_failed=True) is None  # queued behind the running update
    finally:
        loader.release.set()
    qtbot.waitUntil(lambda: settled(model)
                    and view.document_rows().get(str(heron), ("",))[0] == "indexed",
                    timeout=20000)
    assert view.document_rows()[str(late)][0] == "indexed"
    assert loader.calls.count("heron.txt") == 2
    assert not model.retry_pending and not view.retry_button.isEnabled()
    assert not win.error_log


def test_a_retry_while_another_process_updates_is_done_by_the_later_try(
        qtbot, win, loader, docs, monkeypatch):
    from filelock import FileLock

    view, model = win.library.view, win.library.model
    heron = docs / "heron.txt"
    wait_failed(qtbot, win, loader, heron)
    monkeypatch.setattr(app.library_model, "BUSY_RETRY_MS", 300)
    lock = FileLock(str(model.location) + ".lock")
    lock.acquire()
    try:
        qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: view.notice.isVisible(), timeout=10000)
        assert model.retry_pending and loader.calls == ["heron.txt"]
    finally:
        lock.release()
    # The later try is a plain update; it still reads the failed document again.
    qtbot.waitUntil(lambda: settled(model)
                    and view.document_rows()[str(heron)][0] == "indexed", timeout=20000)
    assert loader.calls == ["heron.txt", "heron.txt"]
    assert not model.retry_pending and not view.notice.isVisible()
    assert not win.error_log


@pytest.mark.parametrize("folder_change", [False, True], ids=["plain", "watcher-queued"])
def test_cancelling_a_retry_drops_it(qtbot, win, loader, docs, folder_change):
    view, model = win.library.view, win.library.model
    heron, ibis = docs / "heron.txt", docs / "ibis.txt"
    ibis.write_text("The ibis wades in the shallows.\n", encoding="utf-8")
    loader.fail_once.add(str(ibis))
    wait_failed(qtbot, win, loader, heron)
    assert view.document_rows()[str(ibis)][0] == "failed"
    loader.calls.clear()
    loader.hold.add(str(heron))
    try:
        qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
        assert loader.holding.wait(20)
        if folder_change:
            model.update()  # what the folder watcher does when a file changes meanwhile
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    finally:
        loader.release.set()
    qtbot.waitUntil(lambda: settled(model), timeout=20000)
    assert loader.calls == ["heron.txt"]  # stopped before the second failed document
    assert view.document_rows()[str(ibis)][0] == "failed"
    assert not model.retry_pending and view.retry_button.isEnabled()
    # The person stopped the retry: the next plain update does not do it.
    model.update()
    qtbot.waitUntil(lambda: settled(model), timeout=20000)
    assert loader.calls == ["heron.txt"]
    assert view.document_rows()[str(ibis)][0] == "failed"


def test_a_retry_cut_short_by_adding_a_folder_is_done_by_the_restart(qtbot, win, loader, docs,
                                                                      tmp_path):
    view, model = win.library.view, win.library.model
    heron, ibis = docs / "heron.txt", docs / "ibis.txt"
    ibis.write_text("The ibis wades in the shallows.\n", encoding="utf-8")
    loader.fail_once.add(str(ibis))
    wait_failed(qtbot, win, loader, heron)
    more = tmp_path / "more"
    more.mkdir()
    (more / "kite.txt").write_text("A red kite circles the hill.\n", encoding="utf-8")
    loader.hold.add(str(heron))
    try:
        qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
        assert loader.holding.wait(20)
        model.add_folder(more)  # stops the running update and starts again
        qtbot.waitUntil(lambda: model._again, timeout=10000)
    finally:
        loader.release.set()
    qtbot.waitUntil(lambda: settled(model) and len(model.listing.folders) == 2
                    and all(short == "indexed" for short, _ in view.document_rows().values())
                    and len(view.document_rows()) == 3, timeout=20000)
    assert loader.calls.count("ibis.txt") == 2 and not model.retry_pending
