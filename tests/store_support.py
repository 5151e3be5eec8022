"""Helpers shared by the model-store tests: the models CLI in-process, and an empty store."""

from __future__ import annotations

import argparse

from engine import paths
from engine.models import store
from engine.models.cli import add_models_parser, run_models_command


def models_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `albert-lens models ...` in this process: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="albert-lens")
    add_models_parser(parser.add_subparsers(dest="command"))
    code = run_models_command(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_nothing_installed(graphs: bool = False) -> None:
    """No model is installed, no half-made one is left; with `graphs`, no converted graph."""
    assert store.list_installed() == []
    root = paths.models_dir()
    if root.exists():
        assert not [p for p in root.iterdir() if (p / store.METADATA_NAME).exists()]
        assert not list(root.glob(".tmp-*"))
    if graphs:
        cache = paths.graph_cache_dir()
        assert not cache.exists() or not list(cache.glob("*.onnx"))
