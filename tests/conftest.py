"""Shared test setup. Tests never touch the network beyond loopback.

Every test under tests/e2e gets the `e2e` marker (it starts the real bot process), so that
`pytest -m "not e2e"` runs the fast part alone.

Under pytest-xdist, pyproject.toml sets `--dist loadscope`: all the tests of one module run on
one worker, in order, so an e2e module's tests share its module-scoped `stack` (one bot process)
instead of each worker that takes one of them starting its own; the modules with the most tests
are sent out first. (`--dist loadgroup` with `xdist_group` marks did that before pytest 9;
pytest-xdist 3.8 can no longer add the group to a node id under pytest 9, and every e2e test
then started a bot process of its own.)

`-n auto` starts four workers per core (at most 16), not one: most of an e2e test's time is
spent waiting on the bot process, the Discord double and the Wiro simulator, so a worker per
core leaves the cores idle. On the 2-core reference machine, 2 workers took 215 s, 4 took
153 s, 6 took 131 s, 8 took 121 s and 12 took 148 s (bench/RESULTS.md, "The test suite").
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database
from tests.factories import T0, Clock, open_database

E2E_DIR = Path(__file__).resolve().parent / "e2e"
WORKERS_PER_CORE = 4
MAX_WORKERS = 16


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: four workers per core, at most 16 (the e2e tests mostly wait)."""
    return min(MAX_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of tests/e2e as `e2e`."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def clock() -> Clock:
    """A clock at T0 that the test moves by hand (a suite may start it elsewhere)."""
    return Clock(T0)


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[Database]:
    """A new database at the current schema in the test's folder, on the test's clock."""
    database = await open_database(tmp_path / "bot.sqlite3", clock=clock)
    try:
        yield database
    finally:
        await database.close()
