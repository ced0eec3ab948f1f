"""Module-level Dash callbacks. Importing this package registers them all (done by create_app)."""

from callbacks import alerts, annotations, briefings, drill, events, export, filters, freshness, pages, wall

__all__ = [
    "alerts",
    "annotations",
    "briefings",
    "drill",
    "events",
    "export",
    "filters",
    "freshness",
    "pages",
    "wall",
]
