"""The model manager: the catalog, downloads with progress and cancel, importing a folder,
removing, and which installed model each task uses. All of it through engine.models."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.layout import column, row
from app.settings import MODEL_KIND_ORDER, TASK_ORDER, model_kind_name, task_name
from app.text_format import as_rich_text
from app.workers import Job, JobManager
from engine.tasks import registry

ENTRY_ROLE = Qt.ItemDataRole.UserRole


class ModelsApi:
    """engine.models, imported when first used (the window must open without it)."""

    def __getattr__(self, name: str):
        from engine import models
        from engine.models import store

        if hasattr(models, name):
            return getattr(models, name)
        return getattr(store, name)


IMPORT_TITLE = "Import a model folder"


def detected_task(api, folder: str | Path) -> str | None:
    """The store task the folder's config names (engine.models.detect_task), or None."""
    detect = getattr(api, "detect_task", None)
    if detect is None:
        return None
    try:
        task = detect(folder)
    except Exception:  # noqa: BLE001 - a guess only; importing says what is wrong
        return None
    return task if task in MODEL_KIND_ORDER else None


class ImportDialog(QDialog):
    """What an imported folder is for, preselected from its config when that says."""

    def __init__(self, folder: str | Path, detected: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(IMPORT_TITLE)
        self.setAccessibleName(IMPORT_TITLE)
        where = QLabel(f"Folder: {folder}", self)
        where.setTextFormat(Qt.TextFormat.PlainText)
        where.setWordWrap(True)
        self.combo = QComboBox(self)
        self.combo.setAccessibleName("What the model is for")
        for kind in MODEL_KIND_ORDER:
            self.combo.addItem(f"{model_kind_name(kind)} ({kind})", kind)
        if detected is not None:
            self.combo.setCurrentIndex(MODEL_KIND_ORDER.index(detected))
            why = f"Its config.json says: {model_kind_name(detected)}."
        else:
            self.combo.setCurrentIndex(-1)
            why = "Its config.json does not say what it is for: choose below."
        self.hint = QLabel(why, self)
        self.hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.combo.currentIndexChanged.connect(self._update_ok)
        form = QFormLayout()
        form.addRow("What is this model for?", self.combo)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        # Wide enough for the title bar to show the whole title (window managers cut it).
        # The title's width plus room for a bolder title font and the window's buttons.
        self.setMinimumWidth(max(480, self.fontMetrics().horizontalAdvance(IMPORT_TITLE) + 240))
        self._update_ok()

    @property
    def store_task(self) -> str | None:
        return self.combo.currentData()

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
            self.store_task is not None)


def pack_size_mb(entries) -> float:
    return sum(e.size_mb for e in entries)


