"""Which files a batch reads: the PATHs given, folders walked recursively, --include/--exclude.

A folder contributes the files the Library would index (a format `engine.load_document` reads,
not hidden, not an editor's temporary file); a file named on the command line is always taken,
whatever its name says (the loader sniffs it, and a row says why it could not be read).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from engine.documents.folders import walk_documents
from engine.errors import AlbertLensError


class BatchInputError(AlbertLensError):
    """A PATH given to `albert-lens batch` that does not exist or cannot be listed."""


@dataclass(frozen=True)
class BatchFile:
    path: str       # absolute
    size: int
    mtime_ns: int


def _matches(path: str, patterns: Iterable[str], root: str | None) -> bool:
    """A glob matches the file name, the path below the PATH it was found under, or the whole
    path ("*.pdf", "drafts/*", "*/old/*"; `*` crosses folders, as fnmatch's does)."""
    name = os.path.basename(path)
    relative = os.path.relpath(path, root) if root else name
    for pattern in patterns:
        if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern) \
                or fnmatch.fnmatch(path, pattern):
            return True
    return False


def collect(paths: Iterable[str], include: Iterable[str] = (),
            exclude: Iterable[str] = ()) -> list[BatchFile]:
    """Every file to analyse, each once, in path order."""
    include, exclude = tuple(include), tuple(exclude)
    found: dict[str, BatchFile] = {}
    for given in paths:
        top = os.path.abspath(os.fspath(given))
        try:
            st = os.stat(top)
        except OSError as exc:
            raise BatchInputError(f"{given}: {exc.strerror or 'cannot be read'}; "
                                  "give files or folders that exist") from exc
        if stat.S_ISDIR(st.st_mode):
            candidates = walk_documents(top)
            root = top
        elif not stat.S_ISREG(st.st_mode):
            raise BatchInputError(f"{given} is not a regular file or a folder")
        else:
            candidates = [(top, st)]
            root = os.path.dirname(top)
        for path, info in candidates:
            if include and not _matches(path, include, root):
                continue
            if exclude and _matches(path, exclude, root):
                continue
            found.setdefault(path, BatchFile(path, info.st_size, info.st_mtime_ns))
    return [found[p] for p in sorted(found)]
