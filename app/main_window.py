"""The main window: documents in tabs, shown as plain text (never interpreted as HTML)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QTabWidget,
)

import engine
from engine.errors import AlbertLensError

OPEN_FILTER = "Documents (*.txt *.md *.markdown *.html *.htm *.pdf *.docx *.epub);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Albert Lens")
        self.resize(1100, 750)
        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.tabs.removeTab)
        self.tabs.setAccessibleName("Open documents")
        self.setCentralWidget(self.tabs)
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._ask_open)
        file_menu.addAction(open_action)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.statusBar().showMessage("Open a document to begin (Ctrl+O).")

    def _ask_open(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open documents", "", OPEN_FILTER)
        for path in paths:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            document = engine.load_document(path)
        except AlbertLensError as exc:
            QMessageBox.warning(self, "Cannot open document", str(exc))
            return False
        view = QPlainTextEdit(self)
        view.setReadOnly(True)
        view.setPlainText(document.text)
        view.setAccessibleName(f"Text of {document.title}")
        index = self.tabs.addTab(view, document.title or Path(path).name)
        self.tabs.setCurrentIndex(index)
        self.statusBar().showMessage(f"Opened {path}")
        return True
