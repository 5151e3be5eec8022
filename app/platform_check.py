"""Before Qt starts on Linux: can its window-system plugin load at all?

When a library of Qt's xcb plugin is missing, Qt prints a hint that names the wrong package
("xcb-cursor0 is needed") and aborts the process. This check runs first and says, in one line,
which libraries are missing and the apt command that installs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

# Sonames the xcb plugin (libqxcb.so and libQt6XcbQpa) links, and their Debian/Ubuntu packages.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def plugin_path(name: str) -> Path | None:
    """Where Qt's platform plugin `name` (xcb, wayland) is, if this Qt has one."""
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    path = folder / f"libq{name}.so"
    return path if path.is_file() else None


def missing_libraries(library: Path, run: Callable[[list[str]], str] | None = None) -> list[str]:
    """Sonames `library` needs, directly or through its own libraries, that cannot be found."""
    if run is None:
        if shutil.which("ldd") is None:
            return _missing_by_dlopen(DEBIAN_PACKAGES)
        run = _ldd
    try:
        output = run(["ldd", str(library)])
    except (OSError, subprocess.SubprocessError):
        return []  # no verdict: let Qt try
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def _ldd(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=20,
                          check=False).stdout


def _missing_by_dlopen(names: Iterable[str]) -> list[str]:
    import ctypes

    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def install_command(missing: Iterable[str]) -> str:
    packages = list(dict.fromkeys(DEBIAN_PACKAGES[n] for n in missing if n in DEBIAN_PACKAGES))
    return "sudo apt install " + " ".join(packages) if packages else ""


def missing_message(missing: list[str]) -> str:
    """The one line for libraries of the window-system plugin that are not installed."""
    are = "is" if len(missing) == 1 else "are"
    line = (f"albert-lens: the Qt window system plugin cannot load: {', '.join(missing)} {are} "
            "missing.")
    command = install_command(missing)
    if command:
        line += f" Install them with: {command}"
    return line


NO_DISPLAY_MESSAGE = (
    "albert-lens: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). "
    "Start it from a desktop session, or use the command line: albert-lens --help")


def platform_problem(env: Mapping[str, str] | None = None, platform: str | None = None,
                     find_missing: Callable[[str], list[str] | None] | None = None
                     ) -> str | None:
    """A one-line reason why Qt's window system will not start here, or None when it may.

    `find_missing(plugin)` gives the missing libraries of plugin "xcb" or "wayland" (None when
    this Qt has no such plugin).
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    if chosen not in ("", "xcb", "wayland"):
        return None  # offscreen, vnc, eglfs...: not ours to second-guess
    has_x, has_wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    if (chosen == "" and not (has_x or has_wayland)) or (chosen == "xcb" and not has_x) or (
            chosen == "wayland" and not has_wayland):
        return NO_DISPLAY_MESSAGE
    if find_missing is None:
        find_missing = _plugin_missing
    if chosen == "wayland" or (chosen == "" and has_wayland):
        missing = find_missing("wayland")
        if missing == []:
            return None  # Qt prefers Wayland in a Wayland session, and it can load
        if chosen == "wayland" or not has_x:
            return missing_message(missing) if missing else None
    # Qt falls back to xcb (or was told to use it): that is the plugin that aborts.
    missing = find_missing("xcb")
    return missing_message(missing) if missing else None


def _plugin_missing(name: str) -> list[str] | None:
    path = plugin_path(name)
    return None if path is None else missing_libraries(path)


def check_platform() -> None:
    """Exit with one line instead of letting Qt abort, when its window system cannot load."""
    try:
        problem = platform_problem()
    except Exception:  # noqa: BLE001 - the check must never be what stops the app
        return
    if problem:
        print(problem, file=sys.stderr, flush=True)
        raise SystemExit(1)
