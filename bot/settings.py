"""Operator configuration: every environment variable of the product, read once in `main()`.

Nothing here runs at import time. `load_settings()` reads the environment (and `.env` when it
exists) and either returns `Settings` or raises `ConfigError` with one plain line per problem.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Period = Literal["day", "week", "month"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

MAX_SHARDS = 4096  # far beyond one process; Discord recommends about one shard per 1,000 servers

# How to fix each variable, shown next to the problem. Keep in step with .env.example.
HINTS: dict[str, str] = {
    "DISCORD_TOKEN": "create a bot at https://discord.com/developers/applications"
    " (Bot → Reset Token) and put it in .env as DISCORD_TOKEN=…",
    "WIRO_API_KEY": "create a project at https://wiro.ai (Dashboard → Projects) and copy its"
    " API key, or set WIRO_SANDBOX=true to try the bot without a Wiro account",
    "WIRO_API_SECRET": "copy the API secret of the same Wiro project, or set WIRO_SANDBOX=true",
    "WIRO_API_BASE": "an http(s) URL such as https://api.wiro.ai/v1",
    "WIRO_SOCKET_URL": "a ws(s) URL such as wss://socket.wiro.ai/v1",
    "WIRO_OUTPUT_HOSTS": "comma-separated host suffixes, e.g. wiro.ai",
    "WIRO_SANDBOX": "true or false",
    "DATABASE_PATH": "a file path such as data/bot.sqlite3",
    "DEV_GUILD_ID": "the numeric id of your test server (Developer Mode → right-click → Copy ID)",
    "DEFAULT_QUOTA_CREDITS": "a whole number from 0 to 100000",
    "DEFAULT_QUOTA_PERIOD": "one of day, week, month",
    "MAX_JOBS_PER_USER": "a whole number from 1 to 100",
    "MAX_JOBS_PER_GUILD": "a whole number from 1 to 1000",
    "JOB_TIMEOUT_MINUTES": "a whole number of minutes from 1 to 240",
    "APPROVAL_EXPIRY_HOURS": "hours, more than 0 and at most 720; fractions allowed (0.5 = 30 min)",
    "MAX_CLIP_SECONDS": "a whole number from 10 to 300 (seconds)",
    "CLIP_STORE_MB": "a whole number of MB from 0 to 1000000 (0 keeps no clips)",
    "MIN_FREE_DISK_MB": "a whole number of MB from 0 to 1000000 (0 turns the check off)",
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    "SHARD_COUNT": f"a whole number from 1 to {MAX_SHARDS}, set together with SHARD_IDS;"
    " or leave both unset to use the count Discord recommends",
    "SHARD_IDS": "the shards this process runs, from 0 to SHARD_COUNT - 1: a range such as 0-3,"
    " a list such as 0,1,2,3, or both (0-3,8); or leave both unset",
}


class ConfigError(Exception):
    """Configuration is missing or invalid; `problems` holds one human line per variable."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Everything the operator configures. Field names map 1:1 to environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        validate_default=True,
    )

    discord_token: SecretStr = Field(description="Bot token from the Discord developer portal")
    wiro_api_key: SecretStr | None = None
    wiro_api_secret: SecretStr | None = None
    wiro_api_base: str = "https://api.wiro.ai/v1"
    wiro_socket_url: str = "wss://socket.wiro.ai/v1"
    wiro_output_hosts: str = "wiro.ai"
    wiro_sandbox: bool = False
    database_path: Path = Path("data/bot.sqlite3")
    dev_guild_id: int | None = None
    default_quota_credits: int = Field(10, ge=0, le=100_000)
    default_quota_period: Period = "day"
    max_jobs_per_user: int = Field(2, ge=1, le=100)
    max_jobs_per_guild: int = Field(10, ge=1, le=1000)
    job_timeout_minutes: int = Field(20, ge=1, le=240)
    approval_expiry_hours: float = Field(24.0, gt=0, le=720, allow_inf_nan=False)
    # How long a finished clip (and its final card) is retried while Discord fails (5xx,
    # dropped connections) before the card links the clip instead. Fractions are allowed.
    delivery_retry_minutes: float = Field(15.0, gt=0, le=240, allow_inf_nan=False)
    max_clip_seconds: int = Field(60, ge=10, le=300)
    # The disk: kept clips, their last frames and first-frame images stay under CLIP_STORE_MB
    # (oldest removed first); under MIN_FREE_DISK_MB free, new jobs are refused.
    clip_store_mb: int = Field(2048, ge=0, le=1_000_000)
    min_free_disk_mb: int = Field(500, ge=0, le=1_000_000)
    log_level: LogLevel = "INFO"
    # Unset: the shard count Discord recommends (GET /gateway/bot), every shard in this process.
    shard_count: int | None = Field(None, ge=1, le=MAX_SHARDS)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None

    @field_validator("discord_token", "wiro_api_key", "wiro_api_secret", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("dev_guild_id", "shard_count", mode="before")
    @classmethod
    def _blank_guild(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_list(cls, value: object) -> object:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids")
    @classmethod
    def _shards_in_count(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if "shard_count" not in info.data:
            return value  # SHARD_COUNT itself is invalid and reported
        count = info.data["shard_count"]
        if value is None:
            if count is not None:
                raise ValueError(
                    f"is not set, but SHARD_COUNT is: set both (SHARD_IDS=0-{count - 1} runs every"
                    " shard in this process)"
                )
            return None
        if count is None:
            raise ValueError("is set, but SHARD_COUNT is not: set both")
        outside = [i for i in value if i >= count]
        if outside:
            raise ValueError(
                f"names shard {outside[0]}, outside SHARD_COUNT={count}"
                f" (shards are 0 to {count - 1})"
            )
        return value

    @field_validator("default_quota_period", mode="before")
    @classmethod
    def _lower_period(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("wiro_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _checked_url(value, "http", "an http(s) URL").rstrip("/")

    @field_validator("wiro_socket_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        return _checked_url(value, "ws", "a ws(s) URL")

    @field_validator("wiro_output_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        hosts = [h.strip().lower().lstrip(".") for h in value.split(",") if h.strip()]
        if not hosts:
            raise ValueError("must name at least one host")
        return ",".join(hosts)

    @model_validator(mode="after")
    def _wiro_credentials(self) -> Settings:
        missing = _missing_wiro_credentials(
            self.wiro_sandbox, self.wiro_api_key, self.wiro_api_secret
        )
        if missing:
            raise _MissingWiroCredentials(missing)
        return self

    @property
    def output_hosts(self) -> tuple[str, ...]:
        """Host suffixes the bot may download clips from."""
        return tuple(self.wiro_output_hosts.split(","))


_TRUE = {"1", "true", "yes", "on", "y", "t"}


def parse_shard_ids(text: str) -> tuple[int, ...] | None:
    """Read SHARD_IDS ("0-3", "0,1,2,3", "0-3,8"): the shard ids, sorted; None when blank."""
    if not text.strip():
        return None
    ids: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"cannot read {part.strip()!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"the range {part.strip()!r} runs backwards")
        ids.extend(range(first, last + 1))
    if len(set(ids)) != len(ids):
        raise ValueError("names a shard more than once")
    return tuple(sorted(ids))


def _checked_url(value: str, plain: str, what: str) -> str:
    """`value` if it is `what` (scheme `plain` or its secure twin), plain only for a loopback
    address: signed headers would cross the network in the clear."""
    parts = urlsplit(value)
    if parts.scheme not in (plain, f"{plain}s") or not parts.netloc:
        raise ValueError(f"must be {what}")
    if parts.scheme == plain and not is_loopback_host(parts.hostname or ""):
        raise ValueError(f"must use {plain}s (plain {plain} only for a loopback address)")
    return value


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts plain http is allowed for."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _MissingWiroCredentials(ValueError):
    def __init__(self, fields: list[str]):
        super().__init__("required unless WIRO_SANDBOX=true")
        self.fields = fields


class _CredentialPresence(BaseSettings):
    """The three variables that decide whether Wiro credentials are needed, read leniently.

    Lets the report name missing credentials together with every other problem, even when the
    rest of the configuration fails validation first.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore"
    )
    wiro_sandbox: str | None = None
    wiro_api_key: str | None = None
    wiro_api_secret: str | None = None


def _missing_wiro_credentials(sandbox: object, key: object, secret: object) -> list[str]:
    if str(sandbox).strip().lower() in _TRUE:
        return []

    def blank(value: object) -> bool:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value is None or not str(value).strip()

    return [
        name for name, value in (("wiro_api_key", key), ("wiro_api_secret", secret)) if blank(value)
    ]


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """Turn one pydantic error into (VARIABLE, what is wrong)."""
    loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    name = loc[0].upper() if loc else "CONFIGURATION"
    kind = error.get("type", "")
    if kind == "missing":
        return name, "is not set"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return name, message[0].lower() + message[1:] if message else "is invalid"


class DiscordSettings(BaseSettings):
    """What `python -m bot sync` needs: the token (and where to publish), nothing else."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore"
    )

    discord_token: SecretStr
    dev_guild_id: int | None = None
    log_level: LogLevel = "INFO"

    @field_validator("discord_token", "dev_guild_id", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        if isinstance((error.get("ctx") or {}).get("error"), _MissingWiroCredentials):
            continue  # reported by load_settings, once, from the raw values
        var, what = _describe(error)
        hint = HINTS.get(var)
        problems.append(f"{var} {what}" + (f": {hint}" if hint else ""))
    return problems


def load_discord_settings(env_file: str | Path | None = ".env") -> DiscordSettings:
    """Read only DISCORD_TOKEN, DEV_GUILD_ID and LOG_LEVEL, or raise `ConfigError`."""
    try:
        return DiscordSettings(_env_file=env_file)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read the configuration or raise `ConfigError` naming every problem and its fix."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = _problems(exc)
        raw = _CredentialPresence(_env_file=env_file)
        sandbox = overrides.get("wiro_sandbox", raw.wiro_sandbox)
        for field in _missing_wiro_credentials(
            sandbox if sandbox is not None else "false",
            overrides.get("wiro_api_key", raw.wiro_api_key),
            overrides.get("wiro_api_secret", raw.wiro_api_secret),
        ):
            var = field.upper()
            problems.append(f"{var} is not set (required unless WIRO_SANDBOX=true): {HINTS[var]}")
        raise ConfigError(problems) from None
