"""Client settings: ``client/config.yaml`` (or ``$CLI_CONFIG``), each key overridable by a CLI_* variable."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from client.backoff import BackoffSettings

DEFAULT_CONFIG_PATH = Path(__file__).with_name("config.yaml")
DEFAULT_DATA_PATH = "/data/agency-{id}.csv"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_AGENCY = 2**32 - 1

T = TypeVar("T")

_ADDRESS = re.compile(r"\s*(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})\s*")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why, in one line."""


@dataclass(frozen=True, slots=True)
class ServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClientConfig:
    agency: int
    server: ServerAddress
    batch_max_amount: int
    log_level: str
    data_path: Path
    backoff: BackoffSettings
    connect_deadline: float  # seconds without a working connection before giving up
    read_timeout: float  # seconds to wait for any reply of the server
    batch_pause: float = 0.0  # seconds between one acknowledged batch and the next (a throttle)


# -- value parsers: each takes the raw value (YAML scalar or env string), returns it or raises ValueError --


def parse_positive_int(value: object, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"must be a positive integer, got {value!r}")
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}, got {value}")
    return value


def parse_seconds(value: object, *, allow_zero: bool = False) -> float:
    """A number of seconds: ``2``, ``0.05``, ``"0.05"``, ``"5s"`` or ``"50ms"``; 0 (none) only with
    ``allow_zero`` (a pause may be none; a timeout or a back-off may not)."""
    wanted = "a non-negative number of seconds" if allow_zero else "a positive number of seconds"
    if isinstance(value, bool):
        raise ValueError(f"must be {wanted}, got {value!r}")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*", value)
        if match:
            seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"must be {wanted}, got {value!r}")
    return seconds


def parse_multiplier(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number >= 1, got {value!r}")
    try:
        multiplier = float(value)
    except ValueError:
        raise ValueError(f"must be a number >= 1, got {value!r}") from None
    if not math.isfinite(multiplier) or multiplier < 1:
        raise ValueError(f"must be a number >= 1, got {value!r}")
    return multiplier


def parse_address(value: object) -> ServerAddress:
    """``host:port`` (``[v6addr]:port`` for an IPv6 literal)."""
    if not isinstance(value, str):
        raise ValueError(f"must be 'host:port', got {value!r}")
    match = _ADDRESS.fullmatch(value)
    if not match:
        raise ValueError(f"must be 'host:port', got {value!r}")
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    return ServerAddress(match.group("v6") or match.group("host"), port)


def parse_log_level(value: object) -> str:
    level = str(value).strip().upper() if isinstance(value, str) else None
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def parse_path(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a file path, got {value!r}")
    return value.strip()


# -- loading ----------------------------------------------------------------------------


def read_config_file(env: Mapping[str, str]) -> dict[str, Any]:
    """The YAML document as a mapping; the default file may be absent, an explicit ``CLI_CONFIG`` may not."""
    explicit = env.get("CLI_CONFIG")
    path = Path(explicit) if explicit else DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} (CLI_CONFIG) does not exist") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(document).__name__}")
    return document


class _Settings:
    """Looks a setting up in the environment first, then in the YAML document, then takes the default."""

    def __init__(self, document: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self._document = document
        self._env = env

    def get(self, key: str, env_var: str, parse: Callable[[object], T], default: object = None) -> T:
        raw: object
        if self._env.get(env_var, "").strip():  # an empty variable counts as unset
            raw, origin = self._env[env_var], f"{env_var}={self._env[env_var]!r}"
        else:
            raw, origin = self._from_document(key), f"'{key}' in the config file"
            if raw is None:
                if default is None:
                    raise ConfigError(f"missing setting '{key}' (set it in the config file or {env_var})")
                raw, origin = default, f"default of '{key}'"
        try:
            return parse(raw)
        except ValueError as exc:
            raise ConfigError(f"bad {origin}: {key} {exc}") from None

    def _from_document(self, key: str) -> object:
        node: object = self._document
        walked: list[str] = []
        for part in key.split("."):
            if node is None:
                return None
            if not isinstance(node, dict):
                raise ConfigError(f"'{'.'.join(walked)}' in the config file must be a mapping")
            node = node.get(part)
            walked.append(part)
        return node


def load_config(env: Mapping[str, str] | None = None) -> ClientConfig:
    """The client's settings; raises ``ConfigError`` with a one-line reason when any is missing or wrong."""
    env = os.environ if env is None else env
    settings = _Settings(read_config_file(env), env)
    agency = settings.get("id", "CLI_ID", lambda value: parse_positive_int(value, MAX_AGENCY))
    backoff = BackoffSettings(
        initial=settings.get("backoff.initial", "CLI_BACKOFF_INITIAL", parse_seconds, 0.05),
        maximum=settings.get("backoff.max", "CLI_BACKOFF_MAX", parse_seconds, 2.0),
        multiplier=settings.get("backoff.multiplier", "CLI_BACKOFF_MULTIPLIER", parse_multiplier, 2.0),
    )
    if backoff.maximum < backoff.initial:
        raise ConfigError(f"backoff.max ({backoff.maximum}) must not be below backoff.initial ({backoff.initial})")
    data_path = settings.get("data.path", "CLI_DATA_PATH", parse_path, DEFAULT_DATA_PATH)
    return ClientConfig(
        agency=agency,
        server=settings.get("server.address", "CLI_SERVER_ADDRESS", parse_address),
        batch_max_amount=settings.get("batch.maxAmount", "CLI_BATCH_MAXAMOUNT", parse_positive_int, 100),
        log_level=settings.get("log.level", "CLI_LOG_LEVEL", parse_log_level, "INFO"),
        data_path=Path(data_path.replace("{id}", str(agency))),
        backoff=backoff,
        connect_deadline=settings.get("connect.deadline", "CLI_CONNECT_DEADLINE", parse_seconds, 30.0),
        read_timeout=settings.get("timeout.read", "CLI_READ_TIMEOUT", parse_seconds, 10.0),
        batch_pause=settings.get(
            "batch.pause", "CLI_BATCH_PAUSE", lambda value: parse_seconds(value, allow_zero=True), 0.0
        ),
    )
