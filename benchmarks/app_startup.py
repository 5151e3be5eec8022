"""Start-up time and memory of the desktop app, measured from outside in fresh processes.

1. Launch to window on screen: `python -m app` is started N times with
   ALBERT_LENS_STARTUP_PROBE=1; the app prints how long after the launcher's time stamp
   (ALBERT_LENS_LAUNCH_T0, taken just before the process is spawned) its window was first
   exposed, and which heavy modules (torch, transformers, onnxruntime) were loaded by then.
2. Resident memory with four standard-size models: a child opens the real window and a sample
   document, then loads four albert-base-shaped checkpoints (E=128, H=768, 12 layers, 12 heads,
   FFN 3072, vocab 30000; random weights, one per head: token, qa, sequence, encoder) through
   engine.load_model, and reads VmRSS / VmHWM from /proc/self/status. The first load converts
   each checkpoint to an ONNX graph (cold); a second fresh child loads them from the graph cache,
   which is what every later start of the app does (warm).

    xvfb-run -s "-screen 0 1400x900x24" python benchmarks/app_startup.py [--rounds 7]

Linux only (reads /proc). Under Xvfb the window is a real X11 window; without a display, set
QT_QPA_PLATFORM=offscreen.
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

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
BASE = {"vocab_size": 30000, "embedding_size": 128, "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
        "hidden_act": "gelu_new"}
HEADS = {"token": "AlbertForTokenClassification", "qa": "AlbertForQuestionAnswering",
         "sequence": "AlbertForSequenceClassification", "encoder": "AlbertModel"}


def child_env(home: Path, **extra) -> dict:
    env = {**os.environ, "ALBERT_LENS_HOME": str(home), "PYTHONPATH": str(REPO),
           "HF_HUB_OFFLINE": "1", **extra}
    if "DISPLAY" not in env and "WAYLAND_DISPLAY" not in env:
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def startup_times(rounds: int, home: Path) -> tuple[list[float], set[str]]:
    times, heavy = [], set()
    for _ in range(rounds):
        env = child_env(home, ALBERT_LENS_STARTUP_PROBE="1")
        env["ALBERT_LENS_LAUNCH_T0"] = repr(time.time())
        out = subprocess.run([sys.executable, "-m", "app"], env=env, cwd=REPO, check=True,
                             capture_output=True, text=True, timeout=120).stdout
        for line in out.splitlines():
            if line.startswith("window-shown "):
                times.append(float(line.split()[1]))
            elif line.startswith("heavy-modules "):
                heavy |= {m for m in line.split()[1].split(",") if m != "-"}
    return times, heavy


BUILD = """
import sys, torch, transformers
base, folder = {base}, sys.argv[1]
for head, arch in {heads}.items():
    torch.manual_seed(0)
    config = transformers.AlbertConfig(**base, num_labels=9 if head == "token" else 2)
    getattr(transformers, arch)(config).eval().save_pretrained(f"{{folder}}/{{head}}")
"""

MEASURE = """
import json, sys, time
import app
from PySide6.QtWidgets import QApplication
from app.main_window import MainWindow
from app.settings import Settings

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}

qt = QApplication([])
window = MainWindow(Settings())
window.show()
sample = sys.argv[2]
if sample:
    window.open_path(sample)
end = time.time() + 30
while (window.jobs.is_busy() or (sample and not window.sessions)) and time.time() < end:
    qt.processEvents()
qt.processEvents()
report = {"window": status()}
import engine
models = []
for head in ("token", "qa", "sequence", "encoder"):
    started = time.perf_counter()
    models.append(engine.load_model(f"{sys.argv[1]}/{head}", device="cpu"))
    report[head] = {**status(), "seconds": round(time.perf_counter() - started, 2)}
qt.processEvents()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
report["torch_loaded"] = heavy
print("REPORT " + json.dumps(report))
window.close()
"""


def measure_memory(home: Path, models: Path, sample: str) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(models), sample],
                         env=child_env(home), cwd=REPO, check=True, capture_output=True,
                         text=True, timeout=1800).stdout
    line = next(x for x in out.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the checkpoints and graph cache here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="albert-lens-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    platform_name = os.environ.get("QT_QPA_PLATFORM") or (
        "xcb" if os.environ.get("DISPLAY") else "offscreen")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, Qt platform {platform_name}")

    subprocess.run([sys.executable, "-m", "app"], env=child_env(
        home, ALBERT_LENS_STARTUP_PROBE="1"), cwd=REPO, check=True, capture_output=True,
        timeout=120)  # first run: Python byte-compiles, the settings file appears
    times, heavy = startup_times(args.rounds, home)
    print(f"launch -> window shown: median {statistics.median(times):.3f} s, "
          f"min {min(times):.3f} s, max {max(times):.3f} s over {len(times)} launches")
    print(f"heavy modules loaded when the window appeared: {sorted(heavy) or 'none'}")

    models = work / "models"
    if not (models / "encoder" / "config.json").exists():
        code = BUILD.format(base=repr(BASE), heads=repr(HEADS))
        subprocess.run([sys.executable, "-c", code, str(models)], env=child_env(home),
                       check=True, timeout=1800)
    samples = sorted(SAMPLES.glob("*.txt")) if SAMPLES.is_dir() else []
    sample = str(samples[-1]) if samples else ""
    cold = measure_memory(home, models, sample)
    warm = measure_memory(home, models, sample)
    for name, report in (("cold (first load converts to ONNX)", cold),
                         ("warm (graphs from the cache)", warm)):
        print(f"\nresident memory, {name}:")
        print(f"  window + document open      {report['window']['VmRSS']:5d} MB")
        for head in ("token", "qa", "sequence", "encoder"):
            r = report[head]
            print(f"  + {head:<9} model loaded    {r['VmRSS']:5d} MB  ({r['seconds']:.2f} s)")
        print(f"  peak (VmHWM)                {report['encoder']['VmHWM']:5d} MB")
        print(f"  torch/transformers imported: {report['torch_loaded'] or 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
