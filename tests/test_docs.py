"""The README documents every setting (README → "## Settings"), in the spirit of datasette's test_docs."""

from __future__ import annotations

import re

import pytest

from dashboard.core.settings import PREFIX, ROOT, Settings


def settings_section() -> str | None:
    """The text of README.md between "## Settings" and the next second-level heading, or None."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Settings[^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", sorted(Settings.describe()))
def test_setting_is_documented(name: str) -> None:
    section = settings_section()
    assert section is not None, 'README.md has no "## Settings" section'
    assert re.search(rf"\b{PREFIX}{name}\b", section), (
        f"{PREFIX}{name} is not documented in README → Settings"
    )
