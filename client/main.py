"""``python -m client``: settings, the bets' source, the session with the server, the exit code.

Exit codes: 0 done, or stopped by SIGTERM/SIGINT; 1 the run failed (a malformed row, a
request the server refused, no server within ``connect.deadline``); 2 unusable settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import TextIO

from client.backoff import Backoff
from client.bets import BET_ENV_VARS, MalformedRow, bet_from_env, read_bets
from client.config import ClientConfig, ConfigError, load_config
from client.link import ConnectDeadlineExceeded, ServerLink
from client.logs import configure_logging
from client.session import ClientFailure, Session
from client.shutdown import ShutdownRequested, ShutdownSignals
from logline import FAIL, SUCCESS, format_event
from logline.actions import CONFIG, LEER_APUESTAS, SHUTDOWN
from protocol import BetData

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2

logger = logging.getLogger("client")


@dataclass
class BetSource:
    """Either the open agency file or the one bet of the environment."""

    bets_file: TextIO | None = None
    single_bet: BetData | None = None

    def close(self) -> None:
        if self.bets_file is not None:
            self.bets_file.close()


def open_bet_source(config: ClientConfig, env: Mapping[str, str]) -> BetSource:
    """The agency file when it exists, else the NOMBRE..NUMERO bet; ``ConfigError`` when neither is usable."""
    try:
        return BetSource(bets_file=open(config.data_path, encoding="utf-8-sig", newline=""))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot open agency file {config.data_path}: {exc.strerror or exc}") from None
    try:
        bet = bet_from_env(env)
    except ValueError as exc:
        raise ConfigError(f"no agency file at {config.data_path} and {exc}") from None
    if bet is None:
        raise ConfigError(f"no agency file at {config.data_path} and no bet in {', '.join(BET_ENV_VARS)}")
    return BetSource(single_bet=bet)


def log_config(config: ClientConfig, source: BetSource) -> None:
    logger.info(
        format_event(
            CONFIG,
            SUCCESS,
            client_id=config.agency,
            server_address=config.server,
            batch_max_amount=config.batch_max_amount,
            log_level=config.log_level,
            bets=config.data_path if source.bets_file is not None else "env NOMBRE..NUMERO",
            connect_deadline=f"{config.connect_deadline:g}",
            read_timeout=f"{config.read_timeout:g}",
            batch_pause=f"{config.batch_pause:g}",
        )
    )


def run(config: ClientConfig, source: BetSource) -> int:
    """Send the bets, FINISHED, wait for the winners; the exit code (failures are logged here or below)."""
    link = ServerLink(
        config.server,
        Backoff(config.backoff),
        connect_deadline=config.connect_deadline,
        read_timeout=config.read_timeout,
    )
    with link:
        session = Session(config.agency, link, Backoff(config.backoff))
        try:
            if source.bets_file is not None:
                session.send_batches(read_bets(source.bets_file), config.batch_max_amount, config.batch_pause)
            elif source.single_bet is not None:
                session.send_single_bet(source.single_bet)
            session.finish()
            session.await_winners()
        except MalformedRow as bad_row:
            logger.error(format_event(LEER_APUESTAS, FAIL, linea=bad_row.line, error=bad_row.error))
            return EXIT_FAILED
        except (ClientFailure, ConnectDeadlineExceeded):
            return EXIT_FAILED
    return EXIT_DONE


def configure_and_run(env: Mapping[str, str]) -> int:
    try:
        config = load_config(env)
        source = open_bet_source(config, env)
    except ConfigError as exc:
        logger.error(format_event(CONFIG, FAIL, error=exc))
        return EXIT_BAD_CONFIG
    configure_logging(config.log_level)
    with closing(source):
        log_config(config, source)
        return run(config, source)


def main(signals: ShutdownSignals | None = None) -> int:
    """The whole client; ``signals`` are the SIGTERM/SIGINT handlers if already installed."""
    signals = signals or ShutdownSignals.install()
    try:
        configure_logging()
        exit_code = configure_and_run(os.environ)
        signals.disarm()  # from here on a late signal changes nothing: no second shutdown line
    except ShutdownRequested as stop:
        logger.info(format_event(SHUTDOWN, SUCCESS, reason=stop.signal_name))
        return EXIT_DONE
    if exit_code == EXIT_DONE:
        logger.info(format_event(SHUTDOWN, SUCCESS, reason="done"))
    return exit_code
