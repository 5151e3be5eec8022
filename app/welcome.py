"""The start page: open or drop a document, recent files, and on first run the model offer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.resources import resource
from app.settings import model_kind_name
from app.text_format import as_rich_text

FORMATS_TEXT = "Text, Markdown, HTML, PDF, Word (.docx) and EPUB"


def _card(parent: QWidget) -> tuple[QFrame, QVBoxLayout]:
    card = QFrame(parent)
    card.setObjectName("welcomeCard")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(18, 14, 18, 14)
    return card, layout


class WelcomePage(QScrollArea):
    open_requested = Signal()
    open_path = Signal(str)
    download_pack = Signal()
    manage_models = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Welcome")
        body = QWidget(self)
        self.setWidget(body)
        column = QWidget(body)
        column.setMaximumWidth(760)
        outer = QHBoxLayout(body)
        outer.addStretch(1)
        outer.addWidget(column, 100)
        outer.addStretch(1)
        layout = QVBoxLayout(column)
        layout.setSpacing(14)
        layout.setContentsMargins(10, 30, 10, 30)

        head = QHBoxLayout()
        icon = QLabel(column)
        path = resource("icons", "albert-lens.png")
        if path is not None:
            icon.setPixmap(QPixmap(str(path)).scaled(
                64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
        title = QLabel("Albert Lens", column)
        title.setObjectName("welcomeTitle")
        tagline = QLabel("Read documents with a local ALBERT engine: entities, answers, "
                         "summaries and sentiment, all on this computer.", column)
        tagline.setWordWrap(True)
        words = QVBoxLayout()
        words.addWidget(title)
        words.addWidget(tagline)
        head.addWidget(icon)
        head.addLayout(words, 1)
        layout.addLayout(head)

        card, box = _card(column)
        self.open_button = QPushButton("Open a document…", card)
        self.open_button.setAccessibleName("Open a document")
        self.open_button.setToolTip("Ctrl+O")
        self.open_button.clicked.connect(self.open_requested)
        hint = QLabel(f"or drop files anywhere on this window. {FORMATS_TEXT}.", card)
        hint.setObjectName("dropHint")
        hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(hint, 1)
        box.addLayout(row)
        layout.addWidget(card)

        self.recent_card, box = _card(column)
        box.addWidget(QLabel("<b>Recent documents</b>", self.recent_card))
        self.recent = QListWidget(self.recent_card)
        self.recent.setAccessibleName("Recent documents")
        self.recent.setMaximumHeight(190)
        self.recent.itemActivated.connect(self._recent_activated)
        self.recent.itemClicked.connect(self._recent_activated)
        box.addWidget(self.recent)
        layout.addWidget(self.recent_card)

        self.models_card, box = _card(column)
        self.models_title = QLabel(self.models_card)
        self.models_title.setTextFormat(Qt.TextFormat.RichText)
        self.models_text = QLabel(self.models_card)
        self.models_text.setWordWrap(True)
        self.models_text.setTextFormat(Qt.TextFormat.PlainText)
        self.models_text.setAccessibleName("About the models")
        self.pack_button = QPushButton(self.models_card)
        self.pack_button.setDefault(True)
        self.pack_button.setAccessibleName("Download the standard models")
        self.pack_button.clicked.connect(self.download_pack)
        self.manage_button = QPushButton("Models…", self.models_card)
        self.manage_button.setAccessibleName("Open the model manager")
        self.manage_button.clicked.connect(self.manage_models)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pack_button)
        buttons.addWidget(self.manage_button)
        buttons.addStretch(1)
        box.addWidget(self.models_title)
        box.addWidget(self.models_text)
        box.addLayout(buttons)
        layout.addWidget(self.models_card)
        layout.addStretch(1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for path in paths[:8]:
            item = QListWidgetItem(f"{Path(path).name}    —    {Path(path).parent}", self.recent)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(as_rich_text(path))
        self.recent_card.setVisible(bool(paths))

    def set_models(self, missing, installed_count: int, store: str,
                   downloading: bool = False) -> None:
        """`missing`: standard catalog entries not installed yet."""
        if not missing:
            self.models_title.setText("<b>Models</b>")
            self.models_text.setText(
                f"{installed_count} model{'s' if installed_count != 1 else ''} installed in "
                f"{store}. Analyses start when a document opens.")
            self.pack_button.hide()
            self.manage_button.setText("Models…")
            return
        size = sum(e.size_mb for e in missing)
        names = "\n".join(f"    •  {model_kind_name(e.task)}: {e.title} ({e.size_text})"
                          for e in missing)
        first = installed_count == 0
        self.models_title.setText("<b>First run: no models yet</b>" if first
                                  else "<b>Some standard models are missing</b>")
        self.models_text.setText(
            "Opening and reading documents works without any model.\n\n"
            "To find entities, answer questions, summarize, read sentiment and sort text into "
            "labels of your own, Albert Lens runs "
            "ALBERT models on this computer. The standard pack is a one-time download of about "
            f"{size:.0f} MB:\n{names}\n\nModels are kept in {store}.")
        self.pack_button.setText("Downloading…" if downloading
                                 else f"Download the standard pack ({size:.0f} MB)")
        self.pack_button.setEnabled(not downloading)
        self.pack_button.show()
        self.manage_button.setText("Models…")

    def _recent_activated(self, item: QListWidgetItem) -> None:
        self.open_path.emit(item.data(Qt.ItemDataRole.UserRole))
