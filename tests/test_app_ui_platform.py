"""Start-up when Qt's window-system plugin cannot load: one line and exit 1, never SIGABRT."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from app.platform_check import (
    DEBIAN_PACKAGES,
    NO_DISPLAY_MESSAGE,
    missing_libraries,
    missing_message,
    platform_problem,
)

REPO = Path(__file__).resolve().parents[1]
MISSING = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
EXPECTED = ("albert-lens: the Qt window system plugin cannot load: libxcb-icccm.so.4, "
            "libxcb-keysyms.so.1 are missing. Install them with: "
            "sudo apt install libxcb-icccm4 libxcb-keysyms1")


def fake(xcb=MISSING, wayland=None):
    return lambda plugin: {"xcb": xcb, "wayland": wayland}[plugin]


def test_missing_xcb_libraries_give_one_line_with_the_apt_command():
    assert platform_problem({"DISPLAY": ":0"}, "linux", fake()) == EXPECTED
    assert platform_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux",
                            fake()) == EXPECTED
    one = missing_message(["libxcb-cursor.so.0"])
    assert one.endswith("libxcb-cursor.so.0 is missing. Install them with: "
                        "sudo apt install libxcb-cursor0")
    # A library with no known package is still named, without a guessed command.
    assert missing_message(["libfoo.so.9"]) == (
        "albert-lens: the Qt window system plugin cannot load: libfoo.so.9 is missing.")


def test_no_verdict_when_nothing_is_missing_or_qt_is_told_otherwise():
    assert platform_problem({"DISPLAY": ":0"}, "linux", fake(xcb=[])) is None
    for platform in ("offscreen", "minimal", "vnc"):
        assert platform_problem({"QT_QPA_PLATFORM": platform}, "linux", fake()) is None
    assert platform_problem({}, "win32", fake()) is None
    assert platform_problem({}, "darwin", fake()) is None


def test_wayland_session_with_a_working_wayland_plugin_is_not_refused_for_xcb():
    env = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}
    assert platform_problem(env, "linux", fake(wayland=[])) is None
    # Wayland cannot load either: Qt falls back to xcb, which is the plugin that aborts.
    assert platform_problem(env, "linux", fake(wayland=["libwayland-cursor.so.0"])) == EXPECTED


def test_no_display_at_all_is_one_line():
    assert platform_problem({}, "linux", fake()) == NO_DISPLAY_MESSAGE
    assert platform_problem({"QT_QPA_PLATFORM": "xcb"}, "linux", fake()) == NO_DISPLAY_MESSAGE
    assert "\n" not in NO_DISPLAY_MESSAGE


def test_missing_libraries_reads_ldd_not_found_lines():
    output = (
        "\tlinux-vdso.so.1 (0x00007efd50d03000)\n"
        "\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007e)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )
    seen = []
    found = missing_libraries(Path("/x/libqxcb.so"),
                              run=lambda cmd: seen.append(cmd) or output)
    assert found == MISSING
    assert seen == [["ldd", "/x/libqxcb.so"]]


def test_missing_libraries_of_a_complete_system_library_is_empty():
    libc = next((p for p in (Path("/lib/x86_64-linux-gnu/libc.so.6"),
                             Path("/usr/lib/x86_64-linux-gnu/libc.so.6")) if p.is_file()), None)
    if libc is None or sys.platform != "linux":
        import pytest

        pytest.skip("needs a glibc Linux")
    assert missing_libraries(libc) == []


def test_the_app_exits_with_the_line_instead_of_aborting(tmp_path):
    code = (
        "import app.platform_check as pc\n"
        f"pc._plugin_missing = lambda name: {MISSING!r} if name == 'xcb' else None\n"
        "from app.main import main\n"
        "raise SystemExit(main([]))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":97", ALBERT_LENS_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env, cwd=REPO, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == EXPECTED
    assert result.stdout == ""


def test_readme_apt_line_installs_every_package_of_the_xcb_plugin():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"sudo apt install ((?:lib[\w.+-]+ ?)+)", readme)
    assert lines, "README names no apt line for the system libraries"
    listed = set(lines[0].split())
    wanted = {pkg for name, pkg in DEBIAN_PACKAGES.items() if "wayland" not in name}
    assert wanted <= listed, sorted(wanted - listed)
