"""How many bytes, said to a person: one rule for every message the engine writes."""

from __future__ import annotations

UNITS = ("bytes", "KB", "MB", "GB", "TB")


def format_size(nbytes: int) -> str:
    """'512 bytes', '3.4 KB', '46.7 MB', '2 GB': powers of 1024, one decimal unless it is .0."""
    value = float(nbytes)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(nbytes)} bytes"
    return f"{value:.1f} {unit}".replace(".0 ", " ")
