"""The app's colours: entity types, the other layers of marks, sentiment tints, and marks that
keep the text readable (WCAG contrast) in the dark theme."""

from __future__ import annotations

import zlib

from PySide6.QtGui import QColor

# --- entity types --------------------------------------------------------------------------------
# CoNLL-style tags get names and fixed colours; any other tag gets a stable colour from its name.
ENTITY_NAMES = {
    "PER": "Person",
    "ORG": "Organization",
    "LOC": "Location",
    "MISC": "Miscellaneous",
    "GPE": "Place",
    "DATE": "Date",
    "TIME": "Time",
    "MONEY": "Money",
    "PERCENT": "Percent",
    "NORP": "Group",
    "EVENT": "Event",
    "PRODUCT": "Product",
}
# Light backgrounds under dark text stay readable in the light and the dark theme alike.
ENTITY_COLOURS = {
    "PER": "#d9cbff",
    "ORG": "#a8e8ea",
    "LOC": "#ffcfa6",
    "MISC": "#f6cde6",
    "GPE": "#ffcfa6",
    "DATE": "#fff0a3",
}


def entity_type_name(kind: str) -> str:
    """How people are shown an entity type (`Entity.type`): "PER" is "Person"."""
    return ENTITY_NAMES.get(kind.upper(), kind.replace("_", " ").title() if kind.isupper() else kind)


def entity_colour(kind: str) -> QColor:
    """An entity type's colour: fixed for the common ones, else stable from its name."""
    if kind.upper() in ENTITY_COLOURS:
        return QColor(ENTITY_COLOURS[kind.upper()])
    hue = zlib.crc32(kind.encode("utf-8")) % 360
    return QColor.fromHsl(hue, 170, 205)


# Other layers of marks in the text.
SUMMARY_COLOUR = "#fff1a8"
ANSWER_COLOUR = "#ffc95c"
ANSWER_CONTEXT_COLOUR = "#fff5d6"
MENTION_COLOUR = "#e8590c"  # an outline around the span being shown
FIND_COLOUR = "#fff59d"
FIND_CURRENT_COLOUR = "#ffb74d"
FIND_OUTLINE_COLOUR = "#c66900"
LOOKALIKE_COLOUR = "#bfe9d2"  # words written with look-alike letters (a mint none of the others use)
POSITIVE_COLOUR = QColor(46, 160, 67)
NEGATIVE_COLOUR = QColor(218, 54, 51)


def sentiment_tint(value: float) -> QColor:
    """A translucent green (positive) or red (negative) whose strength follows |value|."""
    base = POSITIVE_COLOUR if value >= 0 else NEGATIVE_COLOUR
    colour = QColor(base)
    colour.setAlpha(int(25 + 90 * min(abs(value), 1.0)))
    return colour


# Zero-shot labels: light fills under dark text, one per label in the order the user typed them
# (the dark theme darkens opaque marks to keep contrast, as for entities).
LABEL_COLOURS = ("#cfe3ff", "#ffd8b5", "#d5f0c8", "#f3d0f0", "#fff0a3", "#d9d2ff", "#c8efe9",
                 "#ffd0d0")


def label_colour(index: int, label: str) -> QColor:
    """The colour of the `index`-th label of a label set; past the fixed ones, from its name."""
    if index < len(LABEL_COLOURS):
        return QColor(LABEL_COLOURS[index])
    return QColor.fromHsl(zlib.crc32(label.encode("utf-8")) % 360, 170, 215)


# Explanations ("Why?"): what supports the verdict and what argues against it. Blue and orange
# are told apart with the common colour blindnesses, and neither reads as sentiment's green/red.
EXPLAIN_SUPPORT_COLOUR = QColor(31, 119, 180)
EXPLAIN_AGAINST_COLOUR = QColor(230, 97, 1)
EXPLAIN_MAX_ALPHA = 115  # the strongest word: still ≥ 4.5 contrast on either theme's page


def explain_tint(weight: float, strongest: float) -> QColor | None:
    """A translucent fill whose strength is `weight` against the strongest |weight|; None for
    a word that changes nothing (it keeps its tooltip, unfilled)."""
    if weight == 0 or strongest <= 0:
        return None
    colour = QColor(EXPLAIN_SUPPORT_COLOUR if weight > 0 else EXPLAIN_AGAINST_COLOUR)
    colour.setAlpha(int(20 + (EXPLAIN_MAX_ALPHA - 20) * min(abs(weight) / strongest, 1.0)))
    return colour


def composite(colour: QColor, base: QColor) -> QColor:
    """What a translucent `colour` looks like painted on `base`."""
    a = colour.alphaF()
    return QColor.fromRgbF(*(c * a + b * (1 - a) for c, b in (
        (colour.redF(), base.redF()), (colour.greenF(), base.greenF()),
        (colour.blueF(), base.blueF()))))


# --- contrast (WCAG 2) ---------------------------------------------------------------------------
MIN_CONTRAST = 4.5  # WCAG AA for body text


def relative_luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF()))


def contrast_ratio(a: QColor, b: QColor) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_tint(colour: QColor | str, base: QColor, text: QColor,
                  minimum: float = MIN_CONTRAST) -> QColor:
    """An opaque mark for a dark page: `colour`'s hue, as light as `text` allows while keeping
    `minimum` contrast on it. Paler marks (an answer's sentence) come out darker than strong
    ones (the answer), as they are lighter than them on a light page. Opaque, so that marks
    over marks (an answer in its sentence, over an entity) do not add up to a light patch."""
    colour = QColor(colour)
    hue = max(colour.hslHueF(), 0.0)  # -1 for greys
    saturation = min(colour.hslSaturationF(), 0.45)
    # 4.5 for the strongest marks, up to about 7.5 for the palest.
    target = max(minimum, minimum + (colour.lightnessF() - 0.65) * 11)
    def shade(lightness: float) -> QColor:
        return QColor(QColor.fromHslF(hue, saturation, lightness).name())  # as painted: 8 bits

    low, high = 0.0, 1.0
    for _ in range(24):
        middle = (low + high) / 2
        if contrast_ratio(text, shade(middle)) >= target:
            low = middle
        else:
            high = middle
    mark = shade(low)
    if contrast_ratio(text, mark) < minimum:  # text too dark for any mark: the page itself
        return QColor(base)
    return mark
