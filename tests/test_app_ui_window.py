"""The main window as a new user met it: tabs, actions that follow results, the status bar,
the shortcut list (issue 12)."""

from __future__ import annotations

import threading

from PySide6.QtGui import QKeySequence

from app.main_window import readable_shortcut
from tests.app_support import (
    SAMPLE_TEXT,
    FakePipeline,
    SlowPipeline,
    fake_factory,
    make_window,
    open_document,
    text_file,
    wait_idle,
)

LONG_LINES = ("Albert reads every word of this long paragraph again and again. " * 40
              + "\n\n") * 4


def _wraps(view) -> bool:
    return (view.horizontalScrollBar().maximum() == 0
            and view.document().textWidth() <= view.viewport().width())


def test_a_document_in_a_second_or_later_tab_wraps(qtbot, home):
    # Wide enough for the reading column to leave margins beside the text.
    w = make_window(qtbot, fake_factory(), size=(1700, 900))
    sessions = [open_document(qtbot, w, text_file(home, LONG_LINES, f"long{i}.txt"))
                for i in range(3)]
    qtbot.wait(20)
    for session in sessions:
        w.tabs.setCurrentWidget(session)
        qtbot.wait(20)
        view = session.view
        assert view.viewportMargins().left() > 0
        assert _wraps(view), (view.document().textWidth(), view.viewport().width())


def test_entities_csv_is_enabled_when_entities_arrive_without_switching_tabs(qtbot, home):
    release = threading.Event()

    class Held(FakePipeline):
        def __call__(self, text, *, aggregation=None, progress=None, cancel=None):
            release.wait(10)
            from tests.app_support import FakeNER

            return FakeNER({"Warsaw": "LOC"})(text)

    w = make_window(qtbot, fake_factory({"ner": Held()}))
    w.open_path(text_file(home, SAMPLE_TEXT, "curie.txt"))
    qtbot.waitUntil(lambda: w.current_session() is not None, timeout=10000)
    session = w.current_session()
    assert session.document_state.entities is None
    assert not w.actions["export_csv"].isEnabled()
    release.set()
    wait_idle(qtbot, w)
    assert session.document_state.entities and w.current_session() is session
    assert w.actions["export_csv"].isEnabled()


def test_a_long_status_message_does_not_widen_the_window(qtbot, home):
    w = make_window(qtbot, fake_factory({"sentiment": SlowPipeline(seconds=20, busy=False)}),
                    size=(1000, 700))
    session = open_document(qtbot, w, text_file(home, SAMPLE_TEXT, "a" * 200 + ".txt"))
    w.sentiment_panel.run_task(session, lambda pipe, progress, cancel: pipe(
        session.document.text, progress=progress, cancel=cancel), lambda _r: None,
        title="Reading the tone of " + "a very long title " * 30)
    w.analysis.device_text = "CPU (" + "the GPU provider could not start because " * 10 + ")"
    w.status.update_device()
    w.status.showMessage("Opened " + "x" * 3000, 5000)
    qtbot.wait(100)
    assert w.width() == 1000
    assert w.minimumSizeHint().width() < 1000
    assert w.status.job_label.toolTip().startswith("Reading the tone of a very long title")
    w.jobs.cancel_all()
    wait_idle(qtbot, w)
    assert w.width() == 1000


def test_analyse_cancel_is_enabled_only_while_something_runs(qtbot, home):
    w = make_window(qtbot, fake_factory({"sentiment": SlowPipeline(seconds=20, busy=False)}))
    session = open_document(qtbot, w, text_file(home, SAMPLE_TEXT, "curie.txt"))
    cancel = w.actions["cancel_analysis"]
    assert not cancel.isEnabled()
    w.sentiment_panel.start(session)
    qtbot.waitUntil(cancel.isEnabled, timeout=5000)
    cancel.trigger()
    wait_idle(qtbot, w)
    assert not cancel.isEnabled()
    # Esc still closes the find bar when nothing runs.
    w.find()
    assert session.find_bar.isVisible()
    w.actions["cancel"].trigger()
    assert not session.find_bar.isVisible()


