"""Build the frozen Albert Lens and its installers for the platform this runs on.

    python packaging/build.py [--smoke] [--flavour default|cuda] [--bundle-only]

Linux:   dist/albert-lens/ (executable dist/albert-lens/albert-lens),
         dist/albert-lens-<version>-linux-x86_64[-cuda].tar.gz   (bundle + .desktop + icon + INSTALL)
         dist/albert-lens_<version>_amd64.deb  (dist/albert-lens-cuda_<version>_amd64.deb for cuda)
Windows: dist/albert-lens/ and, when Inno Setup's iscc is on PATH,
         dist/albert-lens-<version>-windows-x86_64[-cuda]-setup.exe
macOS:   dist/albert-lens/, dist/Albert Lens.app and dist/albert-lens-<version>-macos-<arch>.dmg

Run it with the project's virtualenv (`pip install -e .` plus `pip install pyinstaller`); the
flavour is whichever onnxruntime wheel is installed there (onnxruntime, onnxruntime-gpu or
onnxruntime-directml); --flavour only names the outputs. --smoke runs packaging/smoke_test.py on
the result (needs the dev extras: `pip install -e '.[dev]'`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "albert-lens.spec"
RESOURCES = ROOT / "resources"
APP = "albert-lens"
MAX_LINUX_BUNDLE_MB = 450

# What the .deb needs from the system: the libraries Qt's xcb and wayland platform plugins and
# Qt's OpenGL/EGL paths load from the host (PyInstaller bundles the rest), fonts via fontconfig,
# and D-Bus for the desktop portal. Found with ldd over the bundle (see packaging/README.md).
DEB_DEPENDS = [
    "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libdbus-1-3",
    "libx11-6", "libx11-xcb1", "libxcb1", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-shm0",
    "libxcb-sync1", "libxcb-xfixes0", "libxcb-xkb1", "libxkbcommon0", "libxkbcommon-x11-0",
    "libwayland-client0", "libwayland-cursor0", "libwayland-egl1",
]
DEB_RECOMMENDS = ["fonts-dejavu-core", "xdg-desktop-portal"]

MAINTAINER = "Albert Lens developers <albert-lens@users.noreply.github.com>"
SUMMARY = "Read documents with a local ALBERT engine"
DESCRIPTION = """\
 Albert Lens opens a document (text, Markdown, HTML, PDF, Word, EPUB) and shows its named
 entities, answers questions with the answer marked in the text, makes an extractive summary
 and follows the sentiment through the document. Everything runs on this machine with ONNX
 Runtime; nothing leaves it except a model download the user asks for."""


# --- helpers -------------------------------------------------------------------------------------

def version() -> str:
    text = (ROOT / "engine" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


def tree_size(path: Path) -> int:
    """Bytes of the regular files under `path` (what `du --apparent-size` says)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def machine() -> str:
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(arch, arch)


# --- the bundle ----------------------------------------------------------------------------------

def run_pyinstaller(dist: Path, work: Path, clean: bool) -> Path:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    if clean:
        cmd.insert(3, "--clean")
    step("PyInstaller: " + " ".join(cmd[2:]))
    subprocess.run(cmd, check=True, cwd=ROOT)
    bundle = dist / APP
    exe = bundle / (f"{APP}.exe" if sys.platform == "win32" else APP)
    if not exe.is_file():
        raise SystemExit(f"PyInstaller made no {exe}")
    return bundle


def check_bundle(bundle: Path, flavour: str) -> int:
    internal = bundle / "_internal"
    for forbidden in ("torch", "transformers", "tokenizers", "pytest", "_pytest", "hypothesis",
                      "tkinter", "IPython", "sympy", "PIL", "ray"):
        if (internal / forbidden).exists():
            raise SystemExit(f"{forbidden} ended up in the bundle: fix packaging/albert-lens.spec")
    cuda = [p.name for p in internal.rglob("*") if re.match(r"lib(cudart|cublas|cudnn)", p.name)]
    if cuda:
        raise SystemExit(f"CUDA libraries ended up in the bundle: {cuda}")
    size = tree_size(bundle)
    if sys.platform.startswith("linux") and flavour == "default" and size > MAX_LINUX_BUNDLE_MB * 1e6:
        raise SystemExit(f"the bundle is {mb(size)}, over the {MAX_LINUX_BUNDLE_MB} MB budget")
    return size


