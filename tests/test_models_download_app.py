"""The app after a failed download (issue 12): the error replaces "Contacting the Hub"."""

from __future__ import annotations

import socket

import pytest

from app.main_window import MainWindow
from app.model_manager import ModelsApi
from app.settings import Settings
from engine import models as engine_models
from tests import test_models_download as base
from tests.app_support import message_boxes, wait_idle

home, online = base.home, base.online  # the download tests' store and online switch


class UnreachableHub(ModelsApi):
    """The real engine download, against a Hub address where nobody listens."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.stages: list[str] = []

    def download_model(self, repo_id, task=None, progress=None, cancel=None, stage=None,
                       **kwargs):
        from engine.models.download import download_model

        def seen(text):
            self.stages.append(text)
            stage(text)

        return download_model(repo_id, task=task, progress=progress, cancel=cancel, stage=seen,
                              endpoint=self.endpoint, retries=0, convert=False)


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_download_replaces_the_contacting_label(qtbot, online, home, closed_port):
    api = UnreachableHub(f"http://127.0.0.1:{closed_port}")
    w = MainWindow(Settings(), models_api=api)
    qtbot.addWidget(w)
    w.show()
    w.download_standard_pack()
    manager = w.model_manager
    wait_idle(qtbot, w, 30000)
    assert "Contacting the Hub" in api.stages  # the label did say so while it was trying
    label = manager.progress_label.text()
    assert "contacting" not in label.lower()
    assert label.startswith("Download failed: Cannot reach 127.0.0.1")
    assert "Import folder…" in label and manager.progress_label.isVisible()
    assert manager.last_error and "albert-lens models import DIR --task" in manager.last_error
    assert message_boxes(manager)
    assert not manager.cancel_button.isVisible()
    assert "contacting" not in w.status.job_label.text().lower()
    assert engine_models.list_installed() == []
    # The start page offers the pack again rather than "Downloading…".
    assert w.welcome.pack_button.isEnabled()
    assert w.welcome.pack_button.text().startswith("Download the standard pack")
    assert w.isEnabled()
