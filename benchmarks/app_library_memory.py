"""Resident memory of the desktop app with a library of N documents open in its Library dock.

The folder of N documents (~1,000 words each, about a million words for 1,000) is made as
benchmarks/library.py makes it, added to the *default* library of a temporary ALBERT_LENS_HOME
and indexed with stage 1 only (passages: keyword search; no models are installed or needed, so
the app's own start-up update skips the model stages). Then fresh children each start the real
app (a real window under Xvfb, as benchmarks/app_startup.py does), open the Library dock with
Ctrl+Shift+L (or View › Library's action, which the keystroke fires, when the window is not
active, as under Xvfb without a window manager), wait until its folder tree lists every
document and the jobs are idle, run one keyword search from the Search tab, and read VmRSS / VmHWM from /proc/self/status
at each step. The same app without a library (a fresh, empty home; the search there creates an
empty library, as it would for a person) runs in alternation with it, so both see the same load.

    xvfb-run -a -s "-screen 0 1400x900x24" python benchmarks/app_library_memory.py \
        [--docs 1000] [--rounds 3]

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app_startup import REPO, child_env  # this folder is sys.path[0]
from library import make_folder

MEASURE = """
import json, sys, time
launched = float(sys.argv[3])
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from app.main_window import MainWindow
from app.settings import Settings

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}

def settle(done, seconds):
    end = time.time() + seconds
    while not done() and time.time() < end:
        qt.processEvents()
        time.sleep(0.005)
    return done()

docs, query = int(sys.argv[1]), sys.argv[2]
qt = QApplication([])
window = MainWindow(Settings())
window.show()
shown = time.time()
report = {"shown_after_launch_s": round(shown - launched, 2)}
# The person's keystroke; a window that is not active (no window manager) gets the action.
window.activateWindow()
QTest.keySequence(window, QKeySequence("Ctrl+Shift+L"))
qt.processEvents()
dock = window.library
report["opened_by"] = "Ctrl+Shift+L" if dock.isVisible() else "View > Library action"
if not dock.isVisible():
    window.actions["library"].trigger()
    qt.processEvents()
view = dock.view
# The dock reads the library from start-up on, shown or not: the time that counts is from
# the window on screen (the keystroke follows at once) until the tree lists every document.
listed = settle(lambda: len(view.document_rows()) >= docs, 300)
report["listed"] = listed
report["tree_listed_s"] = round(time.time() - shown, 2)
report["tree_rows"] = len(view.document_rows())
settle(lambda: not window.jobs.is_busy() and not dock.model.updating, 300)
report["idle_s"] = round(time.time() - shown, 2)
qt.processEvents()
report["listed_mem"] = status()
view.tabs.setCurrentIndex(1)
view.search_box.setText(query)
started = time.time()
QTest.keyClick(view.search_box, Qt.Key.Key_Return)
settle(lambda: view.search_notice.text() != "Searching…" and not window.jobs.is_busy(), 60)
report["search_s"] = round(time.time() - started, 3)
report["search_notice"] = view.search_notice.text()
targets = view.hits.targets()
report["hits"] = len(targets)
report["first_hit"] = targets[0].path if targets else None
qt.processEvents()
report["search_mem"] = status()
print("REPORT " + json.dumps(report))
window.close()
"""


def run_child(home: Path, docs: int, query: str) -> dict:
    launched = time.time()
    out = subprocess.run([sys.executable, "-c", MEASURE, str(docs), query, repr(launched)],
                         env=child_env(home), cwd=REPO, check=True, capture_output=True,
                         text=True, timeout=900).stdout
    line = next(x for x in out.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


def index_default_library(home: Path, folder: Path) -> tuple[float, int]:
    """Stage 1 of the default library in `home`, in a child so this process stays small."""
    code = ("import json, sys, time, engine\n"
            "lib = engine.open_library()\n"
            "t = time.perf_counter()\n"
            "lib.add_folder(sys.argv[1])\n"
            "lib.update(stages=('passages',))\n"
            "print(json.dumps([time.perf_counter() - t, lib.status().passages]))\n"
            "lib.close()\n")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], env=child_env(home),
                         cwd=REPO, check=True, capture_output=True, text=True, timeout=900)
    seconds, passages = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, passages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--words", type=int, default=1000, help="words per document")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds: the app with the library, then without")
    ap.add_argument("--keep", help="work in this folder and keep it")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="app-library-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    platform_name = os.environ.get("QT_QPA_PLATFORM") or (
        "xcb" if os.environ.get("DISPLAY") else "offscreen")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, Qt platform {platform_name}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    facts = make_folder(work / "docs", args.docs, args.words)
    words = sum(len(p.read_text(encoding="utf-8").split()) for _, p in facts)
    home = work / "home"
    seconds, passages = index_default_library(home, work / "docs")
    print(f"default library: {args.docs:,} documents, {words:,} words, {passages:,} passages "
          f"(stage 1 only, no models) indexed in {seconds:.1f} s")
    fact, path = facts[len(facts) // 2]
    query = f"{fact} ledger audited"

    with_lib, without = [], []
    for i in range(args.rounds):
        with_lib.append(run_child(home, args.docs, query))
        without.append(run_child(work / f"empty-home-{i}", 0, query))
        print(f"round {i + 1}: with {json.dumps(with_lib[-1])}\n"
              f"         without {json.dumps(without[-1])}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def med(reports, *keys):
        values = []
        for r in reports:
            for k in keys:
                r = r[k]
            values.append(r)
        return statistics.median(values)

    print(f"\nmedians over {args.rounds} rounds (MiB; the app with {args.docs:,} documents "
          f"vs the same app without a library):")
    for step, key in (("tree listed, jobs idle", "listed_mem"),
                      ("after one keyword search", "search_mem")):
        a, b = med(with_lib, key, "VmRSS"), med(without, key, "VmRSS")
        print(f"  {step:<26} VmRSS {a:5.0f} vs {b:5.0f}  (+{a - b:.0f})")
    a, b = med(with_lib, "search_mem", "VmHWM"), med(without, "search_mem", "VmHWM")
    print(f"  {'peak (VmHWM)':<26} VmHWM {a:5.0f} vs {b:5.0f}  (+{a - b:.0f})")
    print(f"  window shown (dock opened at once) -> tree lists all {args.docs:,} documents: "
          f"{med(with_lib, 'tree_listed_s'):.2f} s (jobs idle after "
          f"{med(with_lib, 'idle_s'):.2f} s); window shown after launch "
          f"{med(with_lib, 'shown_after_launch_s'):.2f} s vs "
          f"{med(without, 'shown_after_launch_s'):.2f} s")
    first = sum(r["first_hit"] == str(path) for r in with_lib)
    print(f"  keyword search '{query}' from the Search tab, Enter -> hits shown: "
          f"{med(with_lib, 'search_s') * 1e3:.0f} ms, {with_lib[-1]['hits']} hits, the fact's "
          f"document first in {first}/{args.rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
