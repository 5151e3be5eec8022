"""The Library: folders of documents in one local SQLite index, searched and asked across.

`storage` (the only SQLite code), `scan` (folders and change detection), `indexer` (staged,
resumable updates), `search` (hybrid search, QA across documents), `library` (the `Library`
API the app and `albert-lens library` use), `cli` (the command).
"""

from __future__ import annotations

from engine.library.indexer import UpdateProgress, UpdateReport
from engine.library.library import (
    DocumentInfo,
    EntityInfo,
    FolderInfo,
    Library,
    LibraryStatus,
    PendingStage,
    library_path,
    open_library,
)
from engine.library.search import Hit, LibraryAnswer

__all__ = [
    "DocumentInfo",
    "EntityInfo",
    "FolderInfo",
    "Hit",
    "Library",
    "LibraryAnswer",
    "LibraryStatus",
    "PendingStage",
    "UpdateProgress",
    "UpdateReport",
    "library_path",
    "open_library",
]
