"""Smoke test of the frozen Albert Lens in dist/albert-lens/ (slow: builds a tiny checkpoint).

    python packaging/smoke_test.py [--dist dist] [--seconds 5]

Run it with the development virtualenv (`pip install -e '.[dev]'`): torch and transformers make
the tiny checkpoint, fpdf2 and python-docx the test documents; the frozen program itself uses
none of them. What it checks, on the frozen executable:

1. `--version` prints the engine's version;
2. `--self-test` (packaging/entry.py) loads every document kind, the tokenizer, fp32 and int8
   graphs, the catalog and the SVG icon, and keeps its graph cache under `ALBERT_LENS_HOME`; its
   paths (with and without `ALBERT_LENS_HOME`) equal the pip install's;
3. `analyze` on a real document (../shared/samples) with the tiny checkpoint, when the CLI has it,
   and its JSON equals what the pip install prints for the same command;
4. `batch` over the test documents runs in the bundle (locally: Ray is left out) and writes the
   Parquet rows the pip install writes; `batch --cluster` says in one line how to get Ray;
5. the window: the app runs under Xvfb (Linux; natively elsewhere) for a few seconds with a
   document argument, stays alive, and writes no Python traceback or Qt plugin error.

Exit status 0 when all passed; every step prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
BAD_STDERR = re.compile(
    r"Traceback \(most recent call last\)|ModuleNotFoundError|ImportError|"
    r"qt\.qpa\.plugin: Could not|Failed to execute script|This application failed to start"
)


class SmokeFailure(AssertionError):
    pass


def executable(dist: Path, console: bool = True) -> Path:
    folder = dist / "albert-lens"
    if sys.platform == "win32":
        return folder / ("albert-lens-cli.exe" if console else "albert-lens.exe")
    return folder / "albert-lens"


def engine_version() -> str:
    text = (ROOT / "engine" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


def run(cmd: list, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], check=False, capture_output=True, text=True, env=env, timeout=timeout,
        encoding="utf-8", errors="replace",
    )
    if proc.returncode != 0 or BAD_STDERR.search(proc.stderr):
        raise SmokeFailure(
            f"{' '.join(map(str, cmd[:3]))}... exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
    return proc


def env_with(home: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("ALBERT_LENS_HOME", None)
    if home is not None:
        env["ALBERT_LENS_HOME"] = str(home)
    return env


def sample_document(work: Path) -> Path:
    """A real document: the first shared sample, else the tests' corpus (e.g. on CI runners)."""
    samples = sorted(SAMPLES.glob("*.txt")) if SAMPLES.is_dir() else []
    if samples:
        return samples[0]
    fallback = work / "sample.txt"
    fallback.write_text((ROOT / "tests" / "data" / "corpus.txt").read_text(encoding="utf-8")[:8000],
                        encoding="utf-8")
    return fallback


