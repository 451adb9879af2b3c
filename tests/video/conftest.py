"""Clips shared by the video tests (written once per session: encoding costs CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.clips import write_clip


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def plain(clip_dir: Path) -> Path:
    """No B-frames, no sound (the shape of the sandbox's sample clips)."""
    return write_clip(clip_dir / "plain.mp4")


@pytest.fixture(scope="session")
def plain2(clip_dir: Path) -> Path:
    """Same streams as `plain`, another length."""
    return write_clip(clip_dir / "plain2.mp4", seconds=1.5)


@pytest.fixture(scope="session")
def bframes(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "bframes.mp4", bframes=True)


@pytest.fixture(scope="session")
def with_sound(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "sound.mp4", bframes=True, audio=True)


@pytest.fixture(scope="session")
def with_sound2(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "sound2.mp4", bframes=True, audio=True, seconds=1.0)
