"""Walking the Library's folders and telling what changed since the last update.

A file is a candidate when the engine reads its format (the extensions of
`engine.documents.sniff.EXTENSIONS`) and it is neither hidden nor a temporary file (editors'
lock and backup files, partial downloads). A known file whose size and mtime_ns are unchanged is
not opened at all; when either differs its sha256 decides (a file saved again with the same
bytes is only touched); a new path whose sha256 is that of a known path that has gone is a
rename, and keeps its index.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.documents.sniff import EXTENSIONS
from engine.errors import Cancelled
from engine.library.storage import DocumentRow

# Editors' and downloaders' leftovers: never documents.
_TEMP_PREFIXES = ("~$", ".~lock.", "#")
_TEMP_SUFFIXES = ("~", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".swo",
                  ".bak", "#")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileState:
    path: str
    size: int
    mtime_ns: int


@dataclass
class ScanPlan:
    """What an update has to do. `unchanged` files are not opened."""

    new: list[tuple[FileState, str]] = field(default_factory=list)       # (file, sha256)
    changed: list[tuple[FileState, str]] = field(default_factory=list)
    touched: list[tuple[DocumentRow, FileState]] = field(default_factory=list)
    moved: list[tuple[DocumentRow, FileState]] = field(default_factory=list)
    deleted: list[DocumentRow] = field(default_factory=list)
    unchanged: int = 0
    unreadable: list[tuple[FileState, str]] = field(default_factory=list)  # (file, reason)

    @property
    def to_index(self) -> list[tuple[FileState, str]]:
        return self.new + self.changed


def is_candidate(name: str) -> bool:
    """A file name the Library indexes: a readable format, not hidden, not temporary."""
    if name.startswith(".") or name.startswith(_TEMP_PREFIXES) or name.endswith(_TEMP_SUFFIXES):
        return False
    return Path(name).suffix.lower() in EXTENSIONS


def walk(folder: str, recursive: bool = True, cancel: Callable[[], bool] | None = None):
    """FileState of every candidate file under `folder` (hidden folders skipped, symlinked
    folders not followed: a link loop cannot make a walk endless)."""
    stack = [folder]
    while stack:
        current = stack.pop()
        if cancel is not None and cancel():
            raise Cancelled("The update was cancelled.")
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # gone or unreadable since it was listed
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and not entry.name.startswith("."):
                        stack.append(entry.path)
                    continue
                if not is_candidate(entry.name):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield FileState(os.path.abspath(entry.path), st.st_size, st.st_mtime_ns)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def under(path: str, folder: str, recursive: bool = True) -> bool:
    """Whether file `path` is in `folder` (anywhere below it when `recursive`)."""
    parent = os.path.dirname(path)
    if not recursive:
        return parent == folder
    return parent == folder or parent.startswith(folder.rstrip(os.sep) + os.sep)


def plan(folders: list[tuple[str, bool]], known: list[DocumentRow],
         cancel: Callable[[], bool] | None = None,
         hasher: Callable[[str], str] | None = None) -> ScanPlan:
    """Compare the files under `folders` with the `known` documents."""
    hasher = hasher or file_sha256
    result = ScanPlan()
    by_path = {row.path: row for row in known}
    seen: dict[str, FileState] = {}
    for folder, recursive in folders:
        for state in walk(folder, recursive, cancel):
            seen.setdefault(state.path, state)
    fresh: list[tuple[FileState, str]] = []
    for path, state in seen.items():
        row = by_path.get(path)
        # A file that could not even be hashed (sha256 "") is looked at again every time.
        if row is not None and row.sha256 and row.size == state.size \
                and row.mtime_ns == state.mtime_ns:
            result.unchanged += 1
            continue
        if cancel is not None and cancel():
            raise Cancelled("The update was cancelled.")
        try:
            digest = hasher(path)
        except OSError as exc:
            result.unreadable.append((state, exc.strerror or str(exc)))
            continue
        if row is None:
            fresh.append((state, digest))
        elif row.sha256 == digest:
            result.touched.append((row, state))
        else:
            result.changed.append((state, digest))
    gone = {row.sha256: row for row in known if row.path not in seen}
    for state, digest in fresh:
        row = gone.pop(digest, None)
        if row is not None:
            result.moved.append((row, state))
        else:
            result.new.append((state, digest))
    result.deleted = list(gone.values())
    # Two gone files with the same bytes: only one was kept in `gone` by sha; drop the rest too.
    kept = {row.id for row in result.deleted} | {row.id for row, _ in result.moved}
    result.deleted += [row for row in known if row.path not in seen and row.id not in kept]
    return result
