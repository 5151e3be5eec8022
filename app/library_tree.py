"""The Library's folders and their documents, each with its status, as a tree.

Kept up to date in place (rows changed, added or removed, never the whole tree rebuilt): the
listing is read again every second or so while an update runs, and a library has thousands of
documents.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.library_model import Listing
from app.text_format import as_rich_text
from engine.library import DocumentInfo, FolderInfo

PATH_ROLE = Qt.ItemDataRole.UserRole
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 1  # the whole status: stages, or why it failed
IN_PROGRESS = "in progress"


def document_status(doc: DocumentInfo) -> str:
    """"indexed (keywords, meaning)", "failed: <the loader's reason>"."""
    if doc.status == "failed":
        return f"failed: {doc.error or 'unknown reason'}"
    done = ["keywords"]
    if doc.stages.get("embeddings"):
        done.append("meaning")
    if doc.stages.get("entities"):
        done.append("entities")
    return f"{doc.status} ({', '.join(done)})"


def folder_counts(folder: FolderInfo) -> str:
    failed = f", {folder.failed:,} failed" if folder.failed else ""
    return f"{folder.indexed:,} indexed{failed}"


def under(path: str, folder: str, recursive: bool) -> bool:
    parent = os.path.dirname(path)
    return parent == folder or (recursive and parent.startswith(folder.rstrip(os.sep) + os.sep))


def _set(item: QTreeWidgetItem, column: int, text: str) -> None:
    if item.text(column) != text:
        item.setText(column, text)


class FolderTree(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Folders and documents")
        self.setHeaderLabels(["Document", "Status"])
        self.setUniformRowHeights(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._folders: dict[str, QTreeWidgetItem] = {}
        self._documents: dict[str, dict[str, QTreeWidgetItem]] = {}  # folder -> path -> row

    def show_listing(self, listing: Listing, in_hand: str | None) -> None:
        wanted = {f.path for f in listing.folders}
        for path in [p for p in self._folders if p not in wanted]:
            self.takeTopLevelItem(self.indexOfTopLevelItem(self._folders.pop(path)))
            self._documents.pop(path, None)
        for folder in listing.folders:
            top = self._folders.get(folder.path)
            if top is None:
                top = QTreeWidgetItem(self)
                top.setData(0, PATH_ROLE, folder.path)
                top.setToolTip(0, as_rich_text(folder.path))
                self._folders[folder.path] = top
                self._documents[folder.path] = {}
                top.setExpanded(True)
            _set(top, 0, f"{Path(folder.path).name or folder.path} ({folder.documents:,})")
            _set(top, 1, folder_counts(folder))
            top.setData(0, DETAIL_ROLE, f"{folder.path}, {folder.documents:,} documents, "
                        f"{folder_counts(folder)}")
            rows = [(d.path, d.title, IN_PROGRESS if d.path == in_hand else document_status(d))
                    for d in listing.documents if under(d.path, folder.path, folder.recursive)]
            if in_hand is not None and under(in_hand, folder.path, folder.recursive) and \
                    all(p != in_hand for p, _, _ in rows):
                rows.append((in_hand, None, IN_PROGRESS))
            self._fill(top, folder.path, rows)

    def _fill(self, top: QTreeWidgetItem, folder: str,
              rows: list[tuple[str, str | None, str]]) -> None:
        items = self._documents[folder]
        keep = {path for path, _, _ in rows}
        for path in [p for p in items if p not in keep]:
            top.removeChild(items.pop(path))
        added = False
        for path, title, state in rows:
            item = items.get(path)
            if item is None:
                item = QTreeWidgetItem(top)
                item.setData(0, PATH_ROLE, path)
                item.setToolTip(0, as_rich_text(path))
                items[path] = item
                added = True
            name = os.path.relpath(path, folder)
            _set(item, 0, f"{title} ({name})" if title and title != Path(path).stem else name)
            _set(item, 1, IN_PROGRESS if state == IN_PROGRESS else state.split(" ")[0].rstrip(":"))
            if item.data(0, DETAIL_ROLE) != state:
                item.setData(0, DETAIL_ROLE, state)
                item.setToolTip(1, as_rich_text(state))
                failed = state.startswith("failed")
                item.setForeground(1, Qt.GlobalColor.darkRed if failed else
                                   self.palette().text().color())
        if added:
            top.sortChildren(0, Qt.SortOrder.AscendingOrder)

    def selected_folder(self) -> str | None:
        item = self.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        return item.data(0, PATH_ROLE) if item is not None else None

    def details(self) -> str:
        """The selected row's whole status, for the line under the tree."""
        item = self.currentItem()
        state = item.data(0, DETAIL_ROLE) if item is not None else None
        return f"{item.text(0)}: {state}" if state else ""

    def document_rows(self) -> dict[str, tuple[str, str]]:
        """{path: (status column, whole status)} of every document row."""
        return {path: (item.text(1), item.data(0, DETAIL_ROLE))
                for rows in self._documents.values() for path, item in rows.items()}
