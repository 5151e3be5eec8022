"""The Library view against a real library built from files written here (keyword search needs
no model: stage 1 is FTS5)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

import engine
import engine.documents
from tests.app_support import fake_factory, make_window
from tests.document_factory import make_pdf
from tests.library_support import put_entities

FILLER = "The committee met on Tuesday and filed the minutes in the archive as usual."


def write_corpus(root: Path) -> dict[str, Path]:
    (root / "sub").mkdir(parents=True)
    files = {
        "alpha": root / "alpha.txt",
        "beta": root / "sub" / "beta.md",
        "empty": root / "empty.txt",
        "paper": root / "paper.pdf",
    }
    files["alpha"].write_text(f"{FILLER}\n\nThe zebracorn treaty was signed in Oslo in 1907. "
                              "Ada Brook signed it.\n\nTags like <b>bold</b> stay text.\n",
                              encoding="utf-8")
    files["beta"].write_text(f"# Festivals\n\n{FILLER}\n\nThe quokkafest takes place in Perth; "
                             "Ada Brook opens it.\n", encoding="utf-8")
    files["empty"].write_bytes(b"")
    make_pdf(files["paper"], [[FILLER, "Page one is about budgets."],
                              [FILLER, "The capybara census counted 4200 animals."]],
             header=None)
    return files


@pytest.fixture
def win(qtbot, home):
    w = make_window(qtbot, fake_factory(), size=(1300, 850))
    w.library.show()
    return w


def wait_indexed(qtbot, model, count: int, timeout: int = 20000) -> None:
    """Until no update runs and the listing holds `count` documents."""
    qtbot.waitUntil(lambda: not model.updating and model.listing.status is not None
                    and model.listing.status.documents == count
                    and model._refreshing is None, timeout=timeout)


def add_folder_with_button(qtbot, win, monkeypatch, folder: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    qtbot.mouseClick(win.library.view.add_button, Qt.MouseButton.LeftButton)


def click_row(qtbot, widget, row: int) -> None:
    item = widget.item(row)
    widget.scrollToItem(item)
    rect = widget.visualItemRect(item)
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def session_for(win, path: Path):
    return next((s for s in win.sessions if s.document.path is not None
                 and Path(s.document.path) == path), None)


def test_folders_counts_and_each_documents_status(qtbot, win, tmp_path, monkeypatch):
    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    add_folder_with_button(qtbot, win, monkeypatch, tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    top = view.tree.topLevelItem(0)
    assert view.tree.topLevelItemCount() == 1 and top.text(0) == "docs (4)"
    assert top.data(0, Qt.ItemDataRole.UserRole) == str(tmp_path / "docs")
    assert top.text(1) == "3 indexed, 1 failed"
    rows = view.document_rows()
    assert set(rows) == {str(p) for p in files.values()}
    with pytest.raises(engine.documents.DocumentError) as empty:
        engine.load_document(files["empty"])
    reason = f"failed: {' '.join(str(empty.value).split())}"
    assert rows[str(files["empty"])] == ("failed", reason)
    # No model installed: keyword search only.
    assert rows[str(files["alpha"])] == ("indexed", "indexed (keywords)")
    failed = next(top.child(i) for i in range(top.childCount())
                  if top.child(i).text(0) == "empty.txt")
    view.tree.setCurrentItem(failed)
    assert view.details.text() == f"empty.txt: {reason}"
    assert view.details.textFormat() == Qt.TextFormat.PlainText
    assert view.summary.textFormat() == Qt.TextFormat.PlainText
    assert view.summary.text().startswith("1 folder · 4 documents · 3 indexed · 1 failed")


def test_search_lists_document_and_page_and_opens_the_span(qtbot, win, tmp_path):
    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    view.tabs.setCurrentIndex(1)
    view.search_box.setText("capybara census")
    qtbot.keyClick(view.search_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(view.hits.targets()), timeout=10000)
    document = engine.load_document(files["paper"])
    at = document.text.index("capybara")
    assert document.page_of(at) == 2
    first = view.hits.item(0).text().split("\n")
    assert first[0] == f"{document.title} · page 2"
    assert "capybara census" in first[1]
    target = view.hits.targets()[0]
    assert target.path == str(files["paper"]) and target.start <= at < target.end

    click_row(qtbot, view.hits, 0)
    qtbot.waitUntil(lambda: session_for(win, files["paper"]) is not None, timeout=10000)
    session = session_for(win, files["paper"])
    assert win.current_session() is session
    qtbot.waitUntil(lambda: bool(session.view.highlights("answer-context")), timeout=5000)
    [passage] = session.view.highlights("answer-context")
    assert document.text[passage.start:passage.end] == \
        document.text[target.start:target.end]
    assert (passage.start, passage.end) == (target.start, target.end)
    words = [document.text[h.start:h.end] for h in session.view.highlights("answer")]
    assert words == ["capybara", "census"]
    # Scrolled there: the span's first line is inside the viewport.
    rect = session.view.cursorRect(session.view.cursor_for(passage.start, passage.start))
    assert session.view.viewport().rect().contains(rect.center())


def test_a_hit_in_an_open_document_is_marked_at_once(qtbot, win, tmp_path):
    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    win.open_path(files["alpha"])
    qtbot.waitUntil(lambda: session_for(win, files["alpha"]) is not None, timeout=10000)
    view.search("zebracorn")
    qtbot.waitUntil(lambda: bool(view.hits.targets()), timeout=10000)
    target = view.hits.targets()[0]
    view.hits.opened.emit(target)
    session = session_for(win, files["alpha"])
    text = engine.load_document(files["alpha"]).text
    [mark] = session.view.highlights("answer")
    assert text[mark.start:mark.end] == "zebracorn"


def test_document_text_is_shown_as_plain_text(qtbot, win, tmp_path):
    write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    view.search("bold")
    qtbot.waitUntil(lambda: bool(view.hits.targets()), timeout=10000)
    # A list item's text is never read as HTML: the tags are there as written.
    assert "<b>bold</b>" in view.hits.item(0).text()


def test_the_watcher_picks_up_a_new_file_and_a_new_subfolder(qtbot, win, tmp_path):
    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    assert str(files["beta"].parent) in model.watcher.watched()
    new = files["beta"].parent / "gamma.txt"
    new.write_text("The wombatine choir sings on Fridays.\n", encoding="utf-8")
    before = dict(view.tree._documents[str(tmp_path / "docs")])
    qtbot.waitUntil(lambda: str(new) in view.document_rows(), timeout=15000)
    # Rows are kept and changed in place, not the tree rebuilt.
    after = view.tree._documents[str(tmp_path / "docs")]
    assert all(after[path] is item for path, item in before.items())
    assert view.document_rows()[str(new)][0] == "indexed"
    deeper = tmp_path / "docs" / "later"
    deeper.mkdir()
    qtbot.waitUntil(lambda: str(deeper) in model.watcher.watched(), timeout=15000)
    (deeper / "delta.txt").write_text("A numbat parade.\n", encoding="utf-8")
    qtbot.waitUntil(lambda: str(deeper / "delta.txt") in view.document_rows(), timeout=15000)
    view.search("numbat")
    qtbot.waitUntil(lambda: bool(view.hits.targets()), timeout=10000)
    assert view.hits.targets()[0].path == str(deeper / "delta.txt")


@pytest.fixture
def slow_loads(monkeypatch):
    """Each file takes 40 ms to load; records the threads that loaded them."""
    real = engine.documents.load_document
    threads: list[threading.Thread] = []

    def load(path, **kw):
        threads.append(threading.current_thread())
        time.sleep(0.04)
        return real(path, **kw)

    monkeypatch.setattr(engine.documents, "load_document", load)
    return threads


def many_files(root: Path, n: int = 40) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"note{i:02}.txt").write_text(f"Note {i} about the ibis{i}.\n", encoding="utf-8")
    return root


def test_cancel_stops_indexing_off_the_ui_thread(qtbot, win, tmp_path, slow_loads):
    view, model = win.library.view, win.library.model
    model.add_folder(many_files(tmp_path / "many"))
    qtbot.waitUntil(lambda: model.current is not None and model.current.stage == "passages"
                    and model.current.done >= 2, timeout=10000)
    # The UI thread went on meanwhile: the progress it shows came through its event loop.
    assert view.progress_box.isVisible() and view.progress_bar.maximum() == 40
    assert view.progress_bar.value() >= 2
    # The document in hand is listed as in progress.
    qtbot.waitUntil(lambda: any(short == "in progress"
                                for short, _ in view.document_rows().values()), timeout=10000)
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not model.updating and model._refreshing is None, timeout=10000)
    assert not view.progress_box.isVisible()
    indexed = model.listing.status.documents
    assert 2 <= indexed < 40
    assert slow_loads and threading.main_thread() not in slow_loads
    assert len(slow_loads) == indexed  # nothing was loaded after the cancel


def test_pause_holds_indexing_and_resume_finishes(qtbot, win, tmp_path, slow_loads):
    view, model = win.library.view, win.library.model
    model.add_folder(many_files(tmp_path / "many", 20))
    qtbot.waitUntil(lambda: model.current is not None and model.current.stage == "passages",
                    timeout=10000)
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert model.paused and view.pause_button.text() == "Resume"
    qtbot.wait(300)  # lets the document in flight finish
    held = len(slow_loads)
    qtbot.wait(400)
    assert len(slow_loads) == held < 20 and model.updating
    assert view.progress_label.text().startswith("Paused · ")
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    assert not model.paused and view.pause_button.text() == "Pause"
    wait_indexed(qtbot, model, 20)
    assert len(slow_loads) == 20


def test_remove_folder(qtbot, win, tmp_path):
    write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    view.tree.setCurrentItem(view.tree.topLevelItem(0).child(0))
    assert view.selected_folder() == str(tmp_path / "docs")
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    wait_indexed(qtbot, model, 0)
    assert view.tree.topLevelItemCount() == 0 and model.watcher.watched() == []
    assert (tmp_path / "docs" / "alpha.txt").exists()  # the files stay


def test_entity_browser_counts_filter_and_mentions(qtbot, win, tmp_path):
    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    with engine.open_library(model.location) as lib:
        put_entities(lib, files["alpha"], [("Oslo", "LOC"), ("Ada Brook", "PER")])
        put_entities(lib, files["beta"], [("Ada Brook", "PER")])
    browser = view.entities
    view.tabs.setCurrentWidget(browser)
    qtbot.waitUntil(lambda: browser.list.count() == 2, timeout=10000)
    assert [browser.list.item(i).text() for i in range(2)] == [
        "Ada Brook  ·  PER  ·  2 documents, 2 mentions",
        "Oslo  ·  LOC  ·  1 document, 1 mention"]
    browser.filter.setText("osl")
    qtbot.waitUntil(lambda: browser.list.count() == 1, timeout=10000)
    assert browser.list.item(0).text().startswith("Oslo  ·  LOC")
    browser.filter.clear()
    qtbot.waitUntil(lambda: browser.list.count() == 2, timeout=10000)
    click_row(qtbot, browser.list, 0)
    qtbot.waitUntil(lambda: len(browser.mentions.targets()) == 2, timeout=10000)
    beta_title = engine.load_document(files["beta"]).title
    assert browser.mentions.item(1).text() == f"“Ada Brook”  ·  {beta_title}"
    click_row(qtbot, browser.mentions, 1)
    qtbot.waitUntil(lambda: session_for(win, files["beta"]) is not None, timeout=10000)
    session = session_for(win, files["beta"])
    qtbot.waitUntil(lambda: bool(session.view.highlights("answer")), timeout=5000)
    [mark] = session.view.highlights("answer")
    assert engine.load_document(files["beta"]).text[mark.start:mark.end] == "Ada Brook"


def test_ask_without_a_model_says_what_to_do(qtbot, win, tmp_path):
    write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    with engine.open_library(model.location) as lib, \
            pytest.raises(engine.errors.ModelNotFoundError) as missing:
        lib.ask("Who signed the treaty?")
    view.tabs.setCurrentIndex(2)
    view.ask_box.setText("Who signed the treaty?")
    qtbot.keyClick(view.ask_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.ask_notice.text() != "Reading the best passages…",
                    timeout=10000)
    assert view.ask_notice.text() == " ".join(str(missing.value).split())
    assert view.answers.count() == 0 and not win.error_log


def test_view_menu_shows_the_library(qtbot, home):
    w = make_window(qtbot, fake_factory())
    assert not w.library.isVisible()
    action = w.actions["library"]
    assert action in w.menuBar().actions()[2].menu().actions()  # View
    action.trigger()
    assert w.library.isVisible() and action.isChecked()
    assert dict(w.shortcut_rows())["Library"] == "Ctrl+Shift+L"
    # No library is created until a folder is added.
    assert not w.library.model.location.exists()


def test_another_process_updating_is_a_notice_not_an_error(qtbot, win, tmp_path):
    from filelock import FileLock

    write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    lock = FileLock(str(model.location) + ".lock")
    lock.acquire()
    try:
        with engine.open_library(model.location) as lib, \
                pytest.raises(engine.errors.LibraryBusyError) as busy:
            lib.update()
        model.update()
        qtbot.waitUntil(lambda: view.notice.isVisible(), timeout=10000)
    finally:
        lock.release()
    assert view.notice.text() == " ".join(str(busy.value).split())
    assert not win.error_log


def test_a_long_rerun_waits_until_the_person_agrees(qtbot, win, tmp_path, monkeypatch):
    from engine.library import Library, PendingStage

    write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    long = PendingStage("entities", "ner-model@v2", 3, 40, 900.0)
    monkeypatch.setattr(Library, "pending", lambda self: [
        PendingStage("embeddings", "emb@v1", 3, 40, 5.0), long])
    runs = []
    real = Library.update

    def update(self, progress=None, cancel=None, wait=0, stages=("passages",),
               retry_failed=False):
        runs.append(tuple(stages))
        return real(self, progress=progress, cancel=cancel, wait=wait, stages=stages,
                    retry_failed=retry_failed)

    monkeypatch.setattr(Library, "update", update)
    model.add_folder(tmp_path / "docs")
    qtbot.waitUntil(lambda: view.question_box.isVisible(), timeout=10000)
    assert runs == [("passages", "embeddings")]
    assert "Entities with ner-model@v2: 3 documents, about 15 min" in view.question.text()
    wait_indexed(qtbot, model, 4)
    qtbot.mouseClick(view.run_now, Qt.MouseButton.LeftButton)
    assert not view.question_box.isVisible()
    qtbot.waitUntil(lambda: len(runs) == 2 and not model.updating, timeout=10000)
    assert runs[1] == ("passages", "embeddings", "entities")


def test_answers_list_title_and_page_and_open_with_their_sentence(qtbot, win, tmp_path,
                                                                   monkeypatch):
    from engine.library import Library, LibraryAnswer

    files = write_corpus(tmp_path / "docs")
    view, model = win.library.view, win.library.model
    model.add_folder(tmp_path / "docs")
    wait_indexed(qtbot, model, 4)
    paper = engine.load_document(files["paper"])
    sentence = "The capybara census counted 4200 animals."
    c0 = paper.text.index(sentence)
    a0 = paper.text.index("4200")
    # What the QA model would read out of the library (none is installed here).
    answer = LibraryAnswer(str(files["paper"]), 2, a0, a0 + 4, "4200", 0.87,
                           c0, c0 + len(sentence), False, paper.title)
    monkeypatch.setattr(Library, "ask", lambda self, q, top_k=3: [answer])
    view.ask("How many capybaras?")
    qtbot.waitUntil(lambda: bool(view.answers.targets()), timeout=10000)
    assert view.answers.item(0).text() == f"4200  ·  87%\n{paper.title} · page 2"
    click_row(qtbot, view.answers, 0)
    qtbot.waitUntil(lambda: session_for(win, files["paper"]) is not None, timeout=10000)
    session = session_for(win, files["paper"])
    qtbot.waitUntil(lambda: bool(session.view.highlights("answer")), timeout=5000)
    [mark] = session.view.highlights("answer")
    [context] = session.view.highlights("answer-context")
    assert paper.text[mark.start:mark.end] == "4200"
    assert paper.text[context.start:context.end] == sentence


def test_a_document_the_library_holds_shows_its_stored_entities(qtbot, home, tmp_path):
    from engine.tasks.results import Entity
    from tests.app_support import open_document

    factory = fake_factory()
    w = make_window(qtbot, factory)
    doc = tmp_path / "a.txt"
    doc.write_text("Marie Curie met Ada Brook in Oslo.\n", encoding="utf-8")
    stored = [Entity(label="B-PER", start=16, end=25, text="Ada Brook", score=0.8)]
    asked = []
    w.ctx.stored_entities = lambda path: asked.append(Path(path)) or stored
    session = open_document(qtbot, w, doc)
    assert asked == [doc.absolute()]
    assert [(e.start, e.end, e.text) for e in session.document_state.entities] == [
        (16, 25, "Ada Brook")]
    assert factory.made["ner"].calls == 0  # the model was loaded, not run

    # At int8 the library's full-precision results are not what these settings compute.
    w.settings.precision = "int8"
    w.analysis.reset()
    asked.clear()
    w.entities_panel.start(session)
    qtbot.waitUntil(lambda: session.state("ner") == "done" and factory.made["ner"].calls == 1,
                    timeout=10000)
    assert asked == []
    assert [e.text for e in session.document_state.entities] == ["Marie Curie"]


def test_the_app_asks_a_library_only_when_it_exists(qtbot, home, tmp_path):
    from app.library_model import LibraryModel
    from app.workers import JobManager

    jobs = JobManager()
    model = LibraryModel(jobs, "cpu", name_or_path=tmp_path / "lib.sqlite3")
    assert model.stored_entities(tmp_path / "a.txt") is None
    assert not (tmp_path / "lib.sqlite3").exists()  # asking creates nothing
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Ada Brook lives in Oslo.\n", encoding="utf-8")
    with engine.open_library(tmp_path / "lib.sqlite3") as lib:
        lib.add_folder(tmp_path / "docs")
        lib.update()  # no NER model installed: keyword stage only
    assert model.stored_entities(tmp_path / "docs" / "a.txt") is None
    model.shut_down()
