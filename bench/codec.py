"""Micro-benchmark of the hot paths: ``python -m bench.codec [--bets N] [--repeat R]``.

Prints microseconds per bet (best of R runs) for:

* ``decode_frame`` of one BATCH of N bets (the server's per-batch work),
* ``FrameDecoder.feed`` + ``decode`` of the same frame (the server's non-blocking path),
* ``encode_bet`` per bet, and ``BatchBuilder`` add + flush per bet (the client's work).

Figures on the development VM (Python 3.11, 2 vCPUs, 100-bet batches of ~57-byte bets),
before -> after the fast decoder: decode_frame 5.0-5.4 -> 1.6-1.8 us/bet,
encode_bet 2.6-2.8 -> 1.7-1.9 us/bet, BatchBuilder 2.9-3.1 -> 2.0-2.2 us/bet. Numbers vary
with the machine and its load; compare runs made on the same machine.
"""

from __future__ import annotations

import argparse
import timeit
from datetime import date

from protocol.batching import BatchBuilder
from protocol.frame import FrameDecoder
from protocol.messages import Batch, BetData, decode, decode_frame, encode, encode_bet


def sample_bets(count: int) -> tuple[BetData, ...]:
    return tuple(
        BetData(f"Nombre{i}", f"Apellido Largo {i}", str(30000000 + i), date(1990, 1 + i % 12, 1 + i % 28), 1000 + i)
        for i in range(count)
    )


def measure(count: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` microseconds per bet of each operation."""
    bets = sample_bets(count)
    frame = encode(Batch(1, 1, bets))
    decoded = decode_frame(frame)
    assert isinstance(decoded, Batch) and decoded.bets == bets

    def feed_and_decode() -> None:
        for header, payload in FrameDecoder().feed(frame):
            decode(header, payload)

    def build() -> None:
        builder = BatchBuilder(1, count)
        for bet in bets:
            builder.add(bet)
        builder.flush()

    cases = {
        "decode_frame": lambda: decode_frame(frame),
        "FrameDecoder.feed + decode": feed_and_decode,
        "encode_bet": lambda: [encode_bet(bet) for bet in bets],
        "BatchBuilder add + flush": build,
    }
    number = max(1, 100_000 // count)
    return {
        name: min(timeit.repeat(case, number=number, repeat=repeat)) / number / count * 1e6
        for name, case in cases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bets", type=int, default=100, help="bets per batch (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best one counts (default 7)")
    args = parser.parse_args()
    for name, micros in measure(args.bets, args.repeat).items():
        print(f"{name:28s} {micros:6.3f} us/bet  ({1e6 / micros:10,.0f} bets/s on one core)")


if __name__ == "__main__":
    main()
