"""Shared test setup. Tests never touch the network beyond loopback.

Every test under tests/e2e gets the `e2e` marker (it starts the real bot process), so that
`pytest -m "not e2e"` runs the fast part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of tests/e2e as `e2e`."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
