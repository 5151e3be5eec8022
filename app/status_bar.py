"""The status bar: what is running (progress, Cancel), the device and the models in use."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QToolButton, QWidget

from app.analysis import AnalysisService
from app.settings import task_name
from app.workers import JobManager

MODELS_WIDTH = 380  # pixels; the full list is in the tooltip
JOB_WIDTH = 360
DEVICE_WIDTH = 320


class ElidedLabel(QLabel):
    """Plain text cut with "…" to the room it has, never wider than `width`: a long file
    name or error must not make the status bar, and with it the window, wider than the screen.
    The whole text is the tooltip."""

    def __init__(self, width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._width = width
        self._own_tip = False
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        if text == self._full:
            return  # progress ticks set the same text: no relayout of the status bar
        old_hint = self.sizeHint()
        self._full = text
        if self._own_tip or not self.toolTip():
            super().setToolTip(text)
            self._own_tip = True
        self._elide()
        if self.sizeHint() != old_hint:
            self.updateGeometry()

    def setToolTip(self, tip: str) -> None:
        self._own_tip = False
        super().setToolTip(tip)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        wanted = self.fontMetrics().horizontalAdvance(self._full) + 6
        return QSize(min(wanted, self._width), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(60, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(self.width(), self.minimumSizeHint().width()) if self.isVisible() \
            else self._width
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                              min(room, self._width) - 4)
        if shown != self.text():
            super().setText(shown)


class StatusBar(QStatusBar):
    def __init__(self, jobs: JobManager, analysis: AnalysisService,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.analysis = analysis
        self.setAccessibleName("Status bar")

        self.job_label = ElidedLabel(JOB_WIDTH, self)
        self.job_label.setAccessibleName("Running task")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Progress")
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setAccessibleName("Cancel the running analysis")
        self.cancel_button.setToolTip("Stop the running analysis (Esc)")
        self.cancel_button.clicked.connect(jobs.cancel_all)
        self.device_label = ElidedLabel(DEVICE_WIDTH, self)
        self.device_label.setAccessibleName("Device in use")
        self.models_label = ElidedLabel(MODELS_WIDTH, self)
        self.models_label.setAccessibleName("Models in use")

        # Hidden widgets keep their room: the status bar never changes height when work starts
        # or ends, so the document above it is not laid out and repainted each time.
        for widget in (self.job_label, self.progress, self.cancel_button):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
        self.addPermanentWidget(self.job_label)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)
        self.addPermanentWidget(self.device_label)
        self.addPermanentWidget(self.models_label)

        jobs.changed.connect(self.update_jobs)
        analysis.device_changed.connect(self.update_device)
        analysis.models_changed.connect(self.update_models)
        self.update_jobs()
        self.update_device()
        self.update_models()

    def update_jobs(self) -> None:
        visible = self.jobs.visible
        busy = bool(visible)
        self.job_label.setVisible(busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            return
        job = visible[0]
        text = job.title + (f" ({job.detail})" if job.detail else "") + "…"
        if len(visible) > 1:
            text += f"  +{len(visible) - 1} more"
        self.job_label.setText(text)
        # QProgressBar repaints synchronously when its value changes, and a synchronous repaint
        # paints every dirty region of the window: the document view with thousands of marks,
        # on the UI thread, at the very moment a job thread starts competing for the GIL. With
        # updates off meanwhile, re-enabling them queues an ordinary update for the event loop.
        self.progress.setUpdatesEnabled(False)
        if job.total > 0:
            self.progress.setRange(0, job.total)
            self.progress.setValue(min(job.done, job.total))
        else:
            self.progress.setRange(0, 0)  # busy indicator until the first count arrives
        self.progress.setUpdatesEnabled(True)
        self.cancel_button.setEnabled(any(j.cancellable and not j.token() for j in visible))

    def update_device(self, _text: str | None = None) -> None:
        text = self.analysis.device_text
        device = self.analysis.settings.device
        if text is None:
            text = {"auto": "chosen when a model loads", "gpu": "GPU (when a model loads)",
                    "cpu": "CPU"}[device]
        self.device_label.setText(f"Device: {text}")
        self.device_label.setToolTip(
            f"Device setting: {device}. The engine uses a GPU when ONNX Runtime has one and "
            "says why when it runs on the CPU instead. Change it in Settings.")

    def update_models(self) -> None:
        infos = self.analysis.models_in_use
        if not infos:
            self.models_label.setText("Models: none loaded")
            self.models_label.setToolTip("Models load when an analysis first needs them.")
            return
        self.models_label.setToolTip("\n".join(
            f"{task_name(t)}: {i.name} on {i.device}" for t, i in infos.items()))
        self.models_label.setText("Models: " + self.analysis.models_summary())
