"""Exports: slide decks (PPTX, native charts), PDF through LibreOffice, and panel pictures (PNG).

:mod:`dashboard.export.exporter` makes them; :mod:`dashboard.export.common` holds what they share.
"""
