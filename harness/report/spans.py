"""The spans of a lane, each derived from a pair of lines or records: a container's run (start to
exit), connections, batches stored then acknowledged, the wait for the winners; and the fault
windows of the harness lane (inject to undo)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence

from harness.faults import FAULT_ACTION
from harness.lifecycle import ExitRecord
from harness.logs import Event
from harness.report.model import SPANS_PER_KIND, FaultWindow, Span


def run_spans(exits: Iterable[ExitRecord], start: float, end: float) -> list[Span]:
    spans = []
    for record in exits:
        if record.started is None:
            continue
        begin = record.started - start
        if record.finished is None:
            spans.append(Span("run", begin, end, "running", "in_progress", "no exit seen", open=True))
            continue
        code = record.exit_code
        how = f"exit {code}" + (" (SIGKILL)" if code == 137 else " (SIGTERM)" if code == 143 else "")
        if record.oom_killed:
            how += ", out of memory"
        spans.append(Span("run", begin, record.finished - start, how, "success" if code == 0 else "fail", how))
    return spans


def connection_spans(
    events: list[tuple[float, Event]], end: float, process_ends: Sequence[tuple[float, str, bool]] = ()
) -> list[Span]:
    """Server: ``accept_connections`` to the next ``close_connection`` / ``connection fail`` of the
    same peer address. Client: ``connect success`` to its next ``connect`` or ``shutdown``. Either
    way a connection still open when its container's process ended (``process_ends``: time, how,
    whether it exited 0) ends there: a killed server closes nothing in its log."""
    spans: list[Span] = []
    opened: dict[str, deque[float]] = defaultdict(deque)
    client_open: float | None = None
    pending_ends = deque(sorted(process_ends))

    def cut(at: float, how: str, exited_well: bool) -> None:
        nonlocal client_open
        result = "success" if exited_well else "fail"
        for address, times in opened.items():
            spans.extend(Span("connection", t, at, "connection", result, f"{address}: open when {how}") for t in times)
            times.clear()
        if client_open is not None:
            spans.append(Span("connection", client_open, at, "connection", result, f"open when {how}"))
            client_open = None

    for time, event in events:
        while pending_ends and pending_ends[0][0] <= time:
            cut(*pending_ends.popleft())
        if event.action == "accept_connections" and event.result == "success":
            opened[event.fields.get("ip") or ""].append(time)
        elif event.action in ("close_connection", "connection"):
            waiting = opened.get(event.fields.get("ip") or "")
            if waiting:
                begin = waiting.popleft()
                agency = event.fields.get("agencia")
                label = f"connection of agency {agency}" if agency and agency != "0" else "connection"
                result = "success" if event.result == "success" else "fail"
                detail = f"{event.fields.get('ip')}: {event.action} {event.result}"
                if event.fields.get("error"):
                    detail += f" ({event.fields.get('error')})"
                spans.append(Span("connection", begin, time, label, result, detail))
        elif event.action == "connect" or event.action == "shutdown":
            if client_open is not None:
                result = "fail" if event.action == "connect" and event.result == "fail" else "success"
                error = event.fields.get("error")
                detail = f"ended by {event.action} {event.result}" + (f": {error}" if error else "")
                spans.append(Span("connection", client_open, time, "connection", result, detail))
                client_open = None
            if event.action == "connect" and event.result == "success":
                client_open = time
    for at, how, exited_well in pending_ends:
        cut(at, how, exited_well)
    for address, times in opened.items():
        spans.extend(
            Span("connection", t, end, "connection", "in_progress", f"{address}: never closed", True) for t in times
        )
    if client_open is not None:
        spans.append(Span("connection", client_open, end, "connection", "in_progress", "never closed", True))
    return spans


def batch_spans(
    client_events: list[tuple[float, Event]], stored: Mapping[str, float]
) -> tuple[list[Span], Span | None]:
    """Each batch from the server storing it to the client seeing it acknowledged (none when there
    are more than ``SPANS_PER_KIND``), and one span over all of them."""
    acks = [(time, event) for time, event in client_events if event.action == "lote_confirmado"]
    if not acks:
        return [], None
    spans = []
    if len(acks) <= SPANS_PER_KIND:
        for time, event in acks:
            batch = event.fields.get("lote") or "?"
            begin = stored.get(batch, time)
            result = "success" if event.result == "success" else "fail"
            stored_before = 1000 * (time - begin)
            detail = f"{event.fields.get('cantidad')} bets, stored at the server {stored_before:.1f} ms before the ack"
            spans.append(Span("batch", begin, time, f"batch {batch}", result, detail))
    first_time, first_event = acks[0]
    first, last = stored.get(first_event.fields.get("lote") or "?", first_time), acks[-1][0]
    total = next((e.fields["total"] for _, e in reversed(acks) if e.fields.get("total")), "?")
    failed = sum(1 for _, event in acks if event.result != "success")
    summary = Span(
        "batches",
        first,
        last,
        f"{len(acks)} batches",
        "fail" if failed else "success",
        f"{len(acks)} batches acknowledged ({failed} rejected), {total} bets in all, over {last - first:.2f} s",
    )
    return spans, summary


def winners_span(client_events: list[tuple[float, Event]]) -> Span | None:
    """From FINISHED acknowledged to the winners' answer (or its failure)."""
    finished = next((time for time, e in client_events if e.matches("finalizado", "success")), None)
    if finished is None:
        return None
    for time, event in client_events:
        if time >= finished and event.action == "consulta_ganadores" and event.result in ("success", "fail"):
            winners = event.get("cant_ganadores")
            label = f"winners: {winners}" if event.result == "success" else "winners query failed"
            detail = f"{time - finished:.2f} s from FINISHED to the answer"
            return Span("winners", finished, time, label, event.result, detail)
    return None


def fault_windows(harness_events: list[tuple[float, Event]], end: float) -> list[FaultWindow]:
    windows = []
    active: dict[tuple[str, str], tuple[float, Event]] = {}
    for time, event in harness_events:
        if event.action != FAULT_ACTION:
            continue
        key = (event.get("kind") or "fault", event.get("service") or "?")
        phase = event.get("phase")
        if event.result == "fail":
            detail = f"{phase} failed: {event.get('error')}"
            windows.append(FaultWindow(key[0], key[1], time, time, False, detail))
        elif phase == "inject":
            if key[0] == "restart":
                windows.append(FaultWindow(key[0], key[1], time, time, True, "stopped and started in one step"))
            else:
                active[key] = (time, event)
        elif phase in ("undo", "teardown") and key in active:
            begin, injected = active.pop(key)
            after = f" after {injected.get('after')}" if injected.get("after") else ""
            how = "healed" if phase == "undo" else "left as it was at teardown"
            windows.append(FaultWindow(key[0], key[1], begin, time, phase == "undo", f"injected{after}; {how}"))
    for key, (begin, injected) in active.items():
        after = f" after {injected.get('after')}" if injected.get("after") else ""
        windows.append(FaultWindow(key[0], key[1], begin, end, False, f"injected{after}; still active at the end"))
    return sorted(windows, key=lambda window: window.start)
