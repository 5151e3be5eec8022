"""In the app: a PDF that crashes the PDF reader costs that one file, never the app."""

from __future__ import annotations

import os
import signal

import pytest

from engine.documents import pdf
from tests import document_factory as docs
from tests.app_support import fake_factory, make_window, message_boxes, open_document


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_HOME", str(tmp_path / "home"))
    return make_window(qtbot, fake_factory())


def _reader_crashes(send, *args) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)  # what a pdfium bug does to its process


def test_a_reader_crash_is_an_error_dialog_and_the_app_goes_on(qtbot, window, tmp_path,
                                                                monkeypatch):
    path = docs.make_pdf(tmp_path / "crashy.pdf", [["Some text on the page."]])
    monkeypatch.setattr(pdf, "read_pdf", _reader_crashes)
    window.open_path(path)
    qtbot.waitUntil(lambda: bool(window.error_log), timeout=30000)
    title, text = window.error_log[0]
    assert "crashy.pdf" in title and "made the PDF reader fail (SIGSEGV)" in text
    boxes = message_boxes(window)
    assert boxes and boxes[0].text() == text
    boxes[0].accept()
    monkeypatch.undo()
    # Still here, and PDFs still open.
    good = docs.make_pdf(tmp_path / "good.pdf", [["The app is still here to read this."]],
                         header=None, footer=False)
    session = open_document(qtbot, window, good, timeout=30000)
    assert session.view.toPlainText() == "The app is still here to read this."
    assert window.tabs.count() == 1
