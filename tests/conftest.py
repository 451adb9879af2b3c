"""Shared test setup. Tests never touch the network beyond loopback.

Every test under tests/e2e gets the `e2e` marker (it starts the real bot process), so that
`pytest -m "not e2e"` runs the fast part alone.

Under pytest-xdist (`-n auto`; pyproject.toml sets `--dist loadgroup`), the tests of one e2e
module that share its module-scoped `stack` form one group: one worker runs them all on one bot
process instead of each worker starting its own, and as the largest groups are sent out first,
the long e2e modules start at once while single tests fill the other worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of tests/e2e as `e2e`; group those sharing a module's stack."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if "stack" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(f"stack:{item.path.stem}"))
