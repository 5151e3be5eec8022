"""Which files of a folder are documents, and walking folders for them: one rule for the
Library and for batch runs, so both see the same documents in the same folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

from engine.documents.sniff import EXTENSIONS
from engine.errors import Cancelled

# Editors' and downloaders' leftovers: never documents.
TEMP_PREFIXES = ("~$", ".~lock.", "#")
TEMP_SUFFIXES = ("~", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".swo",
                 ".bak", "#")


def is_document_name(name: str) -> bool:
    """A file name a folder contributes: a readable format, not hidden, not temporary."""
    if name.startswith(".") or name.startswith(TEMP_PREFIXES) or name.endswith(TEMP_SUFFIXES):
        return False
    return os.path.splitext(name)[1].lower() in EXTENSIONS


def walk_documents(folder: str, recursive: bool = True,
                   cancel: Callable[[], bool] | None = None,
                   ) -> Iterator[tuple[str, os.stat_result]]:
    """(absolute path, stat) of every document file under `folder`, in name order per folder;
    hidden folders are skipped and symlinked folders not followed (a link loop cannot make a
    walk endless); a folder that vanishes or cannot be read meanwhile is skipped."""
    stack = [folder]
    while stack:
        current = stack.pop()
        if cancel is not None and cancel():
            raise Cancelled("The update was cancelled.")
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and not entry.name.startswith("."):
                        stack.append(entry.path)
                    continue
                if not is_document_name(entry.name):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield os.path.abspath(entry.path), st
