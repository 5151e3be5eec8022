""""Why?": a pipeline's `explain` run as a background job, its attributions as tints on the
words (or sentences) of the text, with the exact weights on hover.

One explanation is shown per document: a new one, or a new analysis, takes the old tint away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.document_view import Highlight
from app.palette import explain_tint
from engine.errors import AlbertLensError

if TYPE_CHECKING:
    from app.context import AppContext
    from app.session import DocumentSession
    from engine.tasks.results import Attribution

LAYER = "explain"  # app.session.EXPLAIN_LAYER; "explain-page" under it


def weight_tooltip(attribution: Attribution, verdict: str, unit: str) -> str:
    """Plain text: the exact weight and what it means (leave-one-out)."""
    w = attribution.weight
    if unit == "sentence":
        head = f"This sentence: {w:+.4f}"
        thing = "the answer's score"
    else:
        head = f"“{attribution.text}”: {w:+.4f}"
        thing = f"the probability of “{verdict}”"
    if w == 0:
        return f"{head}\nWithout it, {thing} does not change"
    return f"{head}\nWithout it, {thing} {'falls' if w > 0 else 'rises'} by {abs(w):.4f}"


def explanation_highlights(attributions: list[Attribution], base: int, verdict: str,
                           unit: str = "word") -> list[Highlight]:
    """One mark per attribution, at its span moved by `base` (the offset of the explained text
    in the document): blue for what supports the verdict, orange for what argues against it,
    stronger the more it counts against the strongest one."""
    strongest = max((abs(a.weight) for a in attributions), default=0.0)
    return [Highlight(base + a.start, base + a.end, explain_tint(a.weight, strongest),
                      tooltip=weight_tooltip(a, verdict, unit), data=a.weight)
            for a in attributions if a.end > a.start]


def explain_in_background(ctx: AppContext, session: DocumentSession, task: str,
                          call: Callable[[Any, Any, Callable[[], bool]], list[Attribution]],
                          base: int, title: str, verdict: str, unit: str = "word") -> object:
    """Run `call(pipeline, progress, cancel)` (the pipeline's `explain`) off the UI thread and
    tint `session`'s text with the result; the previous explanation goes at once."""
    from app.panels.base import alive

    previous = getattr(session, "explanation_job", None)
    if previous is not None:
        ctx.jobs.cancel(previous)  # its tint would land over this one's
    session.clear_explanation()
    session.show_explanation_message(f"{title}? Working…")

    job_box: list = [None]

    def success(attributions: list[Attribution]) -> None:
        if alive(session):
            session.show_explanation(f"{title}?",
                                     explanation_highlights(attributions, base, verdict, unit),
                                     unit)

    def failure(error: BaseException) -> None:
        if not alive(session):
            return
        if isinstance(error, AlbertLensError | ValueError):
            # Over the one-window cap, no model: the engine's message says what to do.
            session.show_explanation_message(f"{title}? {error}")
        else:
            session.clear_explanation()
            ctx.show_error("Explaining failed", error)

    def cancelled() -> None:
        if alive(session) and session.explanation_job is job_box[0]:
            session.clear_explanation()

    job = ctx.analysis.run(task, lambda pipe, progress, cancel: call(pipe, progress, cancel),
                           on_success=success, on_error=failure, on_cancel=cancelled,
                           owner=session, title="Explaining")
    job_box[0] = session.explanation_job = job
    return job
