"""Watching the Library's folders while the app runs: one debounced signal for any change."""

from __future__ import annotations

import os

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

# Saving a file is several events (temporary file, rename, attributes); one rescan after they
# settle, not one per event.
DEBOUNCE_MS = 800
# inotify allows each user a limited number of watches (8,192 on older kernels), shared with
# every other program; a huge tree is still rescanned at start-up and on Update.
MAX_WATCHED = 4000


def folders_to_watch(folders: list[tuple[str, bool]], limit: int = MAX_WATCHED) -> list[str]:
    """Each library folder and, for a recursive one, its subfolders (hidden ones and symlinked
    ones skipped, as the library's scan skips them), at most `limit`. Reads the disk: call it
    off the UI thread."""
    out: list[str] = []
    for folder, recursive in folders:
        stack = [folder]
        while stack and len(out) < limit:
            current = stack.pop()
            out.append(current)
            if not recursive:
                continue
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in sorted(entries, key=lambda e: e.name, reverse=True):
                try:
                    if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                        stack.append(entry.path)
                except OSError:
                    continue
    return list(dict.fromkeys(out))[:limit]


class FolderWatcher(QObject):
    """`changed` fires once, DEBOUNCE_MS after the last change in a watched folder."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._poke)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.changed.emit)

    def watch(self, folders: list[str]) -> None:
        """Watch exactly `folders` from now on."""
        current = set(self._watcher.directories())
        wanted = [f for f in folders if os.path.isdir(f)]
        gone = [f for f in current if f not in set(wanted)]
        if gone:
            self._watcher.removePaths(gone)
        new = [f for f in wanted if f not in current]
        if new:
            self._watcher.addPaths(new)

    def watched(self) -> list[str]:
        return sorted(self._watcher.directories())

    def _poke(self, _path: str) -> None:
        self._timer.start()