# --- Linux ---------------------------------------------------------------------------------------

INSTALL_NOTE = """\
Albert Lens {version} for Linux (x86_64){flavour_note}
=====================================

No Python needed: everything the program uses is in this folder.

Run it:
    ./albert-lens                 opens the app
    ./albert-lens FILE.pdf        opens a document
    ./albert-lens --help          the command line (analyze, models, ...)

Add it to your applications menu (for you only; no root needed):
    ./install-desktop-entry.sh
and remove that entry again with:
    ./install-desktop-entry.sh --remove

Models, caches and settings live in your user folders (~/.local/share/albert-lens,
~/.cache/albert-lens, ~/.config/albert-lens), or under $ALBERT_LENS_HOME when it is set.
Deleting this folder uninstalls the program; those folders keep your models.

The app needs the usual desktop libraries (X11 or Wayland, OpenGL/EGL, fontconfig). On
Debian/Ubuntu, if the window does not open:
    sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libegl1 libgl1
(or install the .deb instead, which pulls them in).
"""

DESKTOP_ENTRY_SCRIPT = """\
#!/bin/sh
# Adds (or with --remove, removes) an Albert Lens entry in this user's applications menu.
set -e
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor"
if [ "$1" = "--remove" ]; then
    rm -f "$apps/albert-lens.desktop" "$icons/256x256/apps/albert-lens.png" \\
          "$icons/scalable/apps/albert-lens.svg"
    echo "removed the Albert Lens menu entry"
else
    mkdir -p "$apps" "$icons/256x256/apps" "$icons/scalable/apps"
    cp "$here/albert-lens.png" "$icons/256x256/apps/albert-lens.png"
    cp "$here/albert-lens.svg" "$icons/scalable/apps/albert-lens.svg"
    sed -e "s|^Exec=albert-lens|Exec=\\"$here/albert-lens\\"|" \\
        -e "s|^TryExec=albert-lens|TryExec=$here/albert-lens|" \\
        "$here/albert-lens.desktop" > "$apps/albert-lens.desktop"
    echo "added Albert Lens to the applications menu ($apps/albert-lens.desktop)"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
"""


def _tar_filter(mtime: int):
    def f(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = mtime
        if info.isfile() or info.isdir():
            info.mode = 0o755 if (info.isdir() or info.mode & 0o111) else 0o644
        return info
    return f


def make_tarball(bundle: Path, dist: Path, ver: str, flavour: str) -> Path:
    suffix = "" if flavour == "default" else f"-{flavour}"
    name = f"{APP}-{ver}-linux-x86_64{suffix}"
    out = dist / f"{name}.tar.gz"
    step(f"tar.gz: {out.name}")
    extra = dist / "_tar_extra"
    shutil.rmtree(extra, ignore_errors=True)
    extra.mkdir()
    shutil.copy2(RESOURCES / "albert-lens.desktop", extra / "albert-lens.desktop")
    shutil.copy2(RESOURCES / "icons" / "albert-lens.png", extra / "albert-lens.png")
    shutil.copy2(RESOURCES / "icons" / "albert-lens.svg", extra / "albert-lens.svg")
    note = INSTALL_NOTE.format(
        version=ver, flavour_note="" if flavour == "default" else f", {flavour} flavour"
    )
    if flavour == "cuda":
        note += ("\nThis is the NVIDIA flavour: it uses the GPU when the NVIDIA driver, CUDA 12 and "
                 "cuDNN 9\nlibraries are installed, and the CPU otherwise (the app says why).\n")
    (extra / "INSTALL.txt").write_text(note, encoding="utf-8")
    script = extra / "install-desktop-entry.sh"
    script.write_text(DESKTOP_ENTRY_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=name, filter=_tar_filter(mtime))
        for f in sorted(extra.iterdir()):
            tar.add(f, arcname=f"{name}/{f.name}", filter=_tar_filter(mtime))
    shutil.rmtree(extra)
    return out


def glibc_needed(bundle: Path) -> str | None:
    """The newest GLIBC_x.y symbol version any bundled library asks for (objdump), if known."""
    if shutil.which("objdump") is None:
        return None
    best = (0,)
    for path in bundle.rglob("*"):
        if not path.is_file() or not (".so" in path.name or path.name == APP):
            continue
        out = subprocess.run(["objdump", "-T", str(path)], check=False, capture_output=True,
                             text=True).stdout
        for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out):
            best = max(best, tuple(int(x) for x in v.split(".")))
    return ".".join(map(str, best)) if best != (0,) else None


