"""Start the desktop app. The UI lives in app/; all analysis comes from engine/.

Start-up stays light: no torch, no transformers, no ONNX Runtime before the window is up; models
load when an analysis first needs them.

`ALBERT_LENS_STARTUP_PROBE=1` makes the app print `window-shown <seconds>` once the window is
first exposed, then quit (benchmarks/app_startup.py). Seconds count from
`ALBERT_LENS_LAUNCH_T0` (a time.time() stamp set by the launcher) when given, else from the
start of this process.
"""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer

_PROCESS_T0 = time.time()
# What must not be loaded before the window is up (they cost seconds and hundreds of MB).
HEAVY_MODULES = ("torch", "transformers", "tensorflow", "onnxruntime")


def _launch_t0() -> float:
    try:
        return float(os.environ["ALBERT_LENS_LAUNCH_T0"])
    except (KeyError, ValueError):
        return _PROCESS_T0


class _ShownProbe(QObject):
    """Prints how long it took until the window was exposed, then quits."""

    def __init__(self, app, window) -> None:
        super().__init__(window)
        self.app = app
        self.done = False
        handle = window.windowHandle()
        handle.installEventFilter(self)
        if handle.isExposed():
            self._report()

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Expose and obj.isExposed():
            self._report()
        return False

    def _report(self) -> None:
        if not self.done:
            self.done = True
            print(f"window-shown {time.time() - _launch_t0():.4f}", flush=True)
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY_MODULES)
            print(f"heavy-modules {','.join(heavy) or '-'}", flush=True)
            QTimer.singleShot(0, self.app.quit)


def run_app(files: list[str]) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import resource
    from app.settings import Settings
    from app.theme import apply_theme

    if QApplication.instance() is None:
        from app.platform_check import check_platform

        check_platform()  # Qt aborts the process when its window system cannot load
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("Albert Lens")
    qt_app.setOrganizationName("Albert Lens")
    qt_app.setDesktopFileName("albert-lens")
    icon = resource("icons", "albert-lens.svg") or resource("icons", "albert-lens.png")
    if icon is not None:
        qt_app.setWindowIcon(QIcon(str(icon)))
    settings = Settings()
    apply_theme(qt_app, settings.theme)
    window = MainWindow(settings)
    window.show()
    if os.environ.get("ALBERT_LENS_STARTUP_PROBE"):
        window._probe = _ShownProbe(qt_app, window)
    for path in files:
        window.open_path(path)
    return qt_app.exec()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return run_app([a for a in args if not a.startswith("-")])
