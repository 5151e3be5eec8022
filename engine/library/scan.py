"""Walking the Library's folders and telling what changed since the last update.

The files are those engine.documents.folders calls documents. A known file whose size and
mtime_ns are unchanged is not opened at all; when either differs its sha256 decides (a file
saved again with the same bytes is only touched); a new path whose sha256 is that of a known
path that has gone is a rename, and keeps its index. A file that failed to load is left alone
while it is unchanged, unless the caller asks to retry failures (the cause may have passed: a
permission fixed, a file that was still being written, a reader stopped by a busy machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.documents.folders import walk_documents
from engine.errors import Cancelled
from engine.library.storage import DocumentRow
from engine.runtime.graph_cache import file_digest as file_sha256


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


def walk(folder: str, recursive: bool = True, cancel: Callable[[], bool] | None = None):
    """FileState of every document file under `folder` (engine.documents.folders' rule)."""
    for path, st in walk_documents(folder, recursive, cancel):
        yield FileState(path, st.st_size, st.st_mtime_ns)


def under(path: str, folder: str, recursive: bool = True) -> bool:
    """Whether file `path` is in `folder` (anywhere below it when `recursive`)."""
    parent = os.path.dirname(path)
    if not recursive:
        return parent == folder
    return parent == folder or parent.startswith(folder.rstrip(os.sep) + os.sep)


def plan(folders: list[tuple[str, bool]], known: list[DocumentRow],
         cancel: Callable[[], bool] | None = None,
         hasher: Callable[[str], str] | None = None,
         retry_failed: bool = False) -> ScanPlan:
    """Compare the files under `folders` with the `known` documents. `retry_failed`: a known
    document whose status is "failed" is read again even if unchanged: in `changed` at its
    path, or, renamed since, as `new` at the new path with the old one `deleted`."""
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
        retry = retry_failed and row is not None and row.status == "failed"
        # A file that could not even be hashed (sha256 "") is looked at again every time.
        if not retry and row is not None and row.sha256 and row.size == state.size \
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
        elif row.sha256 == digest and not retry:
            result.touched.append((row, state))
        else:
            result.changed.append((state, digest))
    gone = {row.sha256: row for row in known if row.path not in seen}
    for state, digest in fresh:
        row = gone.get(digest)
        # A failed document to retry is read again under its new path; its old row goes.
        if row is not None and not (retry_failed and row.status == "failed"):
            del gone[digest]
            result.moved.append((row, state))
        else:
            result.new.append((state, digest))
    result.deleted = list(gone.values())
    # Two gone files with the same bytes: only one was kept in `gone` by sha; drop the rest too.
    kept = {row.id for row in result.deleted} | {row.id for row, _ in result.moved}
    result.deleted += [row for row in known if row.path not in seen and row.id not in kept]
    return result
