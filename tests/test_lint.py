"""The conventions hold: ruff is clean over the whole tree, and engine/ never imports Qt."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=REPO, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def imported_modules(folder: Path):
    """(file, module name) for every import statement under `folder`."""
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.relative_to(REPO), alias.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                yield path.relative_to(REPO), node.module


def test_engine_never_imports_qt_or_app():
    offenders = [f"{path}: {name}" for path, name in imported_modules(REPO / "engine")
                 if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6", "app")]
    assert offenders == []

# The engine's insides that the app must reach only through engine's public modules.
ENGINE_INTERNALS = ("engine.albert", "engine.runtime", "engine.tasks.sentences",
                    "engine.tasks._common")


def test_app_uses_only_the_engines_public_modules():
    offenders = [f"{path}: {name}" for path, name in imported_modules(REPO / "app")
                 if any(name == m or name.startswith(m + ".") for m in ENGINE_INTERNALS)]
    assert offenders == []
