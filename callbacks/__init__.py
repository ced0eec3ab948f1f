"""Module-level Dash callbacks. Importing this package registers them all (done by create_app)."""

from callbacks import drill, events, filters, pages, wall

__all__ = ["drill", "events", "filters", "pages", "wall"]
