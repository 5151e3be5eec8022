"""Screenshots of every panel for the README, taken from the real window.

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/take_screenshots.py
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python docs/screenshots/take_screenshots.py --trained

With --trained, the entity model is the tiny demo model of
train_demo_models.py, trained first on synthetic text (about two minutes on a CPU; with
--models DIR they are trained into DIR once and reused). Without it:

Everything runs in a throw-away ALBERT_LENS_HOME: tiny random ALBERT checkpoints are built with
tests/checkpoint_factory.py (nothing is downloaded), imported into the model store the way a user
imports a folder, and the app opens a real sample document from ../shared/samples/. The models'
answers are random, so the pictures show what the app looks like, not what a trained model says.
The entity model's "O" bias is raised so that it tags a readable share of the words instead of
nearly all of them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
SAMPLES = REPO.parent / "shared" / "samples"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(OUT))


def build_models(folder: Path, trained: Path | None = None) -> dict[str, Path]:
    if trained is not None:
        import train_demo_models

        names = {"ner": "demo-token", "question-answering": "tiny-qa", "sentiment": "tiny-sequence",
                 "embeddings": "tiny-encoder"}
        if all((trained / n / "config.json").is_file() for n in names.values()):
            return {task: trained / n for task, n in names.items()}
        return train_demo_models.build(trained)

    import numpy as np
    from safetensors.numpy import load_file, save_file

    from tests import checkpoint_factory as factory

    spiece = factory.train_spiece(folder / "spiece.model")
    heads = {"ner": "token", "question-answering": "qa", "sentiment": "sequence",
             "embeddings": "encoder"}
    made = {}
    for task, head in heads.items():
        made[task] = factory.build_checkpoint(folder / f"tiny-{head}", spiece, head=head,
                                              seed=7)
    weights = made["ner"] / "model.safetensors"
    tensors = load_file(weights)
    bias = tensors["classifier.bias"].copy()
    bias[0] += 0.9  # label 0 is "O"
    tensors["classifier.bias"] = bias.astype(np.float32)
    save_file(tensors, weights, metadata={"format": "pt"})
    return made


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Screenshots of every panel for the README.")
    ap.add_argument("--trained", action="store_true",
                    help="use the demo models trained on synthetic text (train_demo_models.py)")
    ap.add_argument("--models", type=Path, default=None,
                    help="with --trained: folder to keep the trained demo models in and reuse")
    ap.add_argument("--out", type=Path, default=OUT,
                    help="folder to write the PNGs to (default: next to this script)")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="albert-lens-shots-"))
    os.environ["ALBERT_LENS_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    import app  # noqa: F401 - applies the PySide6 work-around before Qt is used
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.theme import apply_theme

    qt = QApplication(sys.argv[:1])
    qt.setApplicationName("Albert Lens")

    def settle(window, seconds: float = 0.3) -> None:
        end = time.monotonic() + 120
        while window.jobs.is_busy() and time.monotonic() < end:
            qt.processEvents()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            qt.processEvents()

    def shoot(widget, name: str) -> None:
        path = out / f"{name}.png"
        widget.grab().save(str(path), "PNG", 0)
        print(f"{path}  {path.stat().st_size // 1024} KB")

    def shoot_screen(window, name: str) -> None:
        """The window with the dialogs in front of it, as the screen shows them."""
        path = out / f"{name}.png"
        frame = window.frameGeometry()
        qt.primaryScreen().grabWindow(0, frame.x(), frame.y(), frame.width(),
                                      frame.height()).save(str(path), "PNG", 0)
        print(f"{path}  {path.stat().st_size // 1024} KB")

    def centre_on(dialog, window) -> None:
        # Xvfb has no window manager to place dialogs: put each over the middle of the window.
        dialog.move(window.frameGeometry().center() - dialog.rect().center())

    settings = Settings()
    settings.theme = "light"
    apply_theme(qt, "light")
    window = MainWindow(settings)
    window.resize(1360, 860)
    window.move(0, 0)
    window.show()
    settle(window)
    shoot(window, "welcome")

    # Offline first run: the standard pack cannot be downloaded (nothing can be reached here).
    window.download_standard_pack()
    settle(window, 1.0)
    manager = window.model_manager
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in manager.findChildren(QMessageBox) if b.isVisible()]
    manager.resize(900, 640)
    centre_on(manager, window)
    for box in boxes:
        centre_on(box, window)
        box.raise_()
    settle(window, 0.5)
    shoot_screen(window, "offline")
    for box in boxes:
        box.close()
    manager.hide()
    settle(window)

    # No models yet: a document opens and reads; the panels say what is missing.
    sample = max(SAMPLES.glob("*.txt"))
    window.open_path(sample)
    settle(window, 1.0)
    window.show_panel(1)
    window.ask_panel.question_box.setEditText("What does ALBERT stand for?")
    window.ask_panel.ask_current()
    settle(window)
    shoot(window, "no-models")
    window.show_panel(0)

    from engine import models

    trained = None
    if args.trained:
        trained = args.models.resolve() if args.models else home / "checkpoints"
    made = build_models(home / "checkpoints", trained)
    for task, folder in made.items():
        models.import_model(folder, task, model_id=f"tiny/{folder.name}")
    window.models_changed()
    settle(window, 1.0)
    session = window.current_session()
    panel = window.entities_panel
    rows = panel.rows()
    if rows:
        panel.activate_row(0)
        panel.step_mention(1)
    settle(window)
    shoot(window, "entities")

    window.show_panel(1)
    window.ask_panel.question_box.setEditText("What does ALBERT stand for?")
    window.ask_panel.ask_current()
    settle(window)
    shoot(window, "ask")

    window.show_panel(2)
    window.summary_panel.set_length("sentences", 4)
    window.summary_panel.start(session)
    settle(window)
    if window.summary_panel.list.count():
        window.summary_panel.list.setCurrentRow(1)
        window.summary_panel._jump(window.summary_panel.list.item(1))
    settle(window)
    shoot(window, "summary")

    window.show_panel(3)
    window.sentiment_panel.tint_box.setChecked(True)
    window.sentiment_panel.start(session)
    settle(window)
    chart = window.sentiment_panel.chart
    if chart.points:
        chart.select(len(chart.points) // 3)
    settle(window)
    shoot(window, "sentiment")

    window.find()
    session.find_bar.edit.setText("ALBERT")
    session.find_bar.search()
    settle(window)
    shoot(window, "find")
    session.find_bar.close_bar()

    manager = window.show_model_manager()
    manager.resize(900, 640)
    centre_on(manager, window)
    item = manager.item_for(f"tiny/{made['ner'].name}")
    if item is not None:
        manager.tree.setCurrentItem(item)
    settle(window)
    shoot(manager, "models")
    manager.hide()

    settings.theme = "dark"
    window.apply_settings({"theme": "dark"})
    window.sentiment_panel.tint_box.setChecked(False)
    window.show_panel(1)
    view = session.view
    view.scroll_to(view.offset_at(QPoint(10, 10)))
    settle(window)
    shoot(window, "dark")

    # A second document in its own tab, while the first one's results stay in theirs.
    others = sorted(p for p in SAMPLES.glob("*.txt") if p != sample)
    if others:
        settings.theme = "light"
        window.apply_settings({"theme": "light"})
        window.open_path(others[0])
        settle(window, 1.0)
        window.show_panel(0)
        settle(window)
        shoot(window, "second-tab")
    settings.theme = "system"
    settings.sentiment_tint = False
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