def unresolved_libraries(bundle: Path) -> dict[str, list[str]]:
    """Libraries the bundle loads from the system that this machine lacks (ldd "not found").

    Anything listed here must be in DEB_DEPENDS (and installed on the build machine for the smoke
    test); PyInstaller bundles every library it can resolve, so these are the host's to provide.
    """
    if shutil.which("ldd") is None:
        return {}
    internal = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}")
    missing: dict[str, list[str]] = {}
    for path in sorted(internal.rglob("*.so*")):
        if not path.is_file() or path.is_symlink():
            continue
        out = subprocess.run(["ldd", str(path)], check=False, capture_output=True, text=True,
                             env=env).stdout
        for lib in re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE):
            missing.setdefault(lib, []).append(path.name)
    return missing


POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q /usr/share/applications || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
    fi
fi
exit 0
"""

POSTRM = """\
#!/bin/sh
set -e
case "$1" in
    remove|purge)
        # Python may have left byte-code caches behind; the package owns the folder.
        rm -rf /opt/albert-lens
        if command -v update-desktop-database >/dev/null 2>&1; then
            update-desktop-database -q /usr/share/applications || true
        fi
        if command -v gtk-update-icon-cache >/dev/null 2>&1; then
            gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
        fi
        ;;
esac
exit 0
"""

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: albert-lens
Comment: The program is licensed under Apache-2.0. /opt/albert-lens/_internal holds the Python
 runtime and the third-party libraries it runs on (Qt for Python under LGPLv3, ONNX Runtime,
 NumPy, sentencepiece, PDFium, lxml and others), each under its own licence; their licence
 files are kept in the *.dist-info folders there.

Files: *
Copyright: Albert Lens developers
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
"""


def make_deb(bundle: Path, dist: Path, work: Path, ver: str, flavour: str) -> Path:
    if shutil.which("dpkg-deb") is None:
        raise SystemExit("dpkg-deb not found (apt install dpkg-dev), or pass --bundle-only")
    package = APP if flavour == "default" else f"{APP}-{flavour}"
    out = dist / f"{package}_{ver}_amd64.deb"
    step(f".deb: {out.name}")
    root = work / "deb" / package
    shutil.rmtree(root, ignore_errors=True)
    opt = root / "opt" / APP
    shutil.copytree(bundle, opt, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / APP).symlink_to(f"/opt/{APP}/{APP}")
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy2(RESOURCES / "albert-lens.desktop", apps / "albert-lens.desktop")
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for sub, src in (("scalable/apps", "albert-lens.svg"), ("256x256/apps", "albert-lens.png"),
                     ("512x512/apps", "albert-lens-512.png")):
        (hicolor / sub).mkdir(parents=True)
        shutil.copy2(RESOURCES / "icons" / src, hicolor / sub / ("albert-lens" + Path(src).suffix))
    doc = root / "usr" / "share" / "doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")

    for path in root.rglob("*"):  # normal permissions whatever the umask of the build was
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)

    control_dir = root / "DEBIAN"
    control_dir.mkdir()
    md5 = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith("DEBIAN/"):
            md5.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel}")
    (control_dir / "md5sums").write_text("\n".join(md5) + "\n", encoding="utf-8")
    depends = list(DEB_DEPENDS)
    glibc = glibc_needed(bundle)
    depends.insert(0, f"libc6 (>= {glibc})" if glibc else "libc6")
    installed_kb = (tree_size(root) + 1023) // 1024
    conflicts = [APP, f"{APP}-cuda"]
    conflicts.remove(package)
    control = [
        f"Package: {package}",
        f"Version: {ver}",
        "Architecture: amd64",
        f"Maintainer: {MAINTAINER}",
        f"Installed-Size: {installed_kb}",
        f"Depends: {', '.join(depends)}",
        f"Recommends: {', '.join(DEB_RECOMMENDS)}",
        f"Conflicts: {', '.join(conflicts)}",
        "Section: text",
        "Priority: optional",
        f"Description: {SUMMARY}" + (" (NVIDIA CUDA flavour)" if flavour == "cuda" else ""),
        DESCRIPTION,
    ]
    (control_dir / "control").write_text("\n".join(control) + "\n", encoding="utf-8")
    for name, text in (("postinst", POSTINST), ("postrm", POSTRM)):
        script = control_dir / name
        script.write_text(text, encoding="utf-8")
        script.chmod(0o755)
    out.unlink(missing_ok=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(root)
    return out


# --- Windows and macOS ---------------------------------------------------------------------------

def make_windows_installer(dist: Path, ver: str, flavour: str) -> Path | None:
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    default = Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)")) / "Inno Setup 6"
    if iscc is None and (default / "ISCC.exe").is_file():
        iscc = str(default / "ISCC.exe")
    if iscc is None:
        print("(Inno Setup's iscc not found: no Windows installer)")
        return None
    suffix = "" if flavour == "default" else f"-{flavour}"
    base = f"{APP}-{ver}-windows-x86_64{suffix}-setup"
    step(f"Inno Setup: {base}.exe")
    subprocess.run([iscc, f"/DAppVersion={ver}", f"/DFlavour={flavour}", f"/DOutputBase={base}",
                    f"/DSourceDir={dist / APP}", f"/DOutputDir={dist}",
                    f"/DIconFile={ROOT / 'build' / 'icons' / 'albert-lens.ico'}",
                    str(PACKAGING / "windows" / "albert-lens.iss")], check=True)
    return dist / f"{base}.exe"


