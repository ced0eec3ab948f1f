"""Dash keeps module-level callbacks in process globals and hands them to the first app that starts.

Tests that build several apps in one process restore them before each new app.
"""

from __future__ import annotations

from typing import Any

import callbacks  # noqa: F401  (registers the module-level callbacks before the snapshot below)


def _registered() -> tuple[dict[str, Any], list[Any]]:
    from dash import _callback

    return dict(_callback.GLOBAL_CALLBACK_MAP), list(_callback.GLOBAL_CALLBACK_LIST)


REGISTERED = _registered()


def restore_callbacks() -> None:
    """Give the next app every callback again (Dash forgot them after handing them to the last one)."""
    from dash import _callback

    for key, value in REGISTERED[0].items():
        _callback.GLOBAL_CALLBACK_MAP.setdefault(key, value)
    for item in REGISTERED[1]:
        if item not in _callback.GLOBAL_CALLBACK_LIST:
            _callback.GLOBAL_CALLBACK_LIST.append(item)
