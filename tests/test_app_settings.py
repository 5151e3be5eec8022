"""Settings persist across runs; the settings dialog, themes, shortcuts, accessible names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QTabBar,
)

from app.main_window import MainWindow
from app.settings import DEFAULT_FONT_SIZE, Settings, settings_path
from app.settings_dialog import SettingsDialog
from app.theme import apply_theme
from engine import paths
from tests.app_support import fake_factory, make_window, open_document, text_file

REPO = Path(__file__).resolve().parents[1]


def test_settings_round_trip(home, tmp_path):
    s = Settings()
    assert s.path == settings_path() == paths.config_dir() / "albert-lens.ini"
    assert (s.device, s.precision, s.theme, s.font_size) == ("auto", "fp32", "system",
                                                             DEFAULT_FONT_SIZE)
    s.device, s.precision, s.theme, s.font_size = "cpu", "int8", "dark", 15
    s.sentiment_tint = True
    s.summary_length = ("percent", 25)
    s.add_recent_file(tmp_path / "a.txt")
    s.add_recent_file(tmp_path / "b.txt")
    s.add_recent_file(tmp_path / "a.txt")
    s.add_question("Who?")
    s.set_model_for("ner", tmp_path / "model")
    s.sync()
    again = Settings()
    assert (again.device, again.precision, again.theme, again.font_size) == ("cpu", "int8",
                                                                             "dark", 15)
    assert again.sentiment_tint is True
    assert again.summary_length == ("percent", 25)
    assert again.recent_files == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert again.questions == ["Who?"]
    assert again.model_for("ner") == str(tmp_path / "model")
    assert again.model_for("sentiment") is None
    # Nonsense in the file falls back to defaults instead of breaking the app.
    with open(again.path, "a", encoding="utf-8") as fh:
        fh.write("\n[view]\nfont_size=huge\ntheme=purple\n")
    broken = Settings()
    assert broken.font_size == DEFAULT_FONT_SIZE and broken.theme == "system"
    with pytest.raises(ValueError):
        broken.device = "tpu"


def test_one_recent_file_survives_a_restart(home, tmp_path):
    # QSettings returns a one-element list as a bare string; the JSON form avoids that.
    Settings().add_recent_file(tmp_path / "only.txt")
    assert Settings().recent_files == [str(tmp_path / "only.txt")]


def test_settings_dialog_applies_and_persists(qtbot, home, tmp_path):
    w = make_window(qtbot, fake_factory())
    path = text_file(tmp_path, name="doc.txt")
    session = open_document(qtbot, w, path)
    assert w.analysis._pipelines
    dialog = SettingsDialog(w.settings, w)
    qtbot.addWidget(dialog)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.precision.setCurrentIndex(dialog.precision.findData("int8"))
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.font_size.setValue(16)
    changed = dialog.save()
    assert changed == {"device": "cpu", "precision": "int8", "theme": "dark", "font_size": 16}
    w.apply_settings(changed)
    assert session.view.point_size == 16
    assert QApplication.instance().palette().color(QPalette.ColorRole.Base).lightness() < 128
    assert w.analysis._pipelines == {}  # reloaded with the new device and precision
    fresh = Settings()
    assert (fresh.device, fresh.precision, fresh.theme, fresh.font_size) == ("cpu", "int8",
                                                                             "dark", 16)
    # The next analysis asks the engine for the new device and precision.
    w.entities_panel.start(session)
    qtbot.waitUntil(lambda: not w.jobs.is_busy(), timeout=5000)
    assert next(iter(w.analysis._pipelines))[2:4] == ("cpu", "int8")
    apply_theme(QApplication.instance(), "light")


def test_window_geometry_is_restored(qtbot, home):
    w = make_window(qtbot, fake_factory())
    w.resize(700, 500)
    w.close()
    again = MainWindow(Settings(), pipeline_factory=fake_factory())
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (700, 500)


def test_every_action_has_a_shortcut_and_widgets_have_names(qtbot, home, tmp_path):
    w = make_window(qtbot, fake_factory())
    path = text_file(tmp_path, name="doc.txt")
    open_document(qtbot, w, path)
    # Analyse › Cancel shows Esc, which the always-on "cancel" action (Esc) carries.
    missing = [k for k, a in w.actions.items() if not a.shortcuts()
               and k not in ("about", "cancel_analysis")]
    assert missing == []
    keys = [s.toString() for a in w.actions.values() for s in a.shortcuts()]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"
    assert w.actions["open"].shortcut().toString() == "Ctrl+O"
    assert w.actions["find"].shortcut().toString() == "Ctrl+F"
    unnamed = []
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QAbstractSpinBox)
    widgets = [x for kind in kinds for x in w.findChildren(kind)]
    for widget in widgets:
        # Parts of a compound widget (a combo's list, a header, a tab's close button) are
        # named for assistive tools by the widget they belong to.
        if widget.window() is not w or isinstance(widget, QHeaderView) or isinstance(
                widget.parent(), (QComboBox, QTabBar)):
            continue
        label = widget.accessibleName() or (widget.text() if hasattr(widget, "text") else "")
        if not label.strip() and widget.isVisibleTo(w):
            unnamed.append(f"{type(widget).__name__} {widget.objectName()}")
    assert unnamed == []


def test_pyside_singletons_stay_alive(tmp_path):
    """PySide6 6.12 on Python 3.11 drops references to None and True on every void call and
    every emit (pyproject keeps it out); the app must survive tens of thousands of them (in a
    child process: a failure aborts)."""
    code = (
        "import app\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "class Source(QObject):\n"
        "    ping = Signal()\n"
        "qt = QApplication([])\n"
        "source, label = Source(), QLabel()\n"
        "for _ in range(30000):\n"
        "    source.ping.emit()\n"
        "    label.setText('x')\n"
        "    qt.processEvents()\n"
        "print('alive')\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "alive" in result.stdout
