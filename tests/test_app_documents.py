"""Opening documents: every format, tabs, drag and drop, recent files, find, failing files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

import engine
from app.main_window import MainWindow
from app.settings import Settings
from tests import document_factory as docs
from tests.app_support import (
    SAMPLE_TEXT,
    fake_factory,
    make_window,
    message_boxes,
    open_document,
    wait_idle,
)


def make_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = ["Marie Curie was born in Warsaw. 😀 She moved to Paris.",
                  "At the Sorbonne she did great work."]
    files = {
        "text": folder / "note.txt",
        "markdown": folder / "note.md",
        "html": folder / "page.html",
        "pdf": folder / "report.pdf",
        "docx": folder / "report.docx",
        "epub": folder / "book.epub",
    }
    files["text"].write_text("\n\n".join(paragraphs), encoding="utf-8")
    files["markdown"].write_text("# Curie\n\n" + "\n\n".join(f"*{p}*" for p in paragraphs),
                                 encoding="utf-8")
    files["html"].write_text("<html><head><title>Curie</title></head><body>"
                             + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>",
                             encoding="utf-8")
    docs.make_pdf(files["pdf"], [[paragraphs[0]], [paragraphs[1]]], font=docs.unicode_font())
    docs.make_docx(files["docx"])
    docs.make_epub(files["epub"], [("c1", "one.xhtml", paragraphs)], ["c1"])
    return files


def test_opens_every_format_in_tabs(qtbot, window, tmp_path):
    files = make_files(tmp_path / "docs")
    for fmt, path in files.items():
        session = open_document(qtbot, window, path)
        expected = engine.load_document(path)
        assert session.document.format == fmt
        # The text shown is exactly the engine's text (paragraphs as blank-line separated).
        assert session.view.toPlainText() == expected.text
    assert window.tabs.count() == len(files)
    assert window.error_log == []
    # Paged documents know their pages.
    pdf = next(s for s in window.sessions if s.document.format == "pdf")
    assert len(pdf.document.pages) == 2
    # Opening a file that is already open shows its tab instead of a second one.
    window.open_path(files["text"])
    assert window.tabs.count() == len(files)
    assert window.current_session().document.format == "text"


def test_failing_file_shows_the_engine_message_and_app_goes_on(qtbot, window, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    window.open_path(broken)
    qtbot.waitUntil(lambda: bool(window.error_log), timeout=10000)
    title, text = window.error_log[0]
    assert "broken.pdf" in title
    with pytest.raises(engine.errors.DocumentError) as expected:
        engine.load_document(broken)
    assert text == str(expected.value)
    boxes = message_boxes(window)
    assert boxes and boxes[0].text() == text
    boxes[0].accept()
    missing = tmp_path / "nowhere.txt"
    window.open_path(missing)
    qtbot.waitUntil(lambda: len(window.error_log) == 2, timeout=10000)
    assert "nowhere.txt" in window.error_log[1][1]
    assert window.tabs.count() == 0
    # Still usable: a good file opens.
    good = tmp_path / "good.txt"
    good.write_text(SAMPLE_TEXT, encoding="utf-8")
    session = open_document(qtbot, window, good)
    assert session.view.toPlainText() == engine.load_document(good).text


def test_drop_files_on_the_window(qtbot, window, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.md"
    a.write_text("Alpha text.", encoding="utf-8")
    b.write_text("# Beta\n\nBeta text.", encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a)), QUrl.fromLocalFile(str(b))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.tabs.count() == 2, timeout=10000)
    assert {s.document.path.name for s in window.sessions} == {"a.txt", "b.md"}


def test_recent_files_are_remembered(qtbot, window, tmp_path):
    paths = []
    for name in ("one.txt", "two.txt"):
        p = tmp_path / name
        p.write_text(f"Text of {name}.", encoding="utf-8")
        open_document(qtbot, window, p)
        paths.append(str(p.resolve()))
    assert window.settings.recent_files[:2] == paths[::-1]
    window._fill_recent_menu()
    labels = [a.text() for a in window.recent_menu.actions()]
    assert labels[0].endswith("two.txt") and labels[1].endswith("one.txt")
    # The welcome page lists them too, and a fresh window reads them back.
    assert window.welcome.recent.count() == 2
    again = MainWindow(Settings(), pipeline_factory=fake_factory())
    qtbot.addWidget(again)
    assert again.settings.recent_files[:2] == paths[::-1]
    window.recent_menu.actions()[1].trigger()  # opens (shows) one.txt
    assert window.current_session().document.path.name == "one.txt"


def test_tabs_close_and_switch_panels_follow(qtbot, window, tmp_path):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("Marie Curie lived in Paris.", encoding="utf-8")
    second.write_text("Nothing here.", encoding="utf-8")
    s1 = open_document(qtbot, window, first)
    s2 = open_document(qtbot, window, second)
    assert window.entities_panel.session is s2
    assert window.entities_panel.rows() == []
    window.actions["next_tab"].trigger()
    assert window.current_session() is s1
    assert window.entities_panel.session is s1
    assert len(window.entities_panel.rows()) == 2
    window.actions["close"].trigger()
    assert window.tabs.count() == 1 and window.current_session() is s2
    window.actions["close"].trigger()
    assert window.stack.currentWidget() is window.welcome
    assert not window.panels.isVisible()


def test_find_in_text(qtbot, window, tmp_path):
    p = tmp_path / "find.txt"
    p.write_text(SAMPLE_TEXT, encoding="utf-8")
    session = open_document(qtbot, window, p)
    window.actions["find"].trigger()
    bar = session.find_bar
    assert bar.isVisible()
    qtbot.keyClicks(bar.edit, "paris")
    bar.search()
    text = session.document.text
    expected = [i for i in range(len(text)) if text.lower().startswith("paris", i)]
    assert [s for s, _ in bar.matches] == expected
    assert bar.count.text() == f"1 of {len(expected)}"
    current = session.view.highlights("find-current")[0]
    assert session.view.qt_text(current.start, current.end) == "Paris"
    window.actions["find_next"].trigger()
    assert bar.current == 1
    window.actions["find_previous"].trigger()
    assert bar.current == 0
    bar.case.setChecked(True)
    assert bar.matches == []
    assert bar.count.text() == "No matches"
    window.actions["cancel"].trigger()  # Esc closes the bar
    assert not bar.isVisible()
    assert session.view.highlights("find") == []


def test_zoom_actions(qtbot, window, tmp_path):
    p = tmp_path / "zoom.txt"
    p.write_text("Zoom.", encoding="utf-8")
    session = open_document(qtbot, window, p)
    base = session.view.point_size
    window.actions["zoom_in"].trigger()
    assert session.view.point_size == base + 1
    window.actions["zoom_out"].trigger()
    window.actions["zoom_out"].trigger()
    assert session.view.point_size == base - 1
    window.actions["zoom_reset"].trigger()
    assert session.view.point_size == base


def test_shared_sample_document_opens(qtbot, window):
    # Every sample (the shipped ones have characters outside the BMP: two UTF-16 units in Qt).
    for path in docs.sample_paths():
        session = open_document(qtbot, window, path)
        text = engine.load_document(path).text
        # toPlainText() gives no-break spaces as spaces (Qt does so by design); the view keeps
        # every character, as the whole text read back through the offset map shows.
        assert session.view.toPlainText() == text.replace("\u00a0", " ")
        assert session.view.qt_text(0, len(text)) == text
        wait_idle(qtbot, window)
        for h in session.view.highlights("entities"):
            assert session.view.qt_text(h.start, h.end) == session.document.text[h.start:h.end]


def test_answers_in_paged_documents_give_the_page(qtbot, tmp_path, home):
    from tests.app_support import FakeQA

    w = make_window(qtbot, fake_factory({
        "question-answering": FakeQA({"Where?": ["Sorbonne"]})}))
    path = docs.make_pdf(tmp_path / "two.pdf", [["Marie Curie was born in Warsaw."],
                                                ["She taught at the Sorbonne in Paris."]],
                         font=docs.unicode_font())
    session = open_document(qtbot, w, path)
    assert session.document.page_of(session.document.text.index("Sorbonne")) == 2
    w.ask_panel.ask("Where?")
    wait_idle(qtbot, w)
    assert "page 2" in w.ask_panel.answer_labels[0].text()
