"""What the Lotería checks (ej5-ej8) share: the settings they write, their timeouts, and the
server's ``apuesta_recibida`` lines read live or after the run."""

from __future__ import annotations

from harness.check.lines import Line, RunLog, parse_contract_line
from harness.check.run import SutRun

MAX_FRAME_BYTES = 8192  # the contract's frame limit
MAX_AMOUNT = 40  # batch.maxAmount the checks write: 40 plain bets fit an 8 kB frame with room to spare
BET_TIMEOUT = 60
BATCH_TIMEOUT = 120
WINNERS_TIMEOUT = 120
STALL_TIMEOUT = 30
LINE_TIMEOUT = 10
# The engine stamps each container's lines as it reads them: lines of two containers logged within
# a few milliseconds may be stamped in the other order. Ordering checks allow this much.
ORDER_TOLERANCE = 0.5  # an early answer comes before the last agency has even started: seconds early
ENV_BET = {
    "NOMBRE": "Santiago Lionel",
    "APELLIDO": "Lorca",
    "DOCUMENTO": "30904465",
    "NACIMIENTO": "1999-03-17",
    "NUMERO": "7574",
}


def client_services(count: int) -> list[str]:
    return [f"client{number}" for number in range(1, count + 1)]


def batches(log: RunLog) -> list[Line]:
    """The server's ``apuesta_recibida`` lines (success and fail), in order."""
    return log.find("apuesta_recibida", service="server")


def stored_batches(run: SutRun) -> list[int]:
    """``cantidad`` of each ``apuesta_recibida | result: success`` the server logged so far (live)."""
    sizes = []
    for text in run.cluster.hub.lines("server"):
        event = parse_contract_line(text, "server")
        if event is not None and event.matches("apuesta_recibida", "success"):
            sizes.append(event.int_field("cantidad") or 0)
    return sizes


def wait_for_total(run: SutRun, total: int, timeout: float = LINE_TIMEOUT) -> bool:
    """Until the server's ``apuesta_recibida`` lines (from the start) add up to ``total``, at most
    ``timeout`` s (after a client's exit: its log may trail it); whether they did."""
    counted = 0

    def enough(service: str, text: str) -> bool:
        nonlocal counted
        event = parse_contract_line(text, service)
        if service == "server" and event is not None and event.matches("apuesta_recibida", "success"):
            counted += event.int_field("cantidad") or 0
        return counted >= total

    return run.cluster.hub.wait_for_line(enough, timeout) is not None
