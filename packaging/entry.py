"""Entry point of the frozen Albert Lens (PyInstaller): the same `app.entry:main` as the pip install.

Kept tiny on purpose: everything the program does lives in engine/ and app/, so the frozen build and
`pip install` behave the same (models, caches and settings come from `engine.paths`, i.e.
platformdirs or `ALBERT_LENS_HOME`).

One addition for packagers: `albert-lens --self-test MODEL_DIR [DOCUMENT ...]` checks that the
bundle is complete (document loaders, tokenizer, fp32 and int8 ONNX graphs, the model catalog, Qt
with its SVG icon support) and prints a JSON report; packaging/smoke_test.py runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path


def _ensure_streams() -> None:
    # A windowed Windows build has no console: sys.stdout / sys.stderr are None there, and anything
    # that prints (argparse's --version, a warning) would crash. Send them to the null device.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _resources() -> Path:
    base = getattr(sys, "_MEIPASS", None)
    return (Path(base) if base else Path(__file__).resolve().parents[1]) / "resources"


def self_test(args: list[str]) -> int:
    """Exercise what the bundle must contain; print a JSON report; 0 when everything worked."""
    import json

    import engine

    if not args:
        print("usage: albert-lens --self-test MODEL_DIR [DOCUMENT ...]", file=sys.stderr)
        return 2
    model_dir, documents = args[0], args[1:]
    report: dict = {"version": engine.__version__, "frozen": bool(getattr(sys, "frozen", False))}
    from engine import paths

    report["paths"] = {
        "data": str(paths.data_dir()), "cache": str(paths.cache_dir()),
        "config": str(paths.config_dir()),
    }

    report["documents"] = {}
    text = "Marie Curie was born in Warsaw and worked in Paris."
    for path in documents:
        doc = engine.load_document(path)
        report["documents"][Path(path).suffix.lstrip(".") or path] = len(doc.text)
        if len(doc.text) > len(text):
            text = doc.text

    tok = engine.load_tokenizer(model_dir)
    enc = tok.encode(text, max_length=128)
    report["tokens"] = len(enc.ids)
    for precision in ("fp32", "int8"):
        model = engine.load_model(model_dir, device="cpu", precision=precision)
        out = model(input_ids=[enc.ids])
        report[precision] = {name: list(value.shape) for name, value in out.items()}

    from engine.models import catalog

    report["catalog"] = len(catalog.load_catalog())

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QIcon

    qt_app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    icon = QIcon(str(_resources() / "icons" / "albert-lens.svg"))
    report["svg_icon"] = not icon.pixmap(64, 64).isNull()
    del qt_app

    print(json.dumps(report, sort_keys=True))
    ok = report["catalog"] > 0 and report["svg_icon"] and report["tokens"] > 2
    return 0 if ok else 1


def main() -> int:
    multiprocessing.freeze_support()
    _ensure_streams()
    if sys.argv[1:2] == ["--self-test"]:
        return self_test(sys.argv[2:])
    from app.entry import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
