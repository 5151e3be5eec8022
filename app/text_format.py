"""Text for people: percentages, escaped rich text for tooltips, one-line previews."""

from __future__ import annotations

import html


def percent(score: float) -> str:
    """A probability for people: "93%", "4.2%", "<0.1%"."""
    if score >= 0.1:
        return f"{score:.0%}"
    if score >= 0.001:
        return f"{score:.1%}"
    return "<0.1%"


def as_rich_text(text: str, wrap: bool = True) -> str:
    """Plain text for a place that guesses whether its text is HTML (tooltips): escaped, so
    a document's "<b>" shows as written. `wrap=False` keeps short lines whole (Qt wraps a rich
    tooltip to a narrow width of its own choosing)."""
    style = "pre-wrap" if wrap else "pre"
    return f"<p style='white-space:{style}'>" + html.escape(text).replace("\n", "<br>") + "</p>"


def preview(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
