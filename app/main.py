"""Start the desktop app. The UI lives in app/; all analysis comes from engine/."""

from __future__ import annotations

import sys


def run_app(files: list[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Albert Lens")
    qt_app.setOrganizationName("Albert Lens")
    window = MainWindow()
    window.show()
    for path in files:
        window.open_path(path)
    return qt_app.exec()
