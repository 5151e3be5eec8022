"""The main window: documents in tabs, the task panels beside them, menus, status bar."""

from __future__ import annotations

import html
import logging
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
)

import engine
from app.analysis import AnalysisService, PipelineFactory
from app.context import AppContext
from app.document_state import NO_MODEL
from app.export import write_csv, write_html, write_json
from app.library_view import LibraryDock
from app.model_manager import ModelManager, ModelsApi
from app.panels.ask import AskPanel
from app.panels.classify import ClassifyPanel
from app.panels.entities import EntitiesPanel
from app.panels.sentiment import SentimentPanel
from app.panels.summary import SummaryPanel
from app.resources import resource
from app.session import DocumentSession
from app.settings import Settings
from app.settings_dialog import SettingsDialog
from app.status_bar import StatusBar
from app.text_format import as_rich_text
from app.theme import apply_theme
from app.welcome import WelcomePage
from app.workers import Job, JobManager, settle_long_lived_objects
from engine.errors import AlbertLensError

log = logging.getLogger(__name__)

OPEN_FILTER = (
    "Documents (*.txt *.text *.md *.markdown *.html *.htm *.xhtml *.pdf *.docx *.epub);;"
    "Text (*.txt *.text);;Markdown (*.md *.markdown);;HTML (*.html *.htm *.xhtml);;"
    "PDF (*.pdf);;Word (*.docx);;EPUB (*.epub);;All files (*)"
)
UI_SWITCH_INTERVAL_S = 0.001


# Keys a person can find on a keyboard; Qt's platform bindings add others (F16, Copy, Back).
_PLAIN_KEYS = {Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Escape, Qt.Key.Key_Return,
               Qt.Key.Key_Enter, Qt.Key.Key_Insert, Qt.Key.Key_Delete, Qt.Key.Key_Home,
               Qt.Key.Key_End, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Left,
               Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Backspace,
               Qt.Key.Key_Space, *(getattr(Qt.Key, f"Key_F{i}") for i in range(1, 13))}


