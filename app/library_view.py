"""The Library view, a dock beside the documents: folders and each document's status, indexing
progress with pause and cancel, search and questions across the library, its entities.

All data comes from `LibraryModel` (background jobs); activating a hit, an answer or a
mention opens the document there with the span marked (`DocumentOpener`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QTreeWidgetItem,
    QWidget,
)

from app.layout import column, row
from app.library_entities import EntityBrowser
from app.library_model import LibraryModel
from app.library_open import DocumentOpener
from app.library_results import ResultList, Target, answer_row, hit_row
from app.library_tree import PATH_ROLE, FolderTree
from app.text_format import as_rich_text
from app.workers import Job, JobManager
from engine.errors import AlbertLensError
from engine.library import UpdateProgress, UpdateReport

STAGE_NAMES = {"embeddings": "Meaning search (embeddings)", "entities": "Entities"}
STAGE_WORDS = {"scan": "Looking for changes", "passages": "Indexing",
               "embeddings": "Embedding", "entities": "Finding entities in"}


def size_text(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def long_stages_text(stages) -> str:
    """What a long re-run would do, for the person to agree to."""
    parts = [f"{STAGE_NAMES.get(p.stage, p.stage)} with {p.model}: {p.documents:,} documents, "
             f"about {duration(p.seconds or 0)}" for p in stages]
    return ("A model changed, so these documents need reading again: " + "; ".join(parts)
            + ". The current results stay searchable until the new ones are complete.")


def _plain_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # file names and reasons are shown as written
    label.setWordWrap(True)
    label.setAccessibleName(name)
    return label


class LibraryView(QWidget):
    def __init__(self, model: LibraryModel, opener: DocumentOpener,
                 show_error: Callable[[str, BaseException], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.opener = opener
        self.show_error = show_error
        self.setAccessibleName("Library")

        self.summary = _plain_label(self, "Library summary")
        self.notice = _plain_label(self, "Library notice")
        self.notice.hide()
        self.question = _plain_label(self, "Long re-run waiting")
        self.run_now = QPushButton("Run Now", self)
        self.run_now.clicked.connect(model.run_held_back)
        self.not_now = QPushButton("Not Now", self)
        self.not_now.setToolTip("Keep the current results; asked again at the next start")
        self.not_now.clicked.connect(model.decline_held_back)
        self.question_box = QWidget(self)
        column(self.question_box, self.question, row(1, self.run_now, self.not_now)
               ).setContentsMargins(0, 0, 0, 0)
        self.question_box.hide()
        self.add_button = QPushButton("Add Folder…", self)
        self.add_button.setAccessibleName("Add a folder to the library")
        self.add_button.clicked.connect(self.ask_add_folder)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setAccessibleName("Remove the selected folder from the library")
        self.remove_button.setToolTip("Remove the selected folder (its files stay on disk)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.update_button = QPushButton("Update", self)
        self.update_button.setToolTip("Look for new, changed and deleted files now")
        self.update_button.clicked.connect(model.update)
        self.retry_button = QPushButton("Retry Failed", self)
        self.retry_button.setAccessibleName("Read the documents that failed again")
        self.retry_button.setToolTip("Read the documents that failed to load again, although "
                                     "their files are unchanged")
        self.retry_button.clicked.connect(lambda: model.update(retry_failed=True))
        self.failures = _plain_label(self, "Documents that failed")
        self.failures_box = QWidget(self)
        column(self.failures_box, row((self.failures, 1), self.retry_button)
               ).setContentsMargins(0, 0, 0, 0)
        self.failures_box.hide()

        self.progress_label = _plain_label(self, "Indexing progress")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(10)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(model.pause)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop indexing; what is indexed stays")
        self.cancel_button.clicked.connect(model.stop_update)
        self.progress_box = QWidget(self)
        column(self.progress_box, self.progress_label,
               row((self.progress_bar, 1), self.pause_button, self.cancel_button)
               ).setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()

        self.tree = FolderTree(self)
        self.tree.itemActivated.connect(self._tree_activated)
        self.tree.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.details = _plain_label(self, "The selected document's status")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText("Search the library (press Enter)")
        self.search_box.setAccessibleName("Search the library")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text()))
        self.search_notice = _plain_label(self, "Search notice")
        self.hits = ResultList("Search hits", self)
        self.hits.opened.connect(opener.open_at)

        self.ask_box = QLineEdit(self)
        self.ask_box.setPlaceholderText("Ask a question across the library (press Enter)")
        self.ask_box.setAccessibleName("Question for the library")
        self.ask_box.returnPressed.connect(lambda: self.ask(self.ask_box.text()))
        self.ask_notice = _plain_label(self, "Answer notice")
        self.answers = ResultList("Answers from the library", self)
        self.answers.opened.connect(opener.open_at)

        self.entities = EntityBrowser(model, self)
        self.entities.opened.connect(opener.open_at)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Library views")
        self.tabs.addTab(self._page((self.tree, 1), self.details), "Folders")
        self.tabs.addTab(self._page(self.search_box, self.search_notice, (self.hits, 1)), "Search")
        self.tabs.addTab(self._page(self.ask_box, self.ask_notice, (self.answers, 1)), "Ask")
        self.tabs.addTab(self.entities, "Entities")
        self.tabs.currentChanged.connect(self._tab_changed)

        # Retry Failed has a line of its own, shown while documents have failed (as Run Now's
        # question is): a fourth button in the row above would widen the narrowest dock by 50 px.
        column(self, self.summary,
               row(self.add_button, self.remove_button, self.update_button, 1),
               self.notice, self.question_box, self.failures_box, self.progress_box,
               (self.tabs, 1)
               ).setContentsMargins(8, 6, 8, 6)

        self._searches = 0
        self._questions = 0
        model.listing_changed.connect(self.show_listing)
        model.progress.connect(self._progress)
        model.update_running.connect(self._running)
        model.update_finished.connect(self._finished)
        model.paused_changed.connect(self._paused)
        model.failed.connect(show_error)
        model.notice.connect(self._notice_line)
        model.long_stages.connect(self._ask_long)
        self.show_listing()

    def _page(self, *items) -> QWidget:
        page = QWidget(self)
        column(page, *items).setContentsMargins(0, 6, 0, 0)
        return page

    # --- folders ---------------------------------------------------------------------------------
    def ask_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library",
                                                  str(Path.home()))
        if folder:
            self.model.add_folder(folder)

    def selected_folder(self) -> str | None:
        return self.tree.selected_folder()

    def remove_selected(self) -> None:
        folder = self.selected_folder()
        if folder is not None:
            self.model.remove_folder(folder)

    def _selection_changed(self) -> None:
        self.details.setText(self.tree.details())
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)
        self.update_button.setEnabled(bool(self.model.listing.folders))
        status = self.model.listing.status
        failed = len(status.failed) if self.model.listing.folders and status is not None else 0
        self.failures_box.setVisible(bool(failed))
        self.failures.setText(f"{failed:,} document{'s' if failed != 1 else ''} could not be "
                              "read")
        self.retry_button.setEnabled(bool(failed) and not self.model.updating)

    def show_listing(self) -> None:
        listing = self.model.listing
        status = listing.status
        if status is None or not listing.folders:
            self.summary.setText("Add a folder of documents: they are indexed here, on this "
                                 "computer, and searched and asked across.")
        else:
            failed = f" · {len(status.failed):,} failed" if status.failed else ""
            self.summary.setText(
                f"{len(listing.folders):,} folder{'s' if len(listing.folders) != 1 else ''} · "
                f"{status.documents:,} documents · {status.indexed['passages']:,} indexed"
                f"{failed} · {size_text(status.disk_bytes)}")
        current = self.model.current
        in_hand = current.path if current is not None and current.stage != "scan" else None
        self.tree.show_listing(listing, in_hand)
        self.details.setText(self.tree.details())
        self._update_buttons()

    def document_rows(self) -> dict[str, tuple[str, str]]:
        return self.tree.document_rows()

    def _tree_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.parent() is not None:
            self.opener.open_at(Target(item.data(0, PATH_ROLE), 0, 0))

    # --- indexing progress -----------------------------------------------------------------------
    def _running(self, on: bool) -> None:
        self.progress_box.setVisible(on)
        self._update_buttons()
        if on:
            self.progress_label.setText("Looking for changes…")
            self.progress_bar.setRange(0, 0)

    def _progress(self, p: UpdateProgress) -> None:
        verb = STAGE_WORDS.get(p.stage, p.stage)
        if p.total:
            self.progress_bar.setRange(0, p.total)
            self.progress_bar.setValue(p.done)
            name = f" {Path(p.path).name}" if p.path else ""
            self.progress_label.setText(f"{verb}{name} ({min(p.done + 1, p.total):,} of "
                                        f"{p.total:,})" if p.done < p.total else f"{verb}: done")
        else:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(f"{verb}…")
        if self.model.paused:
            self.progress_label.setText("Paused · " + self.progress_label.text())

    def _paused(self, on: bool) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(on)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if on else "Pause")
        text = self.progress_label.text().removeprefix("Paused · ")
        self.progress_label.setText(f"Paused · {text}" if on else text)

    def _finished(self, report: UpdateReport | None) -> None:
        if report is None:
            return
        skipped = [f"{stage}: {why}" for stage, why in report.skipped.items()]
        self.summary.setToolTip(as_rich_text("\n".join(skipped)) if skipped else "")

    def _notice_line(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _ask_long(self, stages) -> None:
        self.question_box.setVisible(bool(stages))
        if stages:
            self.question.setText(long_stages_text(stages))

    # --- search and ask --------------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.entities:
            self.entities.reload()

    def search(self, query: str) -> Job | None:
        query = " ".join(query.split())
        if not query:
            return None
        self._searches += 1
        asked = self._searches
        self.search_notice.setText("Searching…")

        def found(hits) -> None:
            if asked == self._searches:
                self.search_notice.setText(f"{len(hits):,} passages" if hits else "")
                self.hits.set_rows([hit_row(h, query) for h in hits],
                                   "Nothing in the library matches.")

        def failed(error: BaseException) -> None:
            if asked == self._searches:
                self.hits.clear()
                self._notice(self.search_notice, "Cannot search", error)

        return self.model.search(query, found, failed)

    def ask(self, question: str) -> Job | None:
        question = " ".join(question.split())
        if not question:
            return None
        self._questions += 1
        asked = self._questions
        self.ask_notice.setText("Reading the best passages…")
        self.answers.clear()

        def found(answers) -> None:
            if asked == self._questions:
                rows = [r for a in answers if (r := answer_row(a)) is not None]
                self.ask_notice.setText("" if rows else "No answer in the library.")
                self.answers.set_rows(rows)

        def failed(error: BaseException) -> None:
            if asked == self._questions:
                self._notice(self.ask_notice, "Cannot answer", error)

        return self.model.ask(question, found, failed)

    def _notice(self, label: QLabel, title: str, error: BaseException) -> None:
        if isinstance(error, AlbertLensError):
            label.setText(" ".join(str(error).split()))
        else:
            label.setText("")
            self.show_error(title, error)


class _CloseWatch(QObject):
    """Stops the library's update when the window closes, before the window waits for jobs."""

    def __init__(self, model: LibraryModel, parent: QObject) -> None:
        super().__init__(parent)
        self._model = model

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Close:
            self._model.shut_down()
        return False


class LibraryDock(QDockWidget):
    """The Library view in a dock; `toggleViewAction()` is View › Library."""

    def __init__(self, jobs: JobManager, open_path: Callable[[str], Job | None],
                 sessions: Callable[[], list], show_error: Callable[[str, BaseException], None],
                 device: str = "auto", parent: QWidget | None = None) -> None:
        super().__init__("Library", parent)
        self.setObjectName("libraryDock")
        self.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                             | Qt.DockWidgetArea.RightDockWidgetArea)
        self.model = LibraryModel(jobs, device, parent=self)
        self.opener = DocumentOpener(jobs, open_path, sessions, self)
        self.view = LibraryView(self.model, self.opener, show_error, self)
        self.setWidget(self.view)
        self.setMinimumWidth(320)
        action = self.toggleViewAction()
        action.setText("&Library")
        action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        action.setStatusTip("Folders of documents, searched and asked across")
        if parent is not None:
            parent.installEventFilter(_CloseWatch(self.model, self))
        self.hide()
        QTimer.singleShot(0, self.model.start)
