"""The model manager (catalog, download with progress and cancel, import, remove, choice per
task) and the first-run welcome panel, on the real engine.models store."""

from __future__ import annotations

import time

import pytest

from app.document_state import DONE, NO_MODEL
from app.main_window import MainWindow
from app.model_manager import ModelManager, ModelsApi
from app.settings import Settings
from engine import models as engine_models
from engine.errors import DownloadCancelled
from tests.app_support import (
    make_window,
    message_boxes,
    open_document,
    text_file,
    wait_idle,
)


@pytest.fixture
def window(qtbot, home):
    return make_window(qtbot)  # the real engine: no models installed yet


def test_first_run_offers_the_standard_pack(qtbot, window):
    qtbot.waitUntil(lambda: window.welcome.models_title.text() != "", timeout=5000)
    pack = engine_models.standard_pack()
    assert len(pack) == 5
    size = sum(e.size_mb for e in pack)
    assert "First run" in window.welcome.models_title.text()
    assert window.welcome.pack_button.text() == f"Download the standard pack ({size:.0f} MB)"
    text = window.welcome.models_text.text()
    assert "works without any model" in text and f"about {size:.0f} MB" in text
    assert text.count("•") == 5
    assert window.stack.currentWidget() is window.welcome


def test_reading_works_without_models_and_import_brings_entities(qtbot, window, tmp_path,
                                                                 checkpoints):
    path = text_file(tmp_path, name="doc.txt")
    session = open_document(qtbot, window, path)
    assert session.view.toPlainText() == session.document.text
    assert session.state("ner") == NO_MODEL
    assert window.error_log == []
    # "Get models…" opens the manager; importing a folder installs it for its task.
    window.entities_panel.notice.button.click()
    manager = window.model_manager
    assert isinstance(manager, ModelManager) and manager.isVisible()
    manager.import_model(checkpoints("token"), "ner")
    wait_idle(qtbot, window, 60000)
    installed = engine_models.list_installed("ner")
    assert [m.source for m in installed] == ["import"]
    assert manager.item_for(installed[0].id).text(2).startswith("Imported")
    assert manager.task_boxes["ner"].currentData() == installed[0].id
    # The session that had no model is analysed now, with the imported model.
    qtbot.waitUntil(lambda: session.state("ner") == DONE, timeout=60000)
    assert session.document_state.entities is not None
    # The label is cut to its old width until Qt lays the status bar out again.
    qtbot.waitUntil(lambda: installed[0].id in window.status.models_label.text(), timeout=5000)


def test_choose_and_remove_models(qtbot, window, checkpoints):
    manager = window.show_model_manager()
    manager.import_model(checkpoints("sequence"), "sentiment")
    wait_idle(qtbot, window, 60000)
    first = engine_models.list_installed("sentiment")[0].id
    engine_models.import_model(checkpoints("sequence", "grouped"), "sentiment",
                               model_id="other-sentiment")
    manager.refresh()
    box = manager.task_boxes["sentiment"]
    assert box.count() == 2
    manager.use("sentiment", "other-sentiment")
    assert engine_models.default_model("sentiment").id == "other-sentiment"
    assert "in use" in manager.item_for("other-sentiment").text(2)
    manager.remove("other-sentiment")
    assert [m.id for m in engine_models.list_installed("sentiment")] == [first]
    assert manager.item_for("other-sentiment") is None


def test_a_failing_download_shows_the_engine_message(qtbot, window):
    manager = window.show_model_manager()
    entry = engine_models.standard_pack()[0]
    manager.download([entry])
    wait_idle(qtbot, window, 30000)
    assert manager.last_error and "offline" in manager.last_error.lower()
    assert message_boxes(manager)
    assert manager.download_job is None and manager.download_button.isEnabled() is False
    assert window.isEnabled()


class SlowHub(ModelsApi):
    """The real store and catalog, with a download that trickles in until cancelled."""

    def __init__(self) -> None:
        self.started = False

    def download_model(self, repo_id, task=None, progress=None, cancel=None, stage=None,
                       **_kwargs):
        self.started = True
        stage("Contacting the Hub")
        total = 50_000_000
        for i in range(1, 1000):
            if cancel():
                raise DownloadCancelled(f"The download of {repo_id} was cancelled.")
            progress(i * 100_000, total, "model.safetensors")
            time.sleep(0.01)
        raise AssertionError("never cancelled")


def test_download_progress_and_cancel(qtbot, home):
    api = SlowHub()
    w = MainWindow(Settings(), models_api=api)
    qtbot.addWidget(w)
    w.show()
    w.download_standard_pack()
    manager = w.model_manager
    qtbot.waitUntil(lambda: manager.progress.value() > 2000, timeout=10000)
    assert manager.progress.maximum() == 50_000_000 // 1024
    assert manager.cancel_button.isVisible()
    assert "(1 of 5)" in manager.progress_label.text()
    assert w.status.job_label.text().startswith("Downloading")
    manager.cancel_button.click()
    wait_idle(qtbot, w, 10000)
    assert "cancelled" in manager.progress_label.text()
    assert not manager.cancel_button.isVisible()
    assert engine_models.list_installed() == []
