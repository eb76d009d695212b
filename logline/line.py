"""One log line: ``%(asctime)s %(levelname)-8s action: A | result: R | key: value | ...``.

Writing: ``format_event`` joins the action, the result and the fields, each value passed
through ``clean_value`` (the one escaping rule). Reading: ``parse_line`` splits the logger's
prefix from the message and ``parse_message`` reads the message, strictly: the course's parser
rejects a whole log for one ``result:`` word outside success/fail/in_progress, so such a line is
a ``LogLineError`` here too, never an odd-looking event.

Round trip: ``parse_message(format_event(a, r, **f))`` gives ``a``, ``r`` and every value as
``clean_value`` made it (the same value whenever it was clean already).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(message)s"
ASCTIME_FORMAT = "%Y-%m-%d %H:%M:%S,%f"  # what %(asctime)s prints, milliseconds after the comma
FIELD_SEPARATOR = " | "
KEY_SEPARATOR = ":"

SUCCESS = "success"
FAIL = "fail"
IN_PROGRESS = "in_progress"
RESULTS = frozenset({SUCCESS, FAIL, IN_PROGRESS})

# The course: field names never repeat these.
RESERVED_KEYS = frozenset({"action", "result", "source"})
# A value is cut here (then "..." is appended): a line stays well under a pipe's atomic write.
MAX_VALUE_CHARS = 1000

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Every character str.splitlines() breaks a line on: none may survive inside a value.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_CLEAN = str.maketrans(dict.fromkeys(_LINE_BREAKS, " ") | {"|": "/"})
# The course's rule: whatever stands before ``action:`` (a timestamp of any format, a level, a
# prefix) is not part of the event. ``action:`` starts the line or follows a space or a ``|``.
_LINE = re.compile(r"^(?P<prefix>(?:.*?[\s|])??)(?P<message>action:.*)$", re.DOTALL)
_OUR_PREFIX = re.compile(
    r"^(?:(?P<asctime>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3})\s+)?"
    r"(?:(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+)?$"
)
_ANY_LEVEL = re.compile(r"(?:^|\s)(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s*$")


class LogLineError(ValueError):
    """A line shaped like an event (``action: ...``) that breaks the contract."""

    def __init__(self, reason: str, line: str) -> None:
        super().__init__(f"invalid log line ({reason}): {line!r}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class LogEvent:
    """What an event line says: its action, its result, and the other fields in order."""

    action: str
    result: str
    fields: dict[str, str] = field(default_factory=dict, hash=False)

    def message(self) -> str:
        return format_event(self.action, self.result, **self.fields)


@dataclass(frozen=True)
class ParsedLine:
    """An event line: the logger's prefix (None when the line has none) and the event."""

    asctime: str | None
    level: str | None
    event: LogEvent

    @property
    def time(self) -> datetime | None:
        """The logger's timestamp (naive, the writer's local time)."""
        if self.asctime is None:
            return None
        return datetime.strptime(self.asctime, ASCTIME_FORMAT)


# -- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uncut:
    """A value that must reach the reader whole (the client's list of winners, whose length the
    protocol bounds): escaped like any other, never cut at ``MAX_VALUE_CHARS``."""

    value: object

    def __str__(self) -> str:
        return str(self.value)


def clean_value(value: object) -> str:
    """``value`` as it may stand in a line: every ``|`` becomes ``/``, every line break a space,
    surrounding whitespace goes, and past ``MAX_VALUE_CHARS`` characters it is cut, ending ``...``
    (unless it is ``Uncut``)."""
    text = str(value).translate(_CLEAN).strip()
    if len(text) > MAX_VALUE_CHARS and not isinstance(value, Uncut):
        text = text[:MAX_VALUE_CHARS] + "..."
    return text


def format_event(action: str, result: str, /, **fields: object) -> str:
    """``action: A | result: R | k1: v1 | k2: v2``, the keys in the given order.

    A bad action, result or key is the caller's bug: ``ValueError``."""
    if not _NAME.match(action):
        raise ValueError(f"action {action!r} is not a name")
    if result not in RESULTS:
        raise ValueError(f"result {result!r} is not one of {sorted(RESULTS)}")
    parts = [f"action: {action}", f"result: {result}"]
    for key, value in fields.items():
        if not _NAME.match(key) or key in RESERVED_KEYS:
            raise ValueError(f"field name {key!r} is not allowed in a log line")
        parts.append(f"{key}: {clean_value(value)}")
    return FIELD_SEPARATOR.join(parts)


def format_asctime(when: datetime) -> str:
    """``when`` as ``%(asctime)s`` prints it: ``2026-11-27 04:57:01,123``."""
    return when.strftime("%Y-%m-%d %H:%M:%S,") + f"{when.microsecond // 1000:03d}"


def format_line(message: str, level: str, when: datetime) -> str:
    """A whole line as ``LOG_FORMAT`` writes it (for lines not written through ``logging``)."""
    return f"{format_asctime(when)} {level:<8} {message}"


# -- reading ------------------------------------------------------------------------------


def parse_line(text: str) -> ParsedLine | None:
    """The event of one line, None when the line is not an event at all (a traceback, a blank
    line); ``LogLineError`` when it is a broken one. Any text before ``action:`` is ignored, but
    ``LOG_FORMAT``'s timestamp and level are kept when that is what it is."""
    match = _LINE.match(text.strip())
    if match is None:
        return None
    prefix = match.group("prefix")
    ours = _OUR_PREFIX.match(prefix)
    if ours is not None:
        asctime, level = ours.group("asctime"), ours.group("level")
    else:  # another implementation's format: keep its level when it ends the prefix
        other = _ANY_LEVEL.search(prefix)
        asctime, level = None, other.group("level") if other else None
    return ParsedLine(asctime, level, parse_message(match.group("message")))


def parse_message(message: str) -> LogEvent:
    """The event of ``action: A | result: R | key: value ...``; ``LogLineError`` if it breaks the
    contract: no action name, no ``result:`` second, a result outside success/fail/in_progress,
    a field without ``key:``, a reserved or repeated key."""
    parts = message.strip().split(FIELD_SEPARATOR)
    key, action = _pair(parts[0])
    if key != "action" or not _NAME.match(action):
        raise LogLineError("no action name", message)
    if len(parts) < 2:
        raise LogLineError("no result", message)
    key, result = _pair(parts[1])
    if key != "result":
        raise LogLineError("the second field is not result", message)
    if result not in RESULTS:
        raise LogLineError(f"result {result!r} is not one of success, fail, in_progress", message)
    fields: dict[str, str] = {}
    for part in parts[2:]:
        key, value = _pair(part)
        if not _NAME.match(key):
            raise LogLineError(f"field {part!r} is not key: value", message)
        if key in RESERVED_KEYS or key in fields:
            raise LogLineError(f"field name {key!r} repeated or reserved", message)
        fields[key] = value
    return LogEvent(action, result, fields)


def _pair(part: str) -> tuple[str, str]:
    key, separator, value = part.partition(KEY_SEPARATOR)
    if not separator:
        return "", ""
    return key.strip(), value.strip()