class ModelManager(QDialog):
    """Kept alive by the window, so a download goes on when the dialog is closed."""

    models_changed = Signal()

    def __init__(self, jobs: JobManager, api=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.api = api if api is not None else ModelsApi()
        self.download_job: Job | None = None
        self.busy_job: Job | None = None
        self.last_error: str | None = None
        self.setWindowTitle("Models")
        self.setAccessibleName("Model manager")
        self.resize(900, 620)

        intro = QLabel(
            "Models run on this computer. Downloads come from the Hugging Face Hub when you ask "
            "for them; nothing else leaves the machine.", self)
        intro.setWordWrap(True)
        self.store_label = QLabel(self)
        self.store_label.setTextFormat(Qt.TextFormat.PlainText)
        self.store_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.store_label.setAccessibleName("Model folder")

        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Models")
        self.tree.setHeaderLabels(["Model", "Size", "Status"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.tree.currentItemChanged.connect(self._selection_changed)

        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setAccessibleName("Model details")
        self.details.setMinimumHeight(70)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.download_button = QPushButton("&Download", self)
        self.download_button.clicked.connect(self.download_selected)
        self.remove_button = QPushButton("&Remove", self)
        self.remove_button.clicked.connect(self.remove_selected)
        self.use_button = QPushButton("&Use for its task", self)
        self.use_button.clicked.connect(self.use_selected)
        self.import_button = QPushButton("&Import folder…", self)
        self.import_button.clicked.connect(self.import_folder)
        self.pack_button = QPushButton(self)
        self.pack_button.clicked.connect(self.download_standard_pack)
        for button, name in ((self.download_button, "Download the selected model"),
                             (self.remove_button, "Remove the selected model"),
                             (self.use_button, "Use the selected model for its task"),
                             (self.import_button, "Import a model folder"),
                             (self.pack_button, "Download the standard models")):
            button.setAccessibleName(name)

        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Download progress")
        self.progress_label = QLabel(self)
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_label.setWordWrap(True)  # a long error wraps instead of widening the dialog
        self.progress_label.setAccessibleName("Download status")
        self.cancel_button = QPushButton("Cancel download", self)
        self.cancel_button.setAccessibleName("Cancel the download")
        self.cancel_button.clicked.connect(self.cancel_download)

        self.task_boxes: dict[str, QComboBox] = {}
        choose = QGroupBox("Model per task", self)
        form = QFormLayout(choose)
        for task in TASK_ORDER:
            store_task = registry.task_spec(task).model_kind
            combo = QComboBox(choose)
            combo.setAccessibleName(f"Model for {task_name(task)}")
            combo.activated.connect(lambda _i, t=store_task, c=combo: self._choose(t, c))
            self.task_boxes[store_task] = combo
            form.addRow(f"{task_name(task)}:", combo)

        close = QPushButton("Close", self)
        close.setAccessibleName("Close the model manager")
        close.clicked.connect(self.accept)

        column(self, intro, self.store_label, (self.tree, 1), self.details,
               row(self.download_button, self.remove_button, self.use_button, 1,
                   self.import_button),
               row((self.progress_label, 1), (self.progress, 1), self.cancel_button),
               choose, row(self.pack_button, 1, close))
        self.refresh()

    # --- listing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        api = self.api
        try:
            self.store_label.setText(f"Model folder: {api.store_dir()}")
            catalog = api.load_catalog()
            installed = api.list_installed()
            defaults = api.defaults()
            pack = api.standard_pack()
        except Exception as exc:  # noqa: BLE001 - a broken store must not close the dialog
            self.details.setText(f"The model store cannot be read: {exc}")
            catalog, installed, defaults, pack = [], [], {}, []
        selected = self.selected_id()
        by_id = {m.id.lower(): m for m in installed}
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for store_task in MODEL_KIND_ORDER:
            group = QTreeWidgetItem([model_kind_name(store_task), "", ""])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            self.tree.addTopLevelItem(group)
            groups[store_task] = group
        listed = set()
        for entry in catalog:
            model = by_id.get(entry.id.lower())
            listed.add(entry.id.lower())
            self._add_row(groups[entry.task], entry.id, entry.title, entry.size_text, entry,
                          model, defaults)
        for model in installed:
            if model.id.lower() not in listed:
                size = f"{model.size_mb:.0f} MB" if model.size_mb >= 10 else \
                    f"{model.size_mb:.1f} MB"
                self._add_row(groups[model.task], model.id, model.title or model.name, size,
                              None, model, defaults)
        self.tree.expandAll()
        self._select(selected)
        missing = [e for e in pack if e.id.lower() not in by_id]
        if missing:
            self.pack_button.setText(
                f"Download the standard models ({len(missing)}, {pack_size_mb(missing):.0f} MB)")
            self.pack_button.setEnabled(self.download_job is None)
        else:
            self.pack_button.setText("Standard models installed")
            self.pack_button.setEnabled(False)
        self._fill_task_boxes(installed, defaults)
        self._selection_changed()
        self._update_progress_row()

    def _add_row(self, group, model_id, title, size, entry, model, defaults) -> None:
        if model is None:
            status = "Not installed"
        else:
            status = "Installed" if model.source == "hub" else "Imported"
            if defaults.get(model.task) == model.id:
                status += " · in use"
        label = f"{title}  ({model_id})" if title != model_id else model_id
        if entry is not None and entry.standard:
            label += "  ★"
        item = QTreeWidgetItem([label, size, status])
        item.setData(0, ENTRY_ROLE, (model_id, entry, model))
        item.setToolTip(0, as_rich_text(model_id))
        group.addChild(item)

    def _fill_task_boxes(self, installed, defaults) -> None:
        for store_task, combo in self.task_boxes.items():
            combo.clear()
            models = [m for m in installed if m.task == store_task]
            if not models:
                combo.addItem("No model installed", None)
                combo.setEnabled(False)
                continue
            combo.setEnabled(True)
            chosen = defaults.get(store_task) or models[0].id
            for m in models:
                combo.addItem(m.title or m.id, m.id)
                if m.id == chosen:
                    combo.setCurrentIndex(combo.count() - 1)

    def _select(self, model_id: str | None) -> None:
        if model_id is None:
            return
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(0, ENTRY_ROLE)[0] == model_id:
                    self.tree.setCurrentItem(group.child(j))
                    return

    def item_for(self, model_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(0, ENTRY_ROLE)[0].lower() == model_id.lower():
                    return group.child(j)
        return None

    def selected(self):
        item = self.tree.currentItem()
        data = item.data(0, ENTRY_ROLE) if item is not None else None
        return data if data else (None, None, None)

    def selected_id(self) -> str | None:
        return self.selected()[0]

    def _selection_changed(self, *_args) -> None:
        model_id, entry, model = self.selected()
        busy = self.download_job is not None or self.busy_job is not None
        self.download_button.setEnabled(entry is not None and model is None and not busy)
        self.remove_button.setEnabled(model is not None and not busy)
        self.use_button.setEnabled(model is not None)
        if model_id is None:
            self.details.setText("Select a model to see what it is for.")
            return
        lines = []
        if entry is not None:
            lines.append(entry.title + ("  (standard)" if entry.standard else ""))
            if entry.description:
                lines.append(entry.description)
            if entry.metric:
                lines.append(f"Quality: {entry.metric}")
            lines.append(f"Licence: {entry.licence} · Download: {entry.size_text}")
        if model is not None:
            lines.append(f"Installed in {model.path} ({model.size_mb:.1f} MB, {model.source})")
        self.details.setText("\n".join(lines) or model_id)

    # --- actions ---------------------------------------------------------------------------------
    def download_selected(self) -> None:
        _model_id, entry, model = self.selected()
        if entry is not None and model is None:
            self.download([entry])

    def download_standard_pack(self) -> None:
        installed = {m.id.lower() for m in self.api.list_installed()}
        missing = [e for e in self.api.standard_pack() if e.id.lower() not in installed]
        if missing:
            self.download(missing)

    def download(self, entries) -> Job | None:
        if self.download_job is not None or not entries:
            return None
        api = self.api
        names = [e.id for e in entries]

        def work(progress, cancel):
            done = []
            for i, entry in enumerate(entries):
                prefix = f"{entry.name} ({i + 1} of {len(entries)})" if len(entries) > 1 \
                    else entry.name
                progress.note(prefix)

                def report(got, total, _name="", p=prefix):
                    # Qt signals carry 32-bit ints: count kilobytes.
                    progress(int(got) // 1024, max(1, int(total) // 1024))

                def stage(text, p=prefix):
                    progress.note(f"{p}: {text.lower()}")

                done.append(api.download_model(entry.id, task=entry.task, progress=report,
                                               cancel=cancel, stage=stage))
            return done

        self.last_error = None
        self.download_job = self.jobs.submit(
            f"Downloading {', '.join(n.rsplit('/', 1)[-1] for n in names)}", work,
            on_success=self._download_done, on_error=self._download_failed,
            on_cancel=self._download_cancelled, owner=self)
        self.jobs.changed.connect(self._update_progress_row)
        self.refresh()
        return self.download_job

    def cancel_download(self) -> None:
        if self.download_job is not None:
            self.jobs.cancel(self.download_job)

    def _download_finished(self) -> None:
        self.download_job = None
        try:
            self.jobs.changed.disconnect(self._update_progress_row)
        except (RuntimeError, TypeError):
            pass
        self.refresh()
        self.models_changed.emit()

    def _download_done(self, models) -> None:
        self._download_finished()
        self.progress_label.setText(f"Installed {', '.join(m.id for m in models)}.")
        self.progress_label.show()

    def _download_failed(self, error: BaseException) -> None:
        self._download_finished()
        # The engine names its command; in the window the same thing is a button here.
        hint = (" Or use Import folder… in this dialog."
                if "albert-lens models import" in str(error) else "")
        self._error("Download failed", error, hint)
        # The row still shows the last stage ("…: contacting the hub"): say what happened.
        self.progress_label.setText(f"Download failed: {self.last_error}")
        self.progress_label.show()

    def _download_cancelled(self) -> None:
        self._download_finished()
        self.progress_label.setText("Download cancelled. Downloading again resumes it.")
        self.progress_label.show()

    def _update_progress_row(self) -> None:
        job = self.download_job
        running = job is not None and not job.finished
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if not running:
            if not self.progress_label.text():
                self.progress_label.hide()
            return
        self.progress_label.show()
        self.progress_label.setText(job.detail or "Starting the download")
        if job.total > 0:
            self.progress.setRange(0, job.total)
            self.progress.setValue(min(job.done, job.total))
            self.progress.setFormat(f"%p%  ({job.done / 1024:.1f} of {job.total / 1024:.1f} MB)")
            self.progress.setTextVisible(True)
        else:
            self.progress.setRange(0, 0)

    def remove_selected(self) -> None:
        model_id, _entry, model = self.selected()
        if model is None:
            return
        answer = QMessageBox.question(
            self, "Remove model",
            f"Remove {model_id} ({model.size_mb:.0f} MB) from this computer?")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove(model_id)

    def remove(self, model_id: str) -> None:
        try:
            self.api.remove(model_id)
        except Exception as exc:  # noqa: BLE001 - shown to the user, dialog stays usable
            self._error("Cannot remove the model", exc)
        self.refresh()
        self.models_changed.emit()

    def use_selected(self) -> None:
        model_id, _entry, model = self.selected()
        if model is not None:
            self.use(model.task, model_id)

    def use(self, store_task: str, model_id: str) -> None:
        try:
            self.api.set_default_model(store_task, model_id)
        except Exception as exc:  # noqa: BLE001
            self._error("Cannot use this model", exc)
        self.refresh()
        self.models_changed.emit()

    def _choose(self, store_task: str, combo: QComboBox) -> None:
        model_id = combo.currentData()
        if model_id:
            self.use(store_task, model_id)

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, IMPORT_TITLE)
        if not folder:
            return
        dialog = self.import_dialog(folder)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.store_task is not None:
            self.import_model(folder, dialog.store_task)

    def import_dialog(self, folder: str | Path) -> ImportDialog:
        return ImportDialog(folder, detected_task(self.api, folder), self)

    def import_model(self, folder: str | Path, store_task: str) -> Job | None:
        if self.busy_job is not None:
            return None
        api = self.api

        def work(progress, cancel):
            progress.note("checking and copying")
            return api.import_model(folder, store_task)

        def done(model) -> None:
            self.busy_job = None
            self.refresh()
            self._select(model.id)
            self.progress_label.setText(f"Imported {model.id}.")
            self.progress_label.show()
            self.models_changed.emit()

        def failed(error: BaseException) -> None:
            self.busy_job = None
            self.refresh()
            self._error("Cannot import this folder", error)

        def cancelled() -> None:
            self.busy_job = None
            self.refresh()

        self.busy_job = self.jobs.submit(f"Importing {Path(folder).name}", work,
                                         on_success=done, on_error=failed, on_cancel=cancelled,
                                         owner=self, cancellable=False)
        self._selection_changed()
        return self.busy_job

    def _error(self, title: str, error: BaseException, hint: str = "") -> None:
        self.last_error = (str(error) or type(error).__name__) + hint
        box = QMessageBox(QMessageBox.Icon.Warning, title, self.last_error,
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAccessibleName(title)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