def make_checkpoint(work: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.checkpoint_factory import build_checkpoint, train_spiece

    spiece = train_spiece(work / "spiece" / "spiece.model")
    out = work / "tiny-ner"
    build_checkpoint(out, spiece, head="token")
    return out


def make_documents(work: Path, text: str) -> list[Path]:
    """One document of every kind the loaders read, made with the tests' own factory."""
    paras = [p.strip() for p in text.split("\n") if p.strip()][:6] or ["Albert Lens reads text."]
    docs = []
    md = work / "doc.md"
    md.write_text("# Title\n\n" + "\n\n".join(paras), encoding="utf-8")
    html = work / "doc.html"
    html.write_text("<html><head><title>T</title></head><body>"
                    + "".join(f"<p>{p}</p>" for p in ["Plain &amp; simple.", "Second one."])
                    + "</body></html>", encoding="utf-8")
    docs += [md, html]
    try:
        sys.path.insert(0, str(ROOT))
        from tests import document_factory as factory

        docs.append(factory.make_docx(work / "doc.docx"))
        docs.append(factory.make_pdf(work / "doc.pdf", [["Marie Curie was born in Warsaw."],
                                                        ["She worked in Paris."]]))
        docs.append(factory.make_epub(
            work / "doc.epub",
            [("c1", "c1.xhtml", ["First chapter text."]), ("c2", "c2.xhtml", ["Second."])],
            ["c1", "c2"],
        ))
    except Exception as exc:  # noqa: BLE001 (the factory needs the dev extras)
        print(f"  (no .docx/.pdf/.epub documents: {type(exc).__name__}: {exc})")
    return [Path(d) for d in docs]


def pip_engine_paths(home: Path | None) -> dict:
    code = (
        "import json; from engine import paths; print(json.dumps({'data': str(paths.data_dir()),"
        " 'cache': str(paths.cache_dir()), 'config': str(paths.config_dir())}))"
    )
    proc = run([sys.executable, "-c", code], env=env_with(home))
    return json.loads(proc.stdout)


def _normalise(value):
    """Drop what may differ between two runs of the same analysis (timings, when it was made)."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()
                if not re.search(r"tim(e|ing)|elapsed|seconds|duration|ms$|^created$", k, re.IGNORECASE)}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


def check_batch(exe: Path, model: Path, docs: list[Path], work: Path, home: Path) -> str:
    import pyarrow.parquet as pq

    cmd = ["batch", *docs, "--task", "ner", "--model", f"ner={model}", "--device", "cpu",
           "--progress", "none"]
    frozen, piped = work / "frozen.parquet", work / "piped.parquet"
    run([exe, *cmd, "--out", frozen], env=env_with(home))
    run([sys.executable, "-m", "app.entry", *cmd, "--out", piped], env=env_with(home))

    def rows(path: Path) -> dict:
        return {r["path"]: _normalise(r) for r in pq.read_table(path).to_pylist()}

    if rows(frozen) != rows(piped):
        raise SmokeFailure(f"frozen batch rows differ from the pip install's:\n"
                           f"{rows(frozen)}\n---\n{rows(piped)}")
    proc = subprocess.run([str(exe), *map(str, cmd), "--out", str(work / "c.parquet"),
                           "--cluster"], capture_output=True, text=True, env=env_with(home),
                          timeout=120, check=False)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 0 or len(lines) != 1 or "cluster" not in lines[0] \
            or BAD_STDERR.search(proc.stderr):
        raise SmokeFailure(f"frozen batch --cluster exited {proc.returncode}: {proc.stderr!r}")
    return (f"batch: {len(rows(frozen))} documents, rows identical to the pip install's; "
            f"--cluster: {lines[0]!r}")


def check_window(exe: Path, document: Path, seconds: float, home: Path) -> str:
    env = env_with(home)
    xvfb = None
    if sys.platform.startswith("linux"):
        if shutil.which("Xvfb") is None:
            raise SmokeFailure("Xvfb is not installed (apt install xvfb)")
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            display = pipe.readline().strip()
        if not display:
            xvfb.kill()
            raise SmokeFailure("Xvfb did not start")
        env["DISPLAY"] = f":{display}"
        env.pop("WAYLAND_DISPLAY", None)
        env["QT_QPA_PLATFORM"] = "xcb"
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
            app = subprocess.Popen([str(exe), str(document)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
            try:
                time.sleep(seconds)
                code = app.poll()
            finally:
                if app.poll() is None:
                    app.terminate()
                    try:
                        app.wait(10)
                    except subprocess.TimeoutExpired:
                        app.kill()
                        app.wait()
            err.seek(0)
            stderr = err.read()
        if code is not None:
            raise SmokeFailure(f"the app exited after less than {seconds} s with {code}:\n{stderr}")
        if BAD_STDERR.search(stderr):
            raise SmokeFailure(f"the app wrote errors:\n{stderr[-3000:]}")
        where = f"Xvfb {env['DISPLAY']}" if xvfb else "the desktop"
        first = stderr.strip().splitlines()[0][:100] if stderr.strip() else "empty"
        return f"ran {seconds:g} s on {where}, no traceback (stderr: {first})"
    finally:
        if xvfb is not None:
            xvfb.send_signal(signal.SIGTERM)
            try:
                xvfb.wait(10)
            except subprocess.TimeoutExpired:
                xvfb.kill()


def smoke(dist: Path, seconds: float = 5.0) -> None:
    exe = executable(dist)
    if not exe.is_file():
        raise SmokeFailure(f"{exe} does not exist: run `python packaging/build.py` first")
    internal = exe.parent / "_internal"
    for forbidden in ("torch", "transformers", "pytest", "hypothesis", "tkinter", "ray"):
        if (internal / forbidden).exists():
            raise SmokeFailure(f"{forbidden} is in the bundle")

    version = run([exe, "--version"]).stdout.strip()
    if version != f"albert-lens {engine_version()}":
        raise SmokeFailure(f"--version printed {version!r}")
    print(f"ok  --version: {version}")

    with tempfile.TemporaryDirectory(prefix="albert-lens-smoke-") as tmp:
        work = Path(tmp)
        home = work / "home"
        model = make_checkpoint(work)
        sample = sample_document(work)
        docs = [sample, *make_documents(work, sample.read_text(encoding="utf-8", errors="replace"))]

        proc = run([exe, "--self-test", model, *docs], env=env_with(home))
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        graphs = list((home / "cache" / "graphs").rglob("*.onnx"))
        if not graphs:
            raise SmokeFailure(f"no cached graph under ALBERT_LENS_HOME={home}: {report}")
        if report["paths"] != pip_engine_paths(home):
            raise SmokeFailure(f"ALBERT_LENS_HOME paths differ from the pip install: {report}")
        plain = json.loads(run([exe, "--self-test", model], env=env_with(None)).stdout
                           .strip().splitlines()[-1])
        if plain["paths"] != pip_engine_paths(None):
            raise SmokeFailure(f"platformdirs paths differ from the pip install: {plain['paths']}")
        print(f"ok  --self-test: documents {report['documents']}, fp32 {report['fp32']}, "
              f"int8 ok, catalog {report['catalog']} models, svg icon, {len(graphs)} cached graphs "
              f"under ALBERT_LENS_HOME; paths equal the pip install's")

        help_text = run([exe, "--help"]).stdout
        if re.search(r"\banalyze\b", help_text):
            cmd = ["analyze", sample, "--task", "ner", "--model", model, "--format", "json",
                   "--device", "cpu"]
            frozen = run([exe, *cmd], env=env_with(home)).stdout
            piped = run([sys.executable, "-m", "app.entry", *cmd], env=env_with(home)).stdout
            if _normalise(json.loads(frozen)) != _normalise(json.loads(piped)):
                raise SmokeFailure(f"frozen analyze differs from the pip install:\n"
                                   f"{frozen[:1500]}\n---\n{piped[:1500]}")
            print(f"ok  analyze {sample.name} --task ner: {len(frozen)} bytes of JSON, "
                  f"identical to the pip install's")
        else:
            print("--  analyze: this CLI has no `analyze` command yet (skipped)")

        print(f"ok  {check_batch(exe, model, docs, work, home)}")
        print(f"ok  window: {check_window(executable(dist, console=False), sample, seconds, home)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the window runs")
    args = parser.parse_args(argv)
    try:
        smoke(args.dist, args.seconds)
    except SmokeFailure as exc:
        print(f"FAIL {exc}")
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
