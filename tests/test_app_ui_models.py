"""Import folder…: what the model is for comes from its config; the dialog's title fits."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from app.model_manager import IMPORT_TITLE, ImportDialog, ModelManager, ModelsApi
from app.workers import JobManager
from engine import models as engine_models


class FakeApi:
    """The model store calls the dialog makes, with a config reader that says `task`."""

    def __init__(self, task):
        self.task = task
        self.asked = []

    def detect_task(self, model_dir):
        self.asked.append(str(model_dir))
        if isinstance(self.task, Exception):
            raise self.task
        return self.task

    def __getattr__(self, name):
        return getattr(ModelsApi(), name)


def _manager(qtbot, api) -> ModelManager:
    manager = ModelManager(JobManager(), api)
    qtbot.addWidget(manager)
    return manager


@pytest.mark.parametrize("task", ["question-answering", "sentiment", "embeddings", "ner"])
def test_import_preselects_the_task_the_config_names(qtbot, home, tmp_path, task):
    api = FakeApi(task)
    dialog = _manager(qtbot, api).import_dialog(tmp_path)
    assert api.asked == [str(tmp_path)]
    assert dialog.store_task == task
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


@pytest.mark.parametrize("said", [None, "mystery-task", ValueError("unreadable config")])
def test_import_without_a_verdict_preselects_nothing(qtbot, home, tmp_path, said):
    dialog = _manager(qtbot, FakeApi(said)).import_dialog(tmp_path)
    assert dialog.store_task is None
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.combo.setCurrentIndex(0)
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_import_preselection_from_a_real_checkpoint(qtbot, home, checkpoints):
    if not hasattr(engine_models, "detect_task"):
        pytest.skip("engine.models.detect_task has not landed")
    manager = _manager(qtbot, ModelsApi())
    assert manager.import_dialog(checkpoints("qa")).store_task == "question-answering"
    assert manager.import_dialog(checkpoints("token")).store_task == "ner"
    assert manager.import_dialog(checkpoints("sequence")).store_task == "sentiment"


def test_import_dialog_is_wide_enough_for_its_title(qtbot, home, tmp_path):
    dialog = ImportDialog(tmp_path, None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.windowTitle() == IMPORT_TITLE
    title_font = dialog.font()
    title_font.setBold(True)
    title_font.setPointSizeF(title_font.pointSizeF() * 1.2)
    from PySide6.QtGui import QFontMetrics

    # A bold, larger title plus room for the window's close/maximise buttons.
    assert dialog.width() >= QFontMetrics(title_font).horizontalAdvance(IMPORT_TITLE) + 150


def test_a_long_download_error_wraps_instead_of_widening_the_manager(qtbot, home):
    manager = _manager(qtbot, ModelsApi())
    manager.resize(900, 640)
    manager.show()
    qtbot.waitExposed(manager)
    manager.progress_label.setText("Download failed: " + "the hub cannot be reached " * 40)
    manager.progress_label.show()
    qtbot.wait(50)
    assert manager.width() == 900
    assert manager.minimumSizeHint().width() < 900
