"""The `albert-lens` command: the engine's commands, or the desktop app when none is given."""

from __future__ import annotations

import sys


def _open_app(files: list[str]) -> int:
    # Qt is imported only here, so `albert-lens analyze` stays headless and quick to start.
    from app.main import run_app

    return run_app(files)


def main(argv: list[str] | None = None) -> int:
    from engine.cli import main as cli_main

    return cli_main(argv, open_app=_open_app)


if __name__ == "__main__":
    sys.exit(main())
