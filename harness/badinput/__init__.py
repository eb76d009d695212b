"""Malformed input for a live server, and a model of what the server must answer to it.

``probes``: the malformed byte streams, one table of categories and their generators;
``model``: the oracle, what a correct server answers to each probe; ``live``: sending probes to a
running server and checking its answers, its log and its store against the model.
"""

from harness.badinput.live import Exchange, LiveChecker, LogFollower, StoreFollower, exchange_many
from harness.badinput.model import NO_SEQ, Outcome, ServerModel, reply_kind, split_replies
from harness.badinput.probes import (
    BAD_DATES,
    BAD_DIGITS,
    BAD_UTF8,
    CATEGORIES,
    GENERATORS,
    NAMES,
    OUT_OF_RANGE_NUMBERS,
    Draw,
    Probe,
    RandomDraw,
    batch_frame,
    bet_fields,
    probe,
    random_probes,
    raw_bet,
    raw_frame,
    string,
    valid_batch,
    valid_bet,
)

__all__ = [
    "BAD_DATES",
    "BAD_DIGITS",
    "BAD_UTF8",
    "CATEGORIES",
    "GENERATORS",
    "NAMES",
    "NO_SEQ",
    "OUT_OF_RANGE_NUMBERS",
    "Draw",
    "Exchange",
    "LiveChecker",
    "LogFollower",
    "Outcome",
    "Probe",
    "RandomDraw",
    "ServerModel",
    "StoreFollower",
    "batch_frame",
    "bet_fields",
    "exchange_many",
    "probe",
    "random_probes",
    "raw_bet",
    "raw_frame",
    "reply_kind",
    "split_replies",
    "string",
    "valid_batch",
    "valid_bet",
]
