"""Opening a library citation: the document's tab (opened in the background when it is not
open yet), scrolled to the span and marked as the Ask panel marks an answer."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject

from app.document_view import Highlight
from app.library_results import Target
from app.palette import ANSWER_COLOUR, ANSWER_CONTEXT_COLOUR, MENTION_COLOUR
from app.workers import Job, JobManager


class DocumentOpener(QObject):
    """`open_path(path)` is the window's (a Job while the file loads, None when its tab was
    only brought forward); `sessions()` the open tabs."""

    def __init__(self, jobs: JobManager, open_path: Callable[[str], Job | None],
                 sessions: Callable[[], list], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._open_path = open_path
        self._sessions = sessions
        self._waiting: dict[Job, Target] = {}
        jobs.job_finished.connect(self._finished)

    def open_at(self, target: Target) -> None:
        job = self._open_path(target.path)
        session = self.session_for(target.path)
        if session is not None:
            self.show(session, target)
        elif job is not None:
            self._waiting[job] = target  # the last click on a loading file wins

    def session_for(self, path: str):
        wanted = os.path.abspath(path)
        return next((s for s in self._sessions() if s.document.path is not None
                     and os.path.abspath(s.document.path) == wanted), None)

    def _finished(self, job: Job) -> None:
        target = self._waiting.pop(job, None)
        if target is not None and job.state == "succeeded":
            session = self.session_for(target.path)
            if session is not None:
                self.show(session, target)

    @staticmethod
    def show(session, target: Target) -> None:
        view = session.view
        size = len(session.document.text)
        if not 0 <= target.start <= target.end <= size:
            return  # the file changed since it was indexed; the next update re-reads it
        if target.context is not None:
            view.set_layer("answer-context", [Highlight(*target.context, ANSWER_CONTEXT_COLOUR)])
        else:
            view.clear_layer("answer-context")
        marks = target.marks if target.marks else ((target.start, target.end),)
        outline = None if target.marks else MENTION_COLOUR
        view.set_layer("answer", [Highlight(a, b, ANSWER_COLOUR, outline=outline,
                                            tooltip=target.tooltip or None) for a, b in marks])
        view.scroll_to(target.start, target.end)
        view.setFocus()
