"""Logging for the bot: one line per event on stdout, UTC timestamps, secrets redacted.

A line looks like ``2026-11-26T17:00:00Z INFO bot.jobs.service: job=12 submitted to Wiro
task=534574``. A logged exception keeps its traceback on the lines that follow, as one event.

Redaction happens twice on our handler: a filter rewrites the record itself (message, exception
text and stack), so any later handler sees it clean too, and the formatter scrubs the final text,
which also covers anything a filter cannot reach (a secret in a logger name, say).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import IO, Any, Final
from urllib.parse import quote

REDACTED: Final = "[redacted]"

# Discord bot tokens: base64 user id, timestamp, HMAC.
_DISCORD_TOKEN: Final = r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}"
# Credential headers however they are printed: `x-api-key: v`, `'x-signature': 'v'`,
# `"x-api-key": "v"`, `x-api-key=v`, `Authorization: Bot v`.
_HEADER: Final = (
    r"(?P<head>(?i:x-api-key|x-signature|authorization)['\"]?\s*[:=]\s*['\"]?"
    r"(?i:(?:bot|bearer|basic)\s+)?)"
    r"[^'\"\s,;&}\])]+"
)

# Chatty at DEBUG and INFO (every HTTP request, every heartbeat); warnings are what matter.
_QUIET_LOGGERS: Final = {
    "discord": logging.INFO,
    "discord.http": logging.WARNING,
    "discord.gateway": logging.WARNING,
}

_HANDLER_MARK: Final = "_hailuo_bot_handler"
MIN_SECRET_LENGTH: Final = 8


class RedactingFilter(logging.Filter):
    """Replace secrets, Discord tokens and credential header values by ``[redacted]``."""

    def __init__(self, secrets: Iterable[object] = ()) -> None:
        super().__init__()
        variants: set[str] = set()
        for secret in secrets:
            value = _secret_value(secret)
            # A secret of a few characters would blank ordinary words out of every line;
            # real tokens and keys are far longer than this.
            if value and len(value.strip()) >= MIN_SECRET_LENGTH:
                # The forms a secret takes once printed inside a repr, JSON or a URL.
                variants.update(
                    {value, repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
                )
        # Longest first, so a secret containing another is removed whole.
        literal = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
        self._secrets = re.compile(literal) if literal else None
        self._patterns = re.compile(f"{_HEADER}|{_DISCORD_TOKEN}")

    def redact(self, text: str) -> str:
        """Return text with every secret and credential-shaped value replaced."""
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        return self._patterns.sub(_replace, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record so that no handler after this one can see a secret."""
        try:
            message = record.getMessage()
        except Exception:
            # logging would report the failure with the raw arguments on stderr: don't let it.
            message = f"{record.msg!r} (log arguments did not fit the message)"
        job_id = current_job.get()
        if job_id is not None and not message.startswith("job="):
            # A line from a lower layer (the Wiro client) logged while running a job's work.
            message = f"job={job_id} {message}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# The job whose work the current asyncio task is doing. Each job runs in its own task, and
# tasks copy the context they were created in, so lines logged by layers that know nothing of
# jobs (the Wiro client following a task) still carry the job id.
current_job: ContextVar[int | None] = ContextVar("current_job", default=None)


def _replace(match: re.Match[str]) -> str:
    head = match.group("head")
    return f"{head}{REDACTED}" if head else REDACTED


def _secret_value(secret: object) -> str:
    # Accept pydantic SecretStr as well as plain strings, without importing pydantic here.
    getter = getattr(secret, "get_secret_value", None)
    value = getter() if callable(getter) else secret
    return value if isinstance(value, str) else ""


class _Formatter(logging.Formatter):
    def __init__(self, redactor: RedactingFilter) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redactor = redactor

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))

    def formatMessage(self, record: logging.LogRecord) -> str:
        # A member's prompt may hold line breaks: escape them so one event stays one line and
        # nobody can forge log lines. Tracebacks are appended after this and keep theirs.
        line = super().formatMessage(record)
        return line.replace("\r", "\\r").replace("\n", "\\n")

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def setup_logging(
    level: str = "INFO", *, secrets: Iterable[object] = (), stream: IO[str] | None = None
) -> None:
    """Send all logs to stdout (or stream), one line per event, with secrets redacted."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    # Calling again replaces our handler (new level, secrets or stream) instead of adding one.
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(redactor)
    handler.setFormatter(_Formatter(redactor))
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(numeric, floor))
    # Library warnings (Pillow's decompression-bomb warning, deprecations) become log lines
    # that pass through the same redaction instead of raw stderr text.
    logging.captureWarnings(True)


class _JobAdapter(logging.LoggerAdapter[logging.Logger]):
    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra: Mapping[str, Any] = kwargs.get("extra") or {}
        kwargs["extra"] = {**extra, **(self.extra or {})}
        return f"job={self.extra['job_id']} {msg}", kwargs  # type: ignore[index]


def job_logger(logger: logging.Logger, job_id: int) -> logging.LoggerAdapter[logging.Logger]:
    """Return a logger that starts every message with ``job=<id>``, and sets ``job_id``."""
    return _JobAdapter(logger, {"job_id": job_id})
