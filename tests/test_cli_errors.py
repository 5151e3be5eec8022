"""Every command ends an error the same way: one line on stderr and its exit code."""

import io

import pytest

from engine.cli_errors import command_failed
from engine.errors import Cancelled, ModelNotFoundError


class Usage(Exception):
    pass


@pytest.mark.parametrize(("exc", "code", "line"), [
    (Usage("--top-k must be\n at least 1"), 2, "albert-lens: error: --top-k must be at least 1"),
    (ValueError("--ratio 3: no"), 2, "albert-lens: error: --ratio 3: no"),
    (Cancelled("x"), 130, "albert-lens: error: stopped; run it again"),
    (KeyboardInterrupt(), 130, "albert-lens: error: stopped; run it again"),
    (ModelNotFoundError("No ner model is installed."), 1,
     "albert-lens: error: No ner model is installed."),
    (MemoryError(), 1, ("albert-lens: error: out of memory (try a shorter document, fewer "
                       "summary sentences or --precision int8)")),
    (KeyError("x"), 1, ("albert-lens: error: unexpected KeyError: 'x' (set ALBERT_LENS_DEBUG=1 "
                       "for details)")),
])
def test_each_error_is_one_line_and_its_exit_code(exc, code, line, monkeypatch):
    monkeypatch.delenv("ALBERT_LENS_DEBUG", raising=False)
    err = io.StringIO()
    assert command_failed(err, exc, usage=(Usage,), interrupted="stopped; run it again") == code
    assert err.getvalue() == line + "\n"


def test_debug_shows_the_traceback_of_an_unexpected_error(monkeypatch):
    monkeypatch.setenv("ALBERT_LENS_DEBUG", "1")
    with pytest.raises(KeyError):
        command_failed(io.StringIO(), KeyError("x"))