def readable_shortcut(sequence: QKeySequence) -> str | None:
    """How a person would write `sequence` ("Ctrl+Shift+Tab"), or None for keys that are not
    on an ordinary keyboard."""
    if sequence.isEmpty():
        return None
    for i in range(sequence.count()):
        key = sequence[i].key()
        if key.value >= Qt.Key.Key_Escape.value and key not in _PLAIN_KEYS:
            return None
    # Qt records Shift+Tab as Backtab; the key cap says Tab.
    return sequence.toString(QKeySequence.SequenceFormat.NativeText).replace("Backtab", "Tab")


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None,
                 pipeline_factory: PipelineFactory | None = None, models_api=None) -> None:
        super().__init__()
        # Worker threads running Python (tokenizing, sentence splitting) hand the GIL back to
        # the UI thread after at most 1 ms instead of 5: the UI waits for it on every Qt call
        # that released it, so this is what keeps painting smooth during an analysis.
        sys.setswitchinterval(min(sys.getswitchinterval(), UI_SWITCH_INTERVAL_S))
        self.settings = settings if settings is not None else Settings()
        self.jobs = JobManager(parent=self)
        self.analysis = AnalysisService(self.settings, self.jobs, pipeline_factory, self)
        self.models_api = models_api if models_api is not None else ModelsApi()
        self.ctx = AppContext(self.settings, self.jobs, self.analysis, self.show_error,
                              self.show_model_manager)
        self.error_log: list[tuple[str, str]] = []
        self.model_manager: ModelManager | None = None
        self._opening: dict[str, Job] = {}
        self.actions: dict[str, QAction] = {}

        self.setWindowTitle("Albert Lens")
        self.setAccessibleName("Albert Lens")
        icon = resource("icons", "albert-lens.svg") or resource("icons", "albert-lens.png")
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        self.resize(1280, 820)
        self.setAcceptDrops(True)

        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.tabs.setAccessibleName("Open documents")
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._current_changed)
        self.welcome = WelcomePage(self)
        self.welcome.open_requested.connect(self.ask_open)
        self.welcome.open_path.connect(self.open_path)
        self.welcome.download_pack.connect(self.download_standard_pack)
        self.welcome.manage_models.connect(self.show_model_manager)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)

        self.entities_panel = EntitiesPanel(self.ctx)
        self.ask_panel = AskPanel(self.ctx)
        self.summary_panel = SummaryPanel(self.ctx)
        self.sentiment_panel = SentimentPanel(self.ctx)
        self.classify_panel = ClassifyPanel(self.ctx)
        self.panels = QTabWidget(self)
        self.panels.setAccessibleName("Analysis panels")
        self.panels.setDocumentMode(True)
        for panel in self.all_panels:
            self.panels.addTab(panel, panel.title)
        self.panels.setMinimumWidth(340)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.panels)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([860, 420])
        self.setCentralWidget(self.splitter)
        self.library = LibraryDock(self.jobs, self.open_path, lambda: self.sessions,
                                   self.show_error, self.settings.device, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library)
        self.ctx.stored_entities = self.library.model.stored_entities

        self.status = StatusBar(self.jobs, self.analysis, self)
        self.setStatusBar(self.status)
        self._build_actions()
        self.jobs.changed.connect(self._update_cancel)
        self._update_cancel()
        self._build_menus()
        self._restore_window()
        self._update_view()
        self.welcome.set_recent(self.settings.recent_files)
        # Listing models reads the store; after the window is up, not before.
        QTimer.singleShot(0, self.refresh_models_info)
        QTimer.singleShot(0, self.analysis.predict_device)
        # Start-up objects live as long as the window: keep later collections from re-walking them.
        QTimer.singleShot(0, settle_long_lived_objects)

    @property
    def all_panels(self):
        """In the app's task order (app.settings.TASK_ORDER), as the tabs and Ctrl+1…5 are."""
        return (self.entities_panel, self.ask_panel, self.summary_panel, self.sentiment_panel,
                self.classify_panel)

    # --- actions and menus -----------------------------------------------------------------------
    def _action(self, key: str, text: str, slot, shortcuts=(), tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        seqs: list[QKeySequence] = []
        for spec in shortcuts:
            # A standard key can stand for several sequences, or none, depending on the platform.
            found = QKeySequence.keyBindings(spec) if isinstance(
                spec, QKeySequence.StandardKey) else [QKeySequence(spec)]
            seqs += [q for q in found if not q.isEmpty() and q not in seqs]
        if seqs:
            # The first is the one menus and the shortcut list show: a readable one.
            seqs.sort(key=lambda q: readable_shortcut(q) is None)
            action.setShortcuts(seqs)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        self.actions[key] = action
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        a = self._action
        a("open", "&Open…", self.ask_open, [K.Open], "Open documents")
        a("close", "&Close Document", self.close_current, ["Ctrl+W", K.Close, "Ctrl+F4"])
        a("export_html", "HTML &Report…", self.export_html, ["Ctrl+Shift+S"],
          "The document with its highlights, as a web page")
        a("export_json", "Results as &JSON…", self.export_json, ["Ctrl+Shift+J"])
        a("export_csv", "&Entities as CSV…", self.export_csv, ["Ctrl+Shift+C"])
        a("settings", "&Settings…", self.show_settings, ["Ctrl+,"])
        a("quit", "&Quit", self.close, [K.Quit, "Ctrl+Q"])
        a("copy", "&Copy", lambda: self._edit("copy"), [K.Copy])
        a("select_all", "Select &All", lambda: self._edit("selectAll"), [K.SelectAll])
        a("find", "&Find…", self.find, [K.Find], "Find text in the document")
        a("find_next", "Find &Next", self.find_next, [K.FindNext])
        a("find_previous", "Find Pre&vious", self.find_previous, [K.FindPrevious])
        a("zoom_in", "Zoom &In", lambda: self._zoom(1), [K.ZoomIn, "Ctrl+="])
        a("zoom_out", "Zoom &Out", lambda: self._zoom(-1), [K.ZoomOut])
        a("zoom_reset", "&Actual Size", lambda: self._zoom(0), ["Ctrl+0"])
        a("next_tab", "&Next Document", lambda: self._step_tab(1),
          [K.NextChild, "Ctrl+PgDown"])
        a("previous_tab", "&Previous Document", lambda: self._step_tab(-1),
          [K.PreviousChild, "Ctrl+PgUp"])
        panels = a("side_panel", "Show Analysis &Panels", self._toggle_panels, ["F9"],
                   checkable=True)
        panels.blockSignals(True)
        panels.setChecked(True)
        panels.blockSignals(False)
        a("fullscreen", "&Full Screen", self._toggle_fullscreen, [K.FullScreen, "F11"])
        a("lookalikes", "Mark &Look-alike Letters", self._toggle_lookalikes, ["Ctrl+Shift+H"],
          "Mark the words written with look-alike letters of other scripts", checkable=True)
        for i, panel in enumerate(self.all_panels):
            a(f"panel_{panel.title.lower()}", f"{panel.title} Panel",
              lambda i=i: self.show_panel(i), [f"Ctrl+{i + 1}"])
        a("run_entities", "Find &Entities", lambda: self._run(self.entities_panel), ["Ctrl+Shift+N"])
        a("ask", "&Ask a Question", self.focus_question, ["Ctrl+L"])
        a("summarize", "&Summarize", lambda: self._run(self.summary_panel), ["Ctrl+Shift+U"])
        a("sentiment", "Analyse Sen&timent", lambda: self._run(self.sentiment_panel), ["Ctrl+Shift+T"])
        a("classify", "C&lassify into Labels…", self.focus_labels, ["Ctrl+Shift+K"])
        # Esc closes the find bar or stops the analysis, so it is always on; Analyse › Cancel is
        # enabled only while there is something to stop (it shows Esc as its key).
        a("cancel", "Close Find or Cancel", self.escape, ["Esc"], "Stop the running analysis")
        a("cancel_analysis", "&Cancel\tEsc", self.jobs.cancel_all, [],
          "Stop the running analysis")
        a("models", "&Models…", self.show_model_manager, ["Ctrl+Shift+M"])
        a("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, [K.HelpContents, "F1"])
        a("about", "&About Albert Lens", self.show_about)
        self.actions["library"] = self.library.toggleViewAction()
        self.addAction(self.actions["library"])

    def _build_menus(self) -> None:
        bar = self.menuBar()
        act = self.actions
        file_menu = bar.addMenu("&File")
        file_menu.addAction(act["open"])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(act["close"])
        file_menu.addSeparator()
        export = file_menu.addMenu("&Export")
        for key in ("export_html", "export_json", "export_csv"):
            export.addAction(act[key])
        self.export_menu = export
        file_menu.addSeparator()
        file_menu.addAction(act["settings"])
        file_menu.addSeparator()
        file_menu.addAction(act["quit"])
        edit = bar.addMenu("&Edit")
        for key in ("copy", "select_all", None, "find", "find_next", "find_previous"):
            edit.addSeparator() if key is None else edit.addAction(act[key])
        view = bar.addMenu("&View")
        for key in ("zoom_in", "zoom_out", "zoom_reset", None, "lookalikes", None, "next_tab",
                    "previous_tab", None, "side_panel",
                    *(f"panel_{p.title.lower()}" for p in self.all_panels), None, "fullscreen"):
            view.addSeparator() if key is None else view.addAction(act[key])
        view.addSeparator()
        view.addAction(act["library"])
        analyse = bar.addMenu("&Analyse")
        for key in ("run_entities", "ask", "summarize", "sentiment", "classify", None,
                    "cancel_analysis", None, "models"):
            analyse.addSeparator() if key is None else analyse.addAction(act[key])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(act["shortcuts"])
        help_menu.addAction(act["about"])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files
        for i, path in enumerate(files):
            label = f"&{i + 1} {Path(path).name}" if i < 9 else Path(path).name
            action = self.recent_menu.addAction(label)
            action.setToolTip(as_rich_text(path))
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self._clear_recent)
        else:
            self.recent_menu.addAction("No recent documents").setEnabled(False)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self.welcome.set_recent([])

    # --- documents -------------------------------------------------------------------------------
    @property
    def sessions(self) -> list[DocumentSession]:
        return [self.tabs.widget(i) for i in range(self.tabs.count())]

    def current_session(self) -> DocumentSession | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, DocumentSession) else None

    def ask_open(self) -> None:
        start = str(Path(self.settings.recent_files[0]).parent) if self.settings.recent_files \
            else str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "Open documents", start, OPEN_FILTER)
        for path in paths:
            self.open_path(path)

    def open_path(self, path: str | Path) -> Job | None:
        """Load a document in the background; it opens in a new tab (or its tab is shown)."""
        path = str(Path(path).expanduser().absolute())
        for session in self.sessions:
            if session.document.path is not None and str(session.document.path) == path:
                self.tabs.setCurrentWidget(session)
                return None
        if path in self._opening:
            return self._opening[path]
        name = Path(path).name

        def work(progress, cancel):
            document = engine.load_document(path)
            # Look-alike letters once per document, here: a huge text's fold stays off the UI.
            return document, engine.fold_lookalikes(document.text)

        def done(loaded) -> None:
            self._opening.pop(path, None)
            self.add_document(*loaded)

        def failed(error: BaseException) -> None:
            self._opening.pop(path, None)
            self.show_error(f"Cannot open {name}", error)
            self._update_view()

        def cancelled() -> None:
            self._opening.pop(path, None)

        job = self.jobs.submit(f"Opening {name}", work, on_success=done, on_error=failed,
                               on_cancel=cancelled)
        self._opening[path] = job
        self.status.showMessage(f"Opening {path}…", 3000)
        return job

    def add_document(self, document, folded=None) -> DocumentSession:
        session = DocumentSession(document, self.settings.font_size, folded=folded)
        session.changed.connect(lambda _task, s=session: self._session_changed(s))
        session.lookalikes_toggled.connect(lambda _on, s=session: self._session_changed(s))
        index = self.tabs.addTab(session, session.title)
        self.tabs.setTabToolTip(index, as_rich_text(str(document.path) if document.path
                                                    else session.title))
        self.tabs.setCurrentIndex(index)
        if document.path is not None:
            self.settings.add_recent_file(document.path)
            self.welcome.set_recent(self.settings.recent_files)
        self._update_view()
        session.view.setFocus()
        pages = f", {len(document.pages)} pages" if document.pages else ""
        self.status.showMessage(f"Opened {session.title} ({len(document.text):,} characters"
                                f"{pages})", 5000)
        self.entities_panel.start(session)
        return session

    def close_tab(self, index: int) -> None:
        session = self.tabs.widget(index)
        if session is None:
            return
        session.closed = True
        self.jobs.cancel_owned_by(session)
        self.tabs.removeTab(index)
        session.deleteLater()
        if not self.sessions:
            for panel in self.all_panels:
                panel.set_session(None)
        self._update_view()

    def close_current(self) -> None:
        if self.tabs.count():
            self.close_tab(self.tabs.currentIndex())

    def _current_changed(self, _index: int) -> None:
        session = self.current_session()
        for panel in self.all_panels:
            panel.set_session(session)
        self._update_view()

    def _session_changed(self, session: DocumentSession) -> None:
        # Results arrive while the tab stays the same: the actions that need them follow.
        if session is self.current_session():
            self._update_view()

    def _update_cancel(self) -> None:
        self.actions["cancel_analysis"].setEnabled(
            any(j.cancellable and not j.token() for j in self.jobs.visible))

    def _update_view(self) -> None:
        session = self.current_session()
        has_doc = session is not None
        self.stack.setCurrentWidget(self.tabs if self.tabs.count() else self.welcome)
        self.panels.setVisible(has_doc and self.actions["side_panel"].isChecked())
        self.setWindowTitle(f"{session.title} — Albert Lens" if has_doc else "Albert Lens")
        for key in ("close", "export_html", "export_json", "find", "find_next", "find_previous",
                    "zoom_in", "zoom_out", "zoom_reset", "run_entities", "ask", "summarize",
                    "sentiment", "copy", "select_all"):
            self.actions[key].setEnabled(has_doc)
        self.actions["export_csv"].setEnabled(
            has_doc and session.document_state.entities is not None)
        for key in ("next_tab", "previous_tab"):
            self.actions[key].setEnabled(self.tabs.count() > 1)
        lookalikes = self.actions["lookalikes"]
        lookalikes.setEnabled(has_doc and session.has_lookalikes)
        lookalikes.blockSignals(True)  # follows the shown document's layer
        lookalikes.setChecked(has_doc and session.lookalikes_shown)
        lookalikes.blockSignals(False)

    # --- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        for path in paths:
            self.open_path(path)
        if paths:
            event.acceptProposedAction()

    # --- edit and view ---------------------------------------------------------------------------
    def _edit(self, method: str) -> None:
        """Copy or Select All in the focused widget when it can, else in the document."""
        focus = QApplication.focusWidget()
        if focus is not None and hasattr(focus, method):
            getattr(focus, method)()
        elif self.current_session() is not None:
            getattr(self.current_session().view, method)()

    def find(self) -> None:
        session = self.current_session()
        if session is not None:
            session.find_bar.open_bar()

    def find_next(self) -> None:
        session = self.current_session()
        if session is not None:
            if session.find_bar.isHidden():
                session.find_bar.open_bar()
            else:
                session.find_bar.find_next()

    def find_previous(self) -> None:
        session = self.current_session()
        if session is not None and not session.find_bar.isHidden():
            session.find_bar.find_previous()

    def _zoom(self, step: int) -> None:
        session = self.current_session()
        if session is None:
            return
        if step == 0:
            session.view.reset_zoom()
        elif step > 0:
            session.view.zoom_in()
        else:
            session.view.zoom_out()
        self.status.showMessage(f"Text size {session.view.point_size:g} pt", 1500)

    def _step_tab(self, delta: int) -> None:
        if self.tabs.count() > 1:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + delta) % self.tabs.count())

    def _toggle_panels(self, on: bool) -> None:
        self._update_view()

    def _toggle_lookalikes(self, on: bool) -> None:
        session = self.current_session()
        if session is not None:
            session.set_lookalikes_shown(on)

    def _toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def show_panel(self, index: int) -> None:
        if not self.actions["side_panel"].isChecked():
            self.actions["side_panel"].setChecked(True)
        self.panels.setCurrentIndex(index)
        self.panels.currentWidget().setFocus()

    def escape(self) -> None:
        session = self.current_session()
        if session is not None and not session.find_bar.isHidden():
            session.find_bar.close_bar()
        elif self.jobs.visible:
            self.jobs.cancel_all()

    # --- analyses --------------------------------------------------------------------------------
    def _run(self, panel) -> None:
        session = self.current_session()
        if session is not None:
            self.show_panel(self.all_panels.index(panel))
            panel.start(session)

    def focus_labels(self) -> None:
        """Classifying needs the labels first: show the panel with its label box ready."""
        self.show_panel(self.all_panels.index(self.classify_panel))
        self.classify_panel.labels_box.setFocus()
        self.classify_panel.labels_box.lineEdit().selectAll()

    def focus_question(self) -> None:
        self.show_panel(self.all_panels.index(self.ask_panel))
        self.ask_panel.question_box.setFocus()
        self.ask_panel.question_box.lineEdit().selectAll()

    # --- export ----------------------------------------------------------------------------------
    def _export(self, title: str, suffix: str, filter_: str, writer) -> None:
        session = self.current_session()
        if session is None:
            return
        base = session.document.path.with_suffix("") if session.document.path else Path(
            session.title)
        path, _ = QFileDialog.getSaveFileName(self, title, f"{base}{suffix}", filter_)
        if not path:
            return
        self.export_to(path, writer, session)

    def export_to(self, path: str | Path, writer, session: DocumentSession | None = None) -> bool:
        session = session or self.current_session()
        try:
            writer(path, session.document_state)
        except OSError as exc:
            self.show_error("Cannot export", exc)
            return False
        self.status.showMessage(f"Saved {path}", 5000)
        return True

    def export_html(self) -> None:
        self._export("Export an HTML report", "-report.html", "Web page (*.html)", write_html)

    def export_json(self) -> None:
        self._export("Export the results as JSON", "-results.json", "JSON (*.json)", write_json)

    def export_csv(self) -> None:
        self._export("Export the entities as CSV", "-entities.csv", "CSV (*.csv)", write_csv)

    # --- models ----------------------------------------------------------------------------------
    def show_model_manager(self) -> ModelManager:
        if self.model_manager is None:
            self.model_manager = ModelManager(self.jobs, self.models_api, self)
            self.model_manager.models_changed.connect(self.models_changed)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def download_standard_pack(self) -> None:
        manager = self.show_model_manager()
        manager.download_standard_pack()
        self.refresh_models_info()

    def models_changed(self) -> None:
        self.analysis.reset()
        self.refresh_models_info()
        for session in self.sessions:
            for panel in self.all_panels:
                if session.state(panel.task) == NO_MODEL:
                    panel.model_may_be_installed(session)

    def refresh_models_info(self) -> None:
        try:
            api = self.models_api
            installed = api.list_installed()
            ids = {m.id.lower() for m in installed}
            missing = [e for e in api.standard_pack() if e.id.lower() not in ids]
            # Any model for a task counts: an imported one serves as well as the standard one.
            tasks = {m.task for m in installed}
            missing = [e for e in missing if e.task not in tasks]
            store = str(api.store_dir())
        except Exception as exc:  # noqa: BLE001 - the start page must show even so
            log.warning("cannot list models: %s", exc)
            return
        downloading = self.model_manager is not None and self.model_manager.download_job \
            is not None
        self.welcome.set_models(missing, len(installed), store, downloading)

    # --- dialogs ---------------------------------------------------------------------------------
    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.save())

    def apply_settings(self, changed: dict) -> None:
        if "theme" in changed:
            apply_theme(QApplication.instance(), self.settings.theme)
        if "font_size" in changed:
            for session in self.sessions:
                session.view.set_base_font_size(self.settings.font_size)
        if "fold_lookalikes" in changed:
            self.analysis.reset()  # pipelines read the text folded or not from when they open
        if "device" in changed or "precision" in changed:
            self.analysis.reset()
            self.status.update_device()
            self.analysis.predict_device()

    def show_error(self, title: str, error: BaseException) -> QMessageBox:
        """Say what went wrong without blocking; the app goes on."""
        if isinstance(error, AlbertLensError):
            text = str(error)
            details = None
        else:
            text = f"Something went wrong: {error}" if str(error) else \
                f"Something went wrong ({type(error).__name__})."
            details = "".join(traceback.format_exception(error))
            log.error("%s: %s", title, details)
        self.error_log.append((title, text))
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and text
        box.setAccessibleName(title)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.status.showMessage(f"{title}: {text}", 8000)
        return box

    def show_shortcuts(self) -> None:
        rows = []
        for name, keys in self.shortcut_rows():
            rows.append(f"<tr><td>{html.escape(name)}</td>"
                        f"<td>&nbsp;&nbsp;<b>{html.escape(keys)}</b></td></tr>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts",
                          "<table>" + "".join(rows) + "</table>", QMessageBox.StandardButton.Ok,
                          self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(action, its one readable shortcut) for every action that has one."""
        rows = []
        for action in self.actions.values():
            keys = next((k for k in map(readable_shortcut, action.shortcuts()) if k), None)
            if keys:
                rows.append((action.text().split("\t")[0].replace("&", "").rstrip("…"), keys))
        return rows

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About Albert Lens",
            f"<h3>Albert Lens {engine.__version__}</h3><p>Read documents with a local ALBERT "
            "engine: entities, answers, summaries and sentiment. Everything runs on this "
            "computer; nothing leaves it except the model downloads you ask for.</p>")

    # --- window state ----------------------------------------------------------------------------
    def _restore_window(self) -> None:
        geometry = self.settings.window_state("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = self.settings.window_state("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def closeEvent(self, event) -> None:
        self.settings.set_window_state("geometry", self.saveGeometry())
        self.settings.set_window_state("splitter", self.splitter.saveState())
        self.settings.sync()
        for session in self.sessions:
            session.closed = True
        self.jobs.cancel_all()
        # Engine calls check `cancel` often; give them a moment to stop before Qt goes away.
        self.jobs.wait(3000)
        super().closeEvent(event)

