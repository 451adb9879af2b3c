"""Why a finished clip is linked instead of attached, in plain words, and how a fault of the
bot's own machine (a full disk, a failed encode) is told from one of Wiro or Discord.
Used by the clip's delivery (bot/jobs/delivery.py)."""

from __future__ import annotations

import errno

from bot.i18n import Text
from bot.media.video.probe import VideoError

# Why a clip is linked instead of attached, in plain words (the presenter adds the link and says
# that Wiro's links expire). English, as the job keeps them: the card and the clip message show
# them in the server's language (their templates are in the catalogs).
DISK_FULL = str(Text("The bot's disk is full"))
DISK_ERROR = str(Text("The bot could not write the clip to its disk"))
BOT_FAULT = str(
    Text("Something went wrong on the bot's side while preparing the clip, so it is linked.")
)
DOWNLOAD_FAILED = str(
    Text("The bot could not download the clip from Wiro just now, so it is linked.")
)
TOO_LARGE = str(Text("Discord refused the upload as too large, so the clip is linked."))
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def disk_words(exc: BaseException) -> str | None:
    """ "The bot's disk is full" or "... could not write ..." when a file error of the bot's own
    machine is behind `exc` (PyAV's errors carry it as their cause); None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return DISK_FULL if current.errno in _FULL_ERRNOS else DISK_ERROR
        current = current.__cause__ or current.__context__
    return None


def local_fault_reason(exc: BaseException) -> str:
    """Why a clip that Wiro made is linked after a fault of the bot's own machine."""
    disk = disk_words(exc)
    if disk is not None:
        return str(Text("{why}, so the clip is linked.", why=disk))
    if isinstance(exc, VideoError):
        return str(Text("The bot could not process the clip, so it is linked."))
    return BOT_FAULT


def describe(exc: BaseException) -> str:
    """A log-sized description: the error's type and text (no traceback for a known fault)."""
    return f"{type(exc).__name__}: {exc}"
