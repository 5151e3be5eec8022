"""How every `albert-lens` command ends on an error: one line on stderr and an exit code.

The commands (analyze, models, library, batch) share this, so an error reads the same whichever
command raised it and no traceback reaches a person unless ALBERT_LENS_DEBUG is set.
"""

from __future__ import annotations

import os

from engine.errors import AlbertLensError, Cancelled

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def describe_error(exc: BaseException) -> str:
    """One line a person can act on, for an error that was not raised on purpose."""
    if isinstance(exc, AlbertLensError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("out of memory (try a shorter document, fewer summary sentences or "
                "--precision int8)")
    return f"unexpected {type(exc).__name__}: {exc} (set ALBERT_LENS_DEBUG=1 for details)"


def fail(err, message: str, code: int) -> int:
    """Print `message` as one line ("albert-lens: error: …") and return `code`."""
    text = " ".join(str(message).split())
    print(f"albert-lens: error: {text[:10_000]}", file=err)
    err.flush()
    return code


def command_failed(err, exc: BaseException, *, usage: tuple[type, ...] = (),
                   interrupted: str = "interrupted.") -> int:
    """The exit code for `exc`, raised by a command, after saying what happened on `err`:
    a usage error (`usage`, or a ValueError from the arguments) 2, an interrupt 130, anything
    else 1. With ALBERT_LENS_DEBUG set, an unexpected error is raised with its traceback."""
    if isinstance(exc, usage):
        return fail(err, str(exc), EXIT_USAGE)
    if isinstance(exc, (Cancelled, KeyboardInterrupt)):
        return fail(err, interrupted, EXIT_INTERRUPTED)
    if isinstance(exc, AlbertLensError):
        return fail(err, str(exc), EXIT_ERROR)
    if isinstance(exc, ValueError):
        return fail(err, str(exc), EXIT_USAGE)
    if os.environ.get("ALBERT_LENS_DEBUG"):
        raise exc
    return fail(err, describe_error(exc), EXIT_ERROR)
