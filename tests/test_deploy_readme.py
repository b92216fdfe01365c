"""The README's "Settings" table lists every setting of gateway/settings.py, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from tests.settings_vars import setting_vars

README = Path(__file__).resolve().parent.parent / "README.md"


def settings_table() -> dict[str, list[str]]:
    """Rows of the table under "## Settings": variable -> the other cells."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`(GATEWAY_[A-Z0-9_]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_setting_is_in_the_readme_table() -> None:
    missing = set(setting_vars()) - set(settings_table())
    assert not missing, f"add these settings to README.md's Settings table: {sorted(missing)}"


def test_the_readme_table_names_no_setting_that_does_not_exist() -> None:
    stale = set(settings_table()) - set(setting_vars())
    assert not stale, f"README.md's Settings table names unknown settings: {sorted(stale)}"


def test_every_row_has_a_default_and_production_advice() -> None:
    for name, cells in settings_table().items():
        assert len(cells) == 2 and all(cells), f"{name}: needs a demo default and advice"
