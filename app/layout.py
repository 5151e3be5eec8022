"""Box layouts written as the list of what they hold, in order."""

from __future__ import annotations

from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLayout, QVBoxLayout, QWidget

# A widget or a layout, `(item, stretch)` for one that takes the room left, or an int: a stretch.
Item = QWidget | QLayout | int | tuple


def fill(layout: QBoxLayout, *items: Item) -> QBoxLayout:
    for item in items:
        item, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(item, int):
            layout.addStretch(item)
        elif isinstance(item, QLayout):
            layout.addLayout(item, stretch)
        else:
            layout.addWidget(item, stretch)
    return layout


def row(*items: Item) -> QHBoxLayout:
    return fill(QHBoxLayout(), *items)


def column(parent: QWidget | None, *items: Item) -> QVBoxLayout:
    """The layout of `parent` (None: one to nest in another), top to bottom."""
    return fill(QVBoxLayout(parent) if parent is not None else QVBoxLayout(), *items)