def make_dmg(dist: Path, ver: str, flavour: str) -> Path:
    app = dist / "Albert Lens.app"
    if not app.is_dir():
        raise SystemExit(f"PyInstaller made no {app}")
    suffix = "" if flavour == "default" else f"-{flavour}"
    out = dist / f"{APP}-{ver}-macos-{machine()}{suffix}.dmg"
    step(f"dmg: {out.name}")
    subprocess.run(["sh", str(PACKAGING / "macos" / "make_dmg.sh"), str(app), str(out), ver],
                   check=True)
    return out


# --- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the frozen Albert Lens (dist/albert-lens/) and its installers.",
        epilog="Outputs land in dist/; see the module docstring for their names.",
    )
    parser.add_argument("--flavour", choices=("default", "cuda"), default="default",
                        help="names the outputs; the installed onnxruntime wheel decides the "
                             "contents (default: %(default)s)")
    parser.add_argument("--bundle-only", action="store_true",
                        help="only dist/albert-lens/, no .tar.gz/.deb/setup.exe/.dmg")
    parser.add_argument("--skip-pyinstaller", action="store_true",
                        help="reuse the existing dist/albert-lens/ (installers only)")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--smoke", action="store_true",
                        help="run packaging/smoke_test.py on the result (needs the dev extras)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="default: dist/")
    args = parser.parse_args(argv)

    ver = version()
    dist = args.dist.resolve()
    work = ROOT / "build"
    started = time.monotonic()
    if args.skip_pyinstaller:
        bundle = dist / APP
    else:
        bundle = run_pyinstaller(dist, work / "pyinstaller", args.clean)
    size = check_bundle(bundle, args.flavour)

    if sys.platform.startswith("linux"):
        for lib, users in unresolved_libraries(bundle).items():
            print(f"warning: {lib} (needed by {', '.join(users[:3])}) is not on this machine: "
                  "install it, and make sure DEB_DEPENDS covers it")

    outputs: list[Path] = []
    if not args.bundle_only:
        if sys.platform.startswith("linux"):
            outputs.append(make_tarball(bundle, dist, ver, args.flavour))
            outputs.append(make_deb(bundle, dist, work, ver, args.flavour))
        elif sys.platform == "win32":
            setup = make_windows_installer(dist, ver, args.flavour)
            outputs += [setup] if setup else []
        elif sys.platform == "darwin":
            outputs.append(make_dmg(dist, ver, args.flavour))

    print(f"\nAlbert Lens {ver} ({args.flavour} flavour), built in {time.monotonic() - started:.0f} s")
    print(f"  {bundle}/  {mb(size)} unpacked")
    for out in outputs:
        print(f"  {out}  {mb(out.stat().st_size)}")

    if args.smoke:
        step("smoke test")
        sys.path.insert(0, str(PACKAGING))
        import smoke_test

        return smoke_test.main(["--dist", str(dist)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
