"""Settings: every problem named with its fix, secrets kept secret, unsafe URLs refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings
from tests.factories import BOT_VARIABLES

BASE = {"DISCORD_TOKEN": "token-0123456789", "WIRO_SANDBOX": "true"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BOT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def load(monkeypatch: pytest.MonkeyPatch, **env: str):  # type: ignore[no-untyped-def]
    for name, value in {**BASE, **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings(env_file=None)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ConfigError) as error:
        load(monkeypatch, **env)
    return "\n".join(error.value.problems)


def test_defaults_match_the_product_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.wiro_api_base == "https://api.wiro.ai/v1"
    assert settings.wiro_socket_url == "wss://socket.wiro.ai/v1"
    assert settings.output_hosts == ("wiro.ai",)
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.dev_guild_id is None
    assert (settings.default_quota_credits, settings.default_quota_period) == (10, "day")
    assert (settings.max_jobs_per_user, settings.max_jobs_per_guild) == (2, 10)
    assert settings.job_timeout_minutes == 20
    assert settings.max_clip_seconds == 60
    assert settings.log_level == "INFO"


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        WIRO_SANDBOX="false",
        WIRO_API_KEY="key-abcdef123",
        WIRO_API_SECRET="sec-xyz789",
    )
    text = repr(settings) + str(settings)
    assert "token-0123456789" not in text and "key-abcdef123" not in text
    assert "sec-xyz789" not in text


def test_every_missing_required_variable_is_named_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigError) as error:
        load_settings(env_file=None)
    text = "\n".join(error.value.problems)
    for name in ("DISCORD_TOKEN", "WIRO_API_KEY", "WIRO_API_SECRET"):
        assert f"{name} is not set" in text
    assert "WIRO_SANDBOX=true" in text


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"MAX_JOBS_PER_USER": "abc"}, "MAX_JOBS_PER_USER"),
        ({"MAX_JOBS_PER_USER": "0"}, "a whole number from 1 to 100"),
        ({"DEFAULT_QUOTA_PERIOD": "year"}, "one of day, week, month"),
        ({"DEFAULT_QUOTA_CREDITS": "-1"}, "DEFAULT_QUOTA_CREDITS"),
        ({"JOB_TIMEOUT_MINUTES": "0"}, "JOB_TIMEOUT_MINUTES"),
        ({"MAX_CLIP_SECONDS": "9"}, "MAX_CLIP_SECONDS"),
        ({"MAX_CLIP_SECONDS": "301"}, "a whole number from 10 to 300"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DEV_GUILD_ID": "my-server"}, "DEV_GUILD_ID"),
        ({"WIRO_API_BASE": "ftp://api.wiro.ai"}, "must be an http(s) URL"),
        ({"WIRO_API_BASE": "http://api.example.com/v1"}, "must use https"),
        ({"WIRO_SOCKET_URL": "ws://socket.example.com/v1"}, "must use wss"),
        ({"WIRO_OUTPUT_HOSTS": " , "}, "WIRO_OUTPUT_HOSTS"),
    ],
)
def test_bad_values_are_named_with_their_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: str
) -> None:
    assert words in problems(monkeypatch, **env)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "localhost", "[::1]"])
def test_plain_http_is_allowed_only_for_loopback(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    settings = load(
        monkeypatch, WIRO_API_BASE=f"http://{host}:8080/v1", WIRO_SOCKET_URL=f"ws://{host}:8080/v1"
    )
    assert settings.wiro_api_base.startswith("http://")


def test_values_are_read_leniently(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        DEFAULT_QUOTA_PERIOD=" Week ",
        LOG_LEVEL="debug",
        WIRO_OUTPUT_HOSTS=" Wiro.AI, .cdn.example.org ",
        DEV_GUILD_ID="",
    )
    assert settings.default_quota_period == "week"
    assert settings.log_level == "DEBUG"
    assert settings.output_hosts == ("wiro.ai", "cdn.example.org")
    assert settings.dev_guild_id is None


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text('DISCORD_TOKEN="from-dotenv-123"\nWIRO_SANDBOX=true\nMAX_JOBS_PER_USER=4\n')
    settings = load_settings(env_file=env_file)
    assert settings.discord_token.get_secret_value() == "from-dotenv-123"
    assert settings.max_jobs_per_user == 4


# ----- SHARD_COUNT and SHARD_IDS: both or neither -----
def test_unset_shards_mean_discords_recommendation(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, SHARD_COUNT="", SHARD_IDS=" ")
    assert (settings.shard_count, settings.shard_ids) == (None, None)


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        ("4", "0-3", (0, 1, 2, 3)),
        ("4", "2,3", (2, 3)),
        ("10", " 8 , 0-2 ", (0, 1, 2, 8)),
        ("1", "0", (0,)),
    ],
)
def test_a_range_of_shards_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, count: str, ids: str, expected: tuple[int, ...]
) -> None:
    settings = load(monkeypatch, SHARD_COUNT=count, SHARD_IDS=ids)
    assert (settings.shard_count, settings.shard_ids) == (int(count), expected)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"SHARD_COUNT": "4"}, "SHARD_IDS is not set, but SHARD_COUNT is: set both (SHARD_IDS=0-3"),
        ({"SHARD_IDS": "0-1"}, "SHARD_IDS is set, but SHARD_COUNT is not: set both"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2,4"}, "SHARD_IDS names shard 4, outside SHARD_COUNT"),
        ({"SHARD_COUNT": "0", "SHARD_IDS": "0"}, "SHARD_COUNT input should be greater than"),
        ({"SHARD_COUNT": "many", "SHARD_IDS": "0"}, "SHARD_COUNT input should be a valid integer"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "SHARD_IDS cannot read 'one'"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS cannot read '-1'"),
        ({"SHARD_COUNT": "3", "SHARD_IDS": "2-0"}, "SHARD_IDS the range '2-0' runs backwards"),
        ({"SHARD_COUNT": "3", "SHARD_IDS": "0-1,1"}, "SHARD_IDS names a shard more than once"),
    ],
)
def test_shard_settings_that_cannot_work_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    text = problems(monkeypatch, **env)
    assert said in text
    assert len(text.splitlines()) == 1  # one line, with how to fix it
    assert "leave both unset" in text
