"""The suite's own set-up: what keeps an e2e module on one bot process under parallel workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODULE = """
import os
from pathlib import Path

def _record(name):
    out = Path(os.environ["WORKER_LOG"])
    with out.open("a") as f:
        f.write(f"{name} {os.environ.get('PYTEST_XDIST_WORKER', 'none')}\\n")

"""


def test_one_modules_tests_run_on_one_worker(tmp_path: Path) -> None:
    """With the project's pytest options (`--dist` from pyproject.toml) and two workers, the
    tests of one module all run on the same worker, so its module-scoped stack starts once."""
    tests = "".join(f"def test_{i}():\n    _record('t{i}')\n\n" for i in range(6))
    (tmp_path / "test_sample_module.py").write_text(MODULE + tests)
    log = tmp_path / "workers.txt"
    env = {**os.environ, "WORKER_LOG": str(log)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_sample_module.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {line.split()[1] for line in log.read_text().splitlines()}
    assert len(log.read_text().splitlines()) == 6
    assert len(workers) == 1, workers
