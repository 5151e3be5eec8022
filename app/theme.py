"""Light, dark or the system's colour scheme: a Fusion palette plus a small style sheet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.resources import resource

LIGHT = {
    "Window": "#f3f3f1", "WindowText": "#1d1d1f", "Base": "#ffffff", "AlternateBase": "#f6f6f4",
    "Text": "#1d1d1f", "Button": "#ececea", "ButtonText": "#1d1d1f", "Highlight": "#2f6fd6",
    "HighlightedText": "#ffffff", "ToolTipBase": "#ffffe8", "ToolTipText": "#1d1d1f",
    "PlaceholderText": "#8a8a8a", "Link": "#1f5fbf", "LinkVisited": "#6a3fb5", "Mid": "#b8b8b4",
    "Midlight": "#dcdcd8", "Dark": "#9a9a96", "Shadow": "#6a6a66", "Light": "#ffffff",
    "BrightText": "#d00000",
}
DARK = {
    "Window": "#26272b", "WindowText": "#e6e6e6", "Base": "#1c1d20", "AlternateBase": "#232428",
    "Text": "#e6e6e6", "Button": "#303136", "ButtonText": "#e6e6e6", "Highlight": "#3d7be0",
    "HighlightedText": "#ffffff", "ToolTipBase": "#303136", "ToolTipText": "#e6e6e6",
    "PlaceholderText": "#8d8d92", "Link": "#7fb0ff", "LinkVisited": "#b99cff", "Mid": "#45464c",
    "Midlight": "#3a3b40", "Dark": "#151518", "Shadow": "#0b0b0c", "Light": "#4a4b52",
    "BrightText": "#ff6b6b",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(theme: str) -> str:
    """"light" or "dark" for a theme setting ("system" follows the desktop)."""
    if theme == "system":
        return "dark" if system_is_dark() else "light"
    return theme


def palette(name: str) -> QPalette:
    pal = QPalette()
    for role, colour in (DARK if name == "dark" else LIGHT).items():
        pal.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    disabled = QColor("#7a7a7a" if name == "dark" else "#a0a0a0")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return pal


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply a theme setting; returns the scheme used ("light" or "dark")."""
    name = resolve(theme)
    app.setStyle("Fusion")
    app.setPalette(palette(name))
    sheet = resource("themes", f"{name}.qss")
    app.setStyleSheet(sheet.read_text(encoding="utf-8") if sheet is not None else "")
    return name
