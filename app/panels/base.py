"""What the task panels share: following the current document, running their task, notices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.document_state import CANCELLED, DONE, FAILED, IDLE, NO_MODEL, RUNNING
from app.session import DocumentSession
from engine.errors import ModelNotFoundError
from engine.tasks import registry


def alive(session: DocumentSession | None) -> bool:
    """False once the tab is closed: late job callbacks must not touch its widgets."""
    return (session is not None and not getattr(session, "closed", False)
            and shiboken6.isValid(session))


class Notice(QFrame):
    """A line of text with an optional button, for "no model", "failed", "nothing yet"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setAccessibleName("Panel notice")
        self.button = QPushButton(self)
        self.button.hide()
        self._action: Callable[[], None] | None = None
        self.button.clicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.label)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.button)
        layout.addLayout(row)
        self.hide()

    def show_text(self, text: str, action_text: str | None = None,
                  action: Callable[[], None] | None = None) -> None:
        self.label.setText(text)
        self._action = action
        if action_text and action is not None:
            self.button.setText(action_text)
            self.button.setAccessibleName(action_text)
            self.button.show()
        else:
            self.button.hide()
        self.show()

    def _clicked(self) -> None:
        if self._action is not None:
            self._action()


class TaskPanel(QWidget):
    """A panel for one engine task; it shows the results of the current document's session."""

    task = ""
    title = ""
    # A panel with its own run button always in view: the notice must not add a second one.
    has_run_button = False

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.session: DocumentSession | None = None
        self.notice = Notice(self)
        self.setAccessibleName(f"{self.title} panel")

    def set_session(self, session: DocumentSession | None) -> None:
        if self.session is session:
            return
        if alive(self.session):
            try:
                self.session.changed.disconnect(self._session_changed)
            except (RuntimeError, TypeError):
                pass
        self.session = session
        if session is not None:
            session.changed.connect(self._session_changed)
        self.refresh()

    def _session_changed(self, task: str) -> None:
        if task == self.task:
            self.refresh()

    def refresh(self) -> None:  # pragma: no cover - every panel has its own
        raise NotImplementedError

    def start(self, session: DocumentSession) -> None:  # pragma: no cover - panels that run
        raise NotImplementedError

    def start_current(self) -> None:
        if self.session is not None:
            self.start(self.session)

    def model_may_be_installed(self, session: DocumentSession) -> None:
        """Models changed while this task had none: the "no model" notice goes, and the
        panel waits for its button (a panel that runs by itself runs again)."""
        session.document_state.set_task_state(self.task, IDLE)

    # --- running the task ------------------------------------------------------------------------
    def run_task(self, session: DocumentSession,
                 call: Callable[[Any, Any, Callable[[], bool]], Any],
                 on_result: Callable[[Any], None], title: str | None = None) -> None:
        """Run this panel's task for `session` in the background and keep its state current."""
        doc = session.document_state
        session.clear_explanation()  # a new analysis: the old "Why?" no longer applies
        state = doc.tasks[self.task]
        if state.state == RUNNING and state.job is not None:
            self.ctx.jobs.cancel(state.job)

        def success(result: Any) -> None:
            if not alive(session):
                return
            try:
                on_result(result)
            except Exception as exc:  # noqa: BLE001 - a result the panel cannot show
                failure(exc)
                return
            doc.set_task_state(self.task, DONE)

        def failure(error: BaseException) -> None:
            if not alive(session):
                return
            if isinstance(error, ModelNotFoundError):
                doc.set_task_state(self.task, NO_MODEL, str(error))
            else:
                doc.set_task_state(self.task, FAILED, str(error) or type(error).__name__)
                self.ctx.show_error(f"{self.title} failed", error)

        def cancelled() -> None:
            if alive(session):
                doc.set_task_state(self.task, CANCELLED, "Cancelled.")

        job = self.ctx.analysis.run(self.task, call, on_success=success, on_error=failure,
                                    on_cancel=cancelled, owner=session, title=title)
        doc.set_task_state(self.task, RUNNING, job=job)

    def state_notice(self, idle_text: str, run_text: str, run: Callable[[], None]) -> None:
        """Show the notice that fits the session's state for this task (or hide it)."""
        session = self.session
        if session is None:
            self.notice.show_text("Open a document to use this panel.")
            return
        state = session.document_state.tasks[self.task]
        if state.state == RUNNING:
            self.notice.show_text("Working… (progress and Cancel are in the status bar)")
        elif state.state == NO_MODEL:
            self.notice.show_text(
                f"No {registry.task_spec(self.task).model_role} model is installed yet. Reading documents works "
                "without one; to use this panel, get the standard models or import a folder.",
                "Models…", self.ctx.manage_models)
        elif state.state == FAILED:
            self.notice.show_text(state.message, "Try again", run)
        elif state.state == CANCELLED:
            self.notice.show_text("Cancelled.", *(() if self.has_run_button else (run_text, run)))
        elif state.state != DONE and idle_text:
            self.notice.show_text(idle_text, *(() if self.has_run_button else (run_text, run)))
        else:
            self.notice.hide()
