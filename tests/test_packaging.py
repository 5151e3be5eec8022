"""Packaging: the PyInstaller spec, the installer recipes, the CI workflow, the desktop entry.

Fast checks only, except `test_frozen_build_smoke`, which builds the frozen app and its
installers and runs packaging/smoke_test.py on them: it runs only with ALBERT_LENS_SMOKE=1 (and
PyInstaller installed), because it takes minutes.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "albert-lens.spec"
WORKFLOW = ROOT / ".github" / "workflows" / "installers.yml"
ISS = PACKAGING / "windows" / "albert-lens.iss"
DESKTOP = ROOT / "resources" / "albert-lens.desktop"
ICONS = ROOT / "resources" / "icons"



def _load(name: str):
    """A packaging/ script as a module (by path: `build` is also the name of a PyPI package)."""
    spec = importlib.util.spec_from_file_location(f"albert_lens_packaging_{name}",
                                                  PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("build")
icons = _load("icons")


def _spec_list(name: str) -> list[str]:
    """The string items of a top-level list assignment in the spec (without running it)."""
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return [e.value for e in node.value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    raise AssertionError(f"{name} not found in the spec")


def test_spec_parses_and_keeps_dev_and_gpu_stacks_out():
    excludes = set(_spec_list("EXCLUDES"))
    for name in ("torch", "transformers", "tokenizers", "pytest", "hypothesis", "IPython",
                 "tkinter", "sympy", "ray"):
        assert name in excludes, name
    # albert-lens batch writes Parquet in the bundle too, and the Library is SQLite.
    assert not {"pyarrow", "pyarrow.parquet", "pyarrow.lib", "sqlite3", "_sqlite3"} & excludes
    # int8 needs onnxruntime.quantization, which imports these: they must not be excluded.
    for needed in ("onnx", "onnx.reference", "onnxruntime", "onnxruntime.quantization",
                   "onnxruntime.transformers"):
        assert needed not in excludes, needed
    heavy_qt = set(_spec_list("HEAVY_QT"))
    assert {"QtWebEngineCore", "QtQuick", "QtQml", "Qt3DCore", "QtMultimedia"} <= heavy_qt
    text = SPEC.read_text(encoding="utf-8")
    assert "packaging\" / \"entry.py\"" in text or "packaging/entry.py" in text
    assert '"resources"' in text and "COLLECT(" in text
    assert "cudnn" in text and "libcudart" not in _spec_list("HIDDEN")


def test_spec_hidden_imports_exist():
    """Every module the spec forces in can be found in this environment (no stale names)."""
    for name in _spec_list("HIDDEN"):
        top = name.split(".")[0]
        assert importlib.util.find_spec(top) is not None, name


def test_entry_point_runs_the_cli():
    proc = subprocess.run([sys.executable, str(PACKAGING / "entry.py"), "--version"], check=False,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    import engine

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"albert-lens {engine.__version__}"


@pytest.mark.parametrize("script", ["build.py", "smoke_test.py", "icons.py"])
def test_scripts_have_help(script):
    proc = subprocess.run([sys.executable, str(PACKAGING / script), "--help"], check=False,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
    if script == "build.py":
        for flag in ("--smoke", "--flavour", "--bundle-only"):
            assert flag in proc.stdout


def test_desktop_entry():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(DESKTOP, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Albert Lens"
    assert entry["Exec"].split()[0] == "albert-lens"
    assert entry["Icon"] == "albert-lens"
    assert "application/pdf" in entry["MimeType"]
    validator = shutil.which("desktop-file-validate")
    if validator:
        proc = subprocess.run([validator, str(DESKTOP)], check=False, capture_output=True,
                              text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_icons_are_there_and_convert():
    for name, size in (("albert-lens.png", 256), ("albert-lens-512.png", 512)):
        data = (ICONS / name).read_bytes()
        assert struct.unpack(">II", data[16:24]) == (size, size)
    assert "<svg" in (ICONS / "albert-lens.svg").read_text(encoding="utf-8")


def test_ico_and_icns_containers(tmp_path):
    out = icons.write_platform_icons(tmp_path)
    ico = out["ico"].read_bytes()
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, 1)
    size, offset = struct.unpack("<II", ico[14:22])
    assert ico[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + size == len(ico)
    icns = out["icns"].read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    assert b"ic08" in icns and b"ic09" in icns


def test_workflow_builds_three_systems_in_both_flavours():
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers
    matrix = data["jobs"]["build"]["strategy"]["matrix"]["include"]
    combos = {(m["os"].split("-")[0], m["flavour"]) for m in matrix}
    assert combos == {("ubuntu", "default"), ("ubuntu", "cuda"), ("windows", "default"),
                      ("windows", "cuda"), ("macos", "default")}
    wheels = {(m["os"].split("-")[0], m["flavour"]): m["ort"] for m in matrix}
    assert wheels[("ubuntu", "cuda")] == wheels[("windows", "cuda")] == "onnxruntime-gpu"
    assert wheels[("windows", "default")] == "onnxruntime-directml"
    assert wheels[("macos", "default")] == wheels[("ubuntu", "default")] == "onnxruntime"
    steps = " ".join(str(s.get("run", "")) + str(s.get("uses", ""))
                     for s in data["jobs"]["build"]["steps"])
    assert "packaging/build.py" in steps and "packaging/smoke_test.py" in steps
    assert "upload-artifact" in steps and "3.11" in WORKFLOW.read_text(encoding="utf-8")


def test_inno_setup_script_has_start_menu_and_uninstaller():
    text = ISS.read_text(encoding="utf-8")
    sections = {line.strip() for line in text.splitlines() if line.strip().startswith("[")}
    assert {"[Setup]", "[Files]", "[Icons]", "[Run]"} <= sections
    icons_section = text.split("[Icons]", 1)[1].split("\n[", 1)[0]
    assert '"{group}\\Albert Lens"' in icons_section
    assert "{uninstallexe}" in icons_section
    assert "Uninstallable=yes" in text and "AppId=" in text
    assert "{#SourceDir}\\*" in text and "recursesubdirs" in text


def test_macos_dmg_recipe():
    script = (PACKAGING / "macos" / "make_dmg.sh").read_text(encoding="utf-8")
    assert "hdiutil create" in script and "/Applications" in script
    assert "BUNDLE(" in SPEC.read_text(encoding="utf-8")


def _fake_bundle(dist: Path) -> Path:
    bundle = dist / "albert-lens"
    (bundle / "_internal").mkdir(parents=True)
    exe = bundle / "albert-lens"
    exe.write_text("#!/bin/sh\necho albert-lens 0\n", encoding="utf-8")
    exe.chmod(0o755)
    (bundle / "_internal" / "data.txt").write_text("x", encoding="utf-8")
    return bundle


def test_tarball_layout(tmp_path):
    bundle = _fake_bundle(tmp_path)
    out = build.make_tarball(bundle, tmp_path, "9.8.7", "default")
    assert out.name == "albert-lens-9.8.7-linux-x86_64.tar.gz"
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = "albert-lens-9.8.7-linux-x86_64"
    for name in ("albert-lens", "_internal/data.txt", "albert-lens.desktop", "albert-lens.png",
                 "albert-lens.svg", "INSTALL.txt", "install-desktop-entry.sh"):
        assert f"{top}/{name}" in members, name
    assert members[f"{top}/albert-lens"].mode & 0o111
    assert members[f"{top}/install-desktop-entry.sh"].mode & 0o111
    assert members[f"{top}/albert-lens"].uid == 0


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")
def test_deb_layout(tmp_path):
    bundle = _fake_bundle(tmp_path)
    out = build.make_deb(bundle, tmp_path, tmp_path / "work", "9.8.7", "default")
    assert out.name == "albert-lens_9.8.7_amd64.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(out)], capture_output=True, text=True,
                             check=True).stdout
    assert "./opt/albert-lens/albert-lens" in listing
    assert "./usr/bin/albert-lens -> /opt/albert-lens/albert-lens" in listing
    assert "./usr/share/applications/albert-lens.desktop" in listing
    assert "./usr/share/icons/hicolor/scalable/apps/albert-lens.svg" in listing
    assert "./usr/share/icons/hicolor/256x256/apps/albert-lens.png" in listing
    info = subprocess.run(["dpkg-deb", "-I", str(out)], capture_output=True, text=True,
                          check=True).stdout
    assert "Package: albert-lens" in info and "Architecture: amd64" in info
    for lib in ("libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libgl1", "libfontconfig1"):
        assert lib in info
    for script in ("postinst", "postrm"):
        text = subprocess.run(["dpkg-deb", "-I", str(out), script], capture_output=True,
                              text=True, check=True).stdout
        assert "update-desktop-database" in text
    assert "rm -rf /opt/albert-lens" in subprocess.run(
        ["dpkg-deb", "-I", str(out), "postrm"], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(os.environ.get("ALBERT_LENS_SMOKE") != "1",
                    reason="slow: set ALBERT_LENS_SMOKE=1 to build and smoke-test the frozen app")
@pytest.mark.timeout(1800)
def test_frozen_build_smoke():
    pytest.importorskip("PyInstaller")
    proc = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--smoke"], cwd=ROOT,
                          check=False, capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "smoke test passed" in proc.stdout
