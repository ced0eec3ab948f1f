"""The colours, fonts and type scales of every picture the dashboard draws (screens, wall, slides).

Every colour here means something: the status colours are the metric registry's good / warn / bad,
the ageing ramp runs from calm to alarming, last year is always the grey reference.
"""

from __future__ import annotations

from typing import Any

FONT_FAMILY = (
    "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"
)

# Colour-blind-safe categorical palette with good contrast on light and dark backgrounds.
PALETTE = [
    "#2f7ed8",
    "#f28f43",
    "#2ca58d",
    "#d64550",
    "#8e6cc9",
    "#e6b422",
    "#5aa9e6",
    "#a0522d",
    "#7f8c8d",
    "#17becf",
]
AGE_COLOURS = ["#9ecae1", "#4292c6", "#f6b26b", "#e06666", "#990000"]  # <1d … >30d: calm → alarming
REPORTED_COLOUR = "#2f7ed8"
CLOSED_COLOUR = "#2ca58d"
LAST_YEAR_COLOUR = "#9aa5b1"
NOTE_COLOUR = "#8e6cc9"  # notes on the timeline: violet, no colour of a status (red, amber, green)

VARIANTS: dict[str, dict[str, Any]] = {
    "browser": {
        "font": 13,
        "title": 15,
        "fg": "#1f2933",
        "grid": "#e4e7eb",
        "bg": "rgba(0,0,0,0)",
        "hover": True,
    },
    "wall": {
        "font": 22,
        "title": 26,
        "fg": "#e6edf5",
        "grid": "#2a3a52",
        "bg": "rgba(0,0,0,0)",
        "hover": False,
    },
    "print": {"font": 16, "title": 20, "fg": "#1f2933", "grid": "#d9dde3", "bg": "#ffffff", "hover": False},
}