def test_shortcut_list_shows_one_readable_key_per_action(qtbot, home):
    w = make_window(qtbot, fake_factory())
    rows = dict(w.shortcut_rows())
    assert rows["Copy"] == "Ctrl+C"
    assert rows["Previous Document"] == "Ctrl+Shift+Tab"
    assert rows["Next Document"] == "Ctrl+Tab"
    assert rows["Find Next"] == "F3"
    assert rows["Keyboard Shortcuts"] == "F1"
    for name, keys in rows.items():
        assert ", " not in keys, (name, keys)
        assert "Backtab" not in keys and "F16" not in keys, (name, keys)
    # Menus show the first shortcut: a readable one.
    assert w.actions["previous_tab"].shortcut().toString() == "Ctrl+Shift+Backtab"
    assert readable_shortcut(w.actions["previous_tab"].shortcut()) == "Ctrl+Shift+Tab"
    assert readable_shortcut(QKeySequence("F16")) is None
    assert readable_shortcut(QKeySequence(QKeySequence.StandardKey.Copy)) == "Ctrl+C"
    assert readable_shortcut(QKeySequence()) is None
    # The Help › Keyboard Shortcuts box itself.
    from PySide6.QtWidgets import QMessageBox

    w.show_shortcuts()
    box = next(b for b in w.findChildren(QMessageBox) if b.windowTitle() == "Keyboard shortcuts")
    assert "Ctrl+Shift+Tab" in box.text()
    assert "Backtab" not in box.text() and "F16" not in box.text() and "Ctrl+Ins" not in box.text()


def test_the_reading_column_margins_are_page_coloured(qtbot, home):
    from PySide6.QtGui import QPalette

    w = make_window(qtbot, fake_factory(), size=(1700, 900))
    view = open_document(qtbot, w, text_file(home, LONG_LINES, "long.txt")).view
    qtbot.wait(20)
    side = view.viewportMargins().left()
    assert side > 10
    image = view.grab().toImage()
    page = view.palette().color(QPalette.ColorRole.Base)
    for x in (side // 2, view.width() - view.verticalScrollBar().width() - side // 2):
        assert image.pixelColor(x, view.height() // 2) == page, x


ONE_PER_LINE = ("Introduction\n"
                "The first paragraph is one long line about Marie Curie and her work in Paris.\n"
                "The second paragraph is one long line about Warsaw, where she was born.\n")
BLANK_LINES = "First paragraph,\nwrapped by hand.\n\nSecond paragraph.\n"


def _gaps(session) -> list[float]:
    doc = session.view.document()
    block, out = doc.firstBlock(), []
    while block.isValid():
        if block.text():
            out.append(block.blockFormat().bottomMargin())
        block = block.next()
    return out


def test_paragraphs_one_per_line_get_a_gap_and_others_keep_theirs(qtbot, home):
    w = make_window(qtbot, fake_factory())
    s1 = open_document(qtbot, w, text_file(home, ONE_PER_LINE, "lines.txt"))
    assert len(s1.document.paragraphs) == 3
    gaps = _gaps(s1)
    assert gaps[0] > 0 and gaps[1] > 0  # each ends at a single line break
    s2 = open_document(qtbot, w, text_file(home, BLANK_LINES, "blank.txt"))
    assert len(s2.document.paragraphs) == 2
    assert _gaps(s2) == [0, 0, 0]  # a blank line is the gap; a hand-wrapped line is no break
    for session in (s1, s2):
        assert session.view.toPlainText() == session.document.text


def test_panels_follow_the_apps_task_order_and_ctrl_digits_show_them(qtbot, home):
    from app.settings import TASK_ORDER
    from engine.tasks import registry

    w = make_window(qtbot, fake_factory())
    session = open_document(qtbot, w, text_file(home))
    assert [p.task for p in w.all_panels] == list(TASK_ORDER)
    assert [w.panels.tabText(i) for i in range(w.panels.count())] == [
        "Entities", "Ask", "Summary", "Sentiment", "Classify"]
    for i, panel in enumerate(w.all_panels):
        action = w.actions[f"panel_{panel.title.lower()}"]
        assert action.shortcut().toString() == f"Ctrl+{i + 1}"
        action.trigger()
        assert w.panels.currentWidget() is panel
    # The verbs the status bar shows are the registry's.
    w.actions["sentiment"].trigger()
    assert w.status.job_label.full_text().startswith(registry.task_spec("sentiment").verb)
    wait_idle(qtbot, w)
    assert session.state("sentiment") == "done"
