"""``python -m client``. The signal handlers go in before anything else is imported, so that a
SIGTERM during start-up is as clean a stop as one later on."""

from client.shutdown import ShutdownRequested, ShutdownSignals

signals = ShutdownSignals.install()
try:
    from client.main import main
except ShutdownRequested as stop:
    from client.logs import configure_logging, logger
    from logline import SUCCESS, format_event
    from logline.actions import SHUTDOWN

    configure_logging()
    logger.info(format_event(SHUTDOWN, SUCCESS, reason=stop.signal_name))
    raise SystemExit(0) from None

raise SystemExit(main(signals))
