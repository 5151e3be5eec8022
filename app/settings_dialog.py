"""Settings: device, precision, look-alike folding, theme and font size (kept in the settings
file)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.settings import MAX_FONT_SIZE, MIN_FONT_SIZE, Settings
from engine import DEVICE_CHOICES as DEVICES

DEVICE_LABELS = {"auto": "Automatic (GPU when available)", "gpu": "GPU", "cpu": "CPU only"}
DEVICE_CHOICES = tuple((device, DEVICE_LABELS.get(device, device)) for device in DEVICES)
PRECISION_CHOICES = (
    ("fp32", "Full precision (fp32)"),
    ("int8", "Faster on the CPU, slightly less exact (int8)"),
)
THEME_CHOICES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))


def _combo(parent: QWidget, choices, current: str, name: str) -> QComboBox:
    combo = QComboBox(parent)
    combo.setAccessibleName(name)
    for key, label in choices:
        combo.addItem(label, key)
    combo.setCurrentIndex(max(0, [k for k, _ in choices].index(current)))
    return combo


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.settings = settings
        self.device = _combo(self, DEVICE_CHOICES, settings.device, "Device")
        self.precision = _combo(self, PRECISION_CHOICES, settings.precision, "Precision")
        self.fold_lookalikes = QCheckBox("Read look-alike letters as the words they spell", self)
        self.fold_lookalikes.setChecked(settings.fold_lookalikes)
        self.fold_lookalikes.setAccessibleName("Read look-alike letters as the words they spell")
        self.fold_lookalikes.setToolTip(
            "The models read a word written with letters of another script that look the same "
            "(a Cyrillic \u201c\u0430\u201d in \u201cp\u0430tient\u201d) as the word it "
            "spells. Off: they read the letters as written.")
        self.theme = _combo(self, THEME_CHOICES, settings.theme, "Theme")
        self.font_size = QSpinBox(self)
        self.font_size.setRange(MIN_FONT_SIZE, MAX_FONT_SIZE)
        self.font_size.setSuffix(" pt")
        self.font_size.setValue(settings.font_size)
        self.font_size.setAccessibleName("Font size of the document text")

        form = QFormLayout()
        form.addRow("&Device:", self.device)
        form.addRow("&Precision:", self.precision)
        form.addRow("", self.fold_lookalikes)
        form.addRow("&Theme:", self.theme)
        form.addRow("Document &font size:", self.font_size)
        note = QLabel("Device, precision and look-alike reading apply to analyses run from now "
                      "on; loaded models are reloaded when they are next used.", self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def values(self) -> dict:
        return {
            "device": self.device.currentData(),
            "precision": self.precision.currentData(),
            "fold_lookalikes": self.fold_lookalikes.isChecked(),
            "theme": self.theme.currentData(),
            "font_size": self.font_size.value(),
        }

    def save(self) -> dict[str, object]:
        """Write the chosen values; returns the ones that changed."""
        changed = {}
        for key, value in self.values().items():
            if getattr(self.settings, key) != value:
                setattr(self.settings, key, value)
                changed[key] = value
        self.settings.sync()
        return changed
