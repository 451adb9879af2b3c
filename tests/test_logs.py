"""Logging set-up: line format, redaction of secrets, job prefixes, levels, idempotence."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from bot.logs import REDACTED, RedactingFilter, job_logger, setup_logging

SECRET = "wiro-s3cr3t-VALUE-9f8e7d"
# Characters that repr() and JSON escape, so the secret looks different inside a dict's repr.
ODD_SECRET = "k\\ey'with\"quotes-é-0042"
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\w+) ([\w.]+): (.*)$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the root logger and the discord loggers as the test found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("discord", "discord.http", "discord.gateway")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    setup_logging("INFO", secrets=[SECRET, SecretStr(ODD_SECRET), ""], stream=stream)
    return stream


def fail_with(message: str) -> None:
    try:
        raise ConnectionError(f"inner: {message}")
    except ConnectionError as exc:
        raise RuntimeError(f"Wiro call failed with key {message}") from exc


def test_one_line_per_event_in_the_documented_shape(out: io.StringIO) -> None:
    log = job_logger(logging.getLogger("bot.jobs.service"), 12)
    log.info("submitted to Wiro task=%s", "534574")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    stamp, level, name, message = LINE.match(lines[0]).groups()  # type: ignore[union-attr]
    assert (level, name, message) == (
        "INFO",
        "bot.jobs.service",
        "job=12 submitted to Wiro task=534574",
    )
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 5


def test_line_breaks_in_a_message_stay_on_one_line(out: io.StringIO) -> None:
    prompt = "a cat\n2026-01-01T00:00:00Z INFO bot.jobs.service: job=1 forged\r\nend"
    logging.getLogger("bot.jobs.service").info("prompt %r / %s", "x", prompt)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "a cat\\n2026-01-01T00:00:00Z INFO bot.jobs.service: job=1 forged\\r\\nend"
    )


@pytest.mark.parametrize(
    "emit",
    [
        pytest.param(lambda log: log.info("key is %s", SECRET), id="argument"),
        pytest.param(lambda log: log.info("key is " + SECRET), id="in-message"),
        pytest.param(lambda log: log.info("longer:%s:tail", "xx" + SECRET + "yy"), id="inside"),
        pytest.param(
            lambda log: log.info("headers %r", {"x-nonce": "1", "key": SECRET, "s": ODD_SECRET}),
            id="dict-repr",
        ),
        pytest.param(lambda log: log.info("body %s", f'{{"secret": "{ODD_SECRET}"}}'), id="raw"),
        pytest.param(
            lambda log: log.info("json %s", __import__("json").dumps({"s": ODD_SECRET})),
            id="json",
        ),
        pytest.param(
            lambda log: log.info(
                "url https://x/?k=%s", __import__("urllib.parse").parse.quote(ODD_SECRET, safe="")
            ),
            id="url-encoded",
        ),
        pytest.param(lambda log: log.warning("bad %s %s", SECRET), id="unformattable-args"),
    ],
)
def test_secrets_never_reach_the_output(out: io.StringIO, emit, capsys) -> None:  # type: ignore[no-untyped-def]
    emit(logging.getLogger("bot.wiro"))
    text = out.getvalue()
    assert SECRET not in text
    assert "s3cr3t" not in text
    assert "quotes-" not in text  # every printed form of ODD_SECRET
    assert REDACTED in text or "did not fit" in text
    assert len(text.splitlines()) == 1
    assert SECRET not in capsys.readouterr().err  # logging's own error report stays quiet too


def test_exception_text_and_traceback_are_redacted(out: io.StringIO) -> None:
    log = job_logger(logging.getLogger("bot.jobs.service"), 7)
    try:
        fail_with(SECRET)
    except RuntimeError:
        log.exception("run failed for %s", TOKEN)
    text = out.getvalue()
    assert SECRET not in text
    assert TOKEN not in text
    assert "Traceback (most recent call last)" in text
    assert "ConnectionError: inner: [redacted]" in text
    assert "RuntimeError: Wiro call failed with key [redacted]" in text
    first = text.splitlines()[0]
    assert first.endswith("ERROR bot.jobs.service: job=7 run failed for [redacted]")


def test_the_filter_alone_covers_exception_text() -> None:
    # Without our formatter's final pass: the filter must have cleaned exc_text itself.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([SECRET]))
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("test.filter.alone")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            fail_with(SECRET)
        except RuntimeError:
            log.exception("with %s", SECRET, stack_info=True)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert text.count(REDACTED) == 3  # the message and both exception lines
    assert "Stack (most recent call last)" in text


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (f"connecting with {TOKEN}", "connecting with"),
        (f"Authorization: Bot {TOKEN}", "Authorization: Bot"),
        ("{'x-api-key': 'abc123def', 'x-nonce': '1700000000000'}", "'x-nonce': '1700000000000'"),
        ('{"x-signature": "9709457a07c8ca2c573e70c1"}', '"x-signature": "'),
        ("X-Signature: 9709457a07c8ca2c573e70c1\r\nX-Nonce: 17", "X-Nonce: 17"),
        ("GET /?x-api-key=abc123def&page=2", "&page=2"),
    ],
)
def test_credential_shapes_are_redacted_without_configured_secrets(raw: str, kept: str) -> None:
    redacted = RedactingFilter().redact(raw)
    assert REDACTED in redacted
    for value in (TOKEN, "abc123def", "9709457a07c8ca2c573e70c1"):
        assert value not in redacted
    assert kept in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "job=3 authorization is not valid; x-nonce=17; prompt: a M.cat.dog"
    assert RedactingFilter([SECRET]).redact(text) == text


def test_job_logger_prefixes_and_tags_every_record(
    out: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    log = job_logger(logging.getLogger("bot.jobs.service"), 42)
    with caplog.at_level(logging.INFO, logger="bot.jobs.service"):
        log.info("stage %s -> %s", "queued", "running")
        log.warning("slow", extra={"task": "534574"})
    assert [r.getMessage() for r in caplog.records] == [
        "job=42 stage queued -> running",
        "job=42 slow",
    ]
    assert all(r.job_id == 42 for r in caplog.records)  # type: ignore[attr-defined]
    assert caplog.records[1].task == "534574"  # type: ignore[attr-defined]
    assert all(" job=42 " in line for line in out.getvalue().splitlines())


def test_level_filtering_and_quiet_discord_loggers() -> None:
    stream = io.StringIO()
    setup_logging("debug", stream=stream)
    logging.getLogger("bot.x").debug("bot debug shown")
    logging.getLogger("discord.client").debug("discord debug hidden")
    logging.getLogger("discord.client").info("discord info shown")
    logging.getLogger("discord.http").info("http info hidden")
    logging.getLogger("discord.gateway").info("gateway info hidden")
    logging.getLogger("discord.http").warning("http warning shown")
    text = stream.getvalue()
    assert "bot debug shown" in text
    assert "discord info shown" in text
    assert "http warning shown" in text
    assert "hidden" not in text

    stream = io.StringIO()
    setup_logging("WARNING", stream=stream)
    logging.getLogger("bot.x").info("info hidden")
    logging.getLogger("discord.client").info("discord info hidden")
    logging.getLogger("bot.x").warning("warning shown")
    assert stream.getvalue().count("\n") == 1
    assert "WARNING bot.x: warning shown" in stream.getvalue()


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        setup_logging("LOUD", stream=io.StringIO())


def test_setting_up_twice_keeps_one_handler_and_the_latest_settings() -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", secrets=["first-secret-1"], stream=first)
    setup_logging("INFO", secrets=["second-secret-2"], stream=second)
    assert len(root.handlers) == before + 1
    logging.getLogger("bot.x").info("once %s", "second-secret-2")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    assert "second-secret-2" not in second.getvalue()


def test_warnings_become_redacted_log_lines(out: io.StringIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)  # pytest swaps showwarning per test; take it back
        warnings.warn(f"deprecated use of {SECRET}", UserWarning, stacklevel=1)
    text = out.getvalue()
    assert "WARNING py.warnings:" in text
    assert SECRET not in text
    assert REDACTED in text


def test_the_final_text_is_scrubbed_too(out: io.StringIO) -> None:
    # A secret can reach a line outside the message (here, a logger named after a URL).
    logging.getLogger(f"aiohttp.client.{SECRET}").warning("closed")
    assert SECRET not in out.getvalue()
    assert f"aiohttp.client.{REDACTED}: closed" in out.getvalue()


async def test_lines_logged_while_working_on_a_job_carry_its_id(out: io.StringIO) -> None:
    import asyncio

    from bot.logs import current_job

    setup_logging("INFO", stream=out)
    lower = logging.getLogger("bot.wiro.client")

    async def run_job(job_id: int) -> None:
        current_job.set(job_id)
        lower.info("task 534574: Task/Detail failed")
        job_logger(logging.getLogger("bot.jobs.service"), job_id).info("stage generating")

    await asyncio.gather(asyncio.create_task(run_job(7)), asyncio.create_task(run_job(8)))
    lower.info("socket reconnected")  # not about any job
    lines = out.getvalue().splitlines()
    assert any(line.endswith("job=7 task 534574: Task/Detail failed") for line in lines)
    assert any(line.endswith("job=8 task 534574: Task/Detail failed") for line in lines)
    assert any(line.endswith("job=8 stage generating") for line in lines)  # not doubled
    assert not any("job=8 job=8" in line for line in lines)
    assert lines[-1].endswith("bot.wiro.client: socket reconnected")
