"""Server settings: ``[DEFAULT]`` of the ini file, each key overridable by the env var of the same name."""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DEFAULT_CONFIG_PATH = "server/config.ini"
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

T = TypeVar("T")


class ConfigError(Exception):
    """The configuration is missing or invalid; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    port: int
    ip: str
    listen_backlog: int
    logging_level: str
    agencies: int
    storage_path: Path
    workers: int
    read_timeout: float
    winners_hold: float
    storage_fsync: bool


def load_config(environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Read the file named by ``SERVER_CONFIG`` (default ``server/config.ini``, relative to the cwd)."""
    env = os.environ if environ is None else environ
    path = Path(env.get("SERVER_CONFIG", DEFAULT_CONFIG_PATH))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as file:
            parser.read_file(file)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        message = " ".join(str(exc).split())
        raise ConfigError(f"cannot parse config file {str(path)!r}: {message}") from None
    values = parser["DEFAULT"]

    def get(key: str, convert: Callable[[str], T], default: str | None = None) -> T:
        raw = env.get(key, values.get(key, default))
        if raw is None:
            raise ConfigError(f"missing config key {key} (in {str(path)!r} or the environment)")
        try:
            return convert(raw.strip())
        except ValueError as exc:
            raise ConfigError(f"invalid value {raw!r} for {key}: {exc}") from None

    return ServerConfig(
        port=get("SERVER_PORT", _int_between(0, 65535)),
        ip=get("SERVER_IP", _non_empty),
        listen_backlog=get("SERVER_LISTEN_BACKLOG", _int_between(0, 65535)),
        logging_level=get("LOGGING_LEVEL", _logging_level),
        agencies=get("AGENCIES", _int_between(0, 2**32 - 1), "5"),  # 0: a server alone, never draws
        storage_path=Path(get("STORAGE_PATH", _non_empty, "./bets.csv")),
        workers=get("WORKERS", _int_between(1, 1024), str(max(1, os.cpu_count() or 1))),
        read_timeout=get("READ_TIMEOUT", _positive_seconds, "10"),
        winners_hold=get("WINNERS_HOLD", _non_negative_seconds, "1.0"),
        storage_fsync=get("STORAGE_FSYNC", _boolean, "false"),
    )


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return convert


def _non_empty(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


def _logging_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOGGING_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOGGING_LEVELS)}")
    return level


def _positive_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


def _non_negative_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("must be zero or a positive number of seconds")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be one of {', '.join(_TRUE + _FALSE)}")
