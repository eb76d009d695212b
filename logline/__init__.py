"""The log contract (docs/CONVENTIONS.md), defined once for the server, the client and the harness.

``action: A | result: R | key: value | ...`` lines: how a value is made safe for a line
(``clean_value``), how an event is written (``format_event``, ``format_line``), how a line is
read back, strictly (``parse_line``, ``parse_message``: a line shaped like an event that breaks
the contract raises ``LogLineError``), and the action names each side logs (``logline.actions``).
Standard library only: the server and client images carry this package as they carry ``protocol``.
"""

from logline.line import (
    ASCTIME_FORMAT,
    FAIL,
    FIELD_SEPARATOR,
    IN_PROGRESS,
    LOG_FORMAT,
    MAX_VALUE_CHARS,
    RESERVED_KEYS,
    RESULTS,
    SUCCESS,
    LogEvent,
    LogLineError,
    ParsedLine,
    Uncut,
    clean_value,
    format_asctime,
    format_event,
    format_line,
    parse_line,
    parse_message,
)

__all__ = [
    "ASCTIME_FORMAT",
    "FAIL",
    "FIELD_SEPARATOR",
    "IN_PROGRESS",
    "LOG_FORMAT",
    "MAX_VALUE_CHARS",
    "RESERVED_KEYS",
    "RESULTS",
    "SUCCESS",
    "LogEvent",
    "LogLineError",
    "ParsedLine",
    "Uncut",
    "clean_value",
    "format_asctime",
    "format_event",
    "format_line",
    "parse_line",
    "parse_message",
]
