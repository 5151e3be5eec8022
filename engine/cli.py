"""`albert-lens`: the desktop app with no sub-command, the headless engine otherwise."""

from __future__ import annotations

import argparse
import sys

import engine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-lens",
        description="Read documents with a local ALBERT engine. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"albert-lens {engine.__version__}")
    parser.add_argument("files", nargs="*", help="documents to open in the app")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from app.main import run_app

    return run_app(args.files)


if __name__ == "__main__":
    sys.exit(main())
