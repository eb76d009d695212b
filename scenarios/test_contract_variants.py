"""The checker can fail: deliberately broken copies of this repository each fail exactly the check
that should catch them, with a message that names the bug.

Each variant is a small text patch applied at test time to a scratch copy of this repository (the
repository itself is never touched); the images are built from the copy like any student's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.check import lottery
from harness.check.context import CheckContext
from harness.check.runner import ALL_CHECKS, run_check
from harness.check.sut import Sut, copy_tree
from harness.images import REPO_ROOT

pytestmark = [pytest.mark.scenario, pytest.mark.contract]
SHORT_WINNERS_TIMEOUT = 15  # variants that never answer: fail in 15 s rather than the checks' 120 s


@dataclass(frozen=True)
class Variant:
    bug: str
    patches: dict[str, tuple[str, str]]  # file -> (text, its replacement); the text must occur once
    check: str  # exercise/name of the check that must catch it
    failing: str  # the verdict (check name prefix) that must fail (others of the check may fail with it)
    message: str  # a phrase the failure must contain (case-insensitive)


VARIANTS = [
    Variant(
        "misspelt result word",
        {
            "server/conversation.py": (
                "log_event(APUESTA_RECIBIDA, SUCCESS, cantidad=len(bets), agencia=agency, lote=seq)",
                'logging.getLogger("server").info(f"action: apuesta_recibida | result: sucess | cantidad: {len(bets)}")',  # noqa: E501
            )
        },
        "ej6/total 41",
        "total 41",
        "result 'sucess' is not one of success, fail, in_progress",
    ),
    Variant(
        "every agency answered with all winners",
        {
            "server/conversation.py": (
                "documents = self.lottery.winners_of(agency)",
                "documents = [d for a in range(1, self.lottery.agencies + 1) for d in self.lottery.winners_of(a)]",
            )
        },
        "ej7/3 agencies",
        "3 agencies: winners",
        "broadcast",
    ),
    Variant(
        "agency count hard-coded to 5",
        {"server/config.py": ('agencies=get("AGENCIES"', 'agencies=5 or get("AGENCIES"')},
        "ej7/3 agencies",
        "3 agencies: draw",
        "0 `sorteo | result: success` lines",
    ),
    Variant(
        "exit 1 on SIGTERM",
        {
            "client/main.py": (
                "logger.info(format_event(SHUTDOWN, SUCCESS, reason=stop.signal_name))\n        return EXIT_DONE",
                "logger.info(format_event(SHUTDOWN, SUCCESS, reason=stop.signal_name))\n        return 1",
            )
        },
        "ej4/client mid-loop",
        "client mid-loop",
        "exited 1 on SIGTERM",
    ),
    Variant(
        "last bet dropped when the total is one more than a multiple of maxAmount",
        {"client/session.py": ("if last_batch is not None:", "if last_batch is not None and last_batch.count != 1:")},
        "ej6/total 121",
        "total 121",
        "1 bet(s) never stored",
    ),
    Variant(
        "the bet that would overflow 8 kB dropped",
        {
            "protocol/batching.py": (
                "        if len(self._bets) >= self.max_amount or self._size + len(encoded) > MAX_BATCH_BYTES:\n"
                "            done = self.flush()",
                "        if self._size + len(encoded) > MAX_BATCH_BYTES:\n"
                "            return self.flush()\n"
                "        if len(self._bets) >= self.max_amount:\n"
                "            done = self.flush()",
            )
        },
        "ej6/long names",
        "300 long-name bets",
        "never stored",
    ),
    Variant(
        "the draw before the last agency finished",
        {
            "server/state.py": (
                "len(self.store.index.finished) >= self.agencies",
                "len(self.store.index.finished) >= self.agencies - 1",
            )
        },
        "ej7/3 agencies",
        "3 agencies: draw",
        "after the draw",
    ),
    Variant(
        "no answer for an agency with no winners",
        {
            "server/conversation.py": (
                "        documents = self.lottery.winners_of(agency)\n",
                "        documents = self.lottery.winners_of(agency)\n        if not documents:\n"
                "            return self.not_ready()\n",
            )
        },
        "ej7/3 agencies",
        "3 agencies: winners",
        "client2: no `consulta_ganadores | result: success` line",
    ),
    Variant(
        "a probe script that says success with the server down",
        {
            "validar-echo-server.sh": (
                "why \"container '$server_container' is not running\"\n    verdict fail",
                "why \"container '$server_container' is not running\"\n    verdict success",
            )
        },
        "ej3/probe script",
        "probe: stopped server",
        "against a stopped server the script said success",
    ),
    Variant(
        "a generator that fails",
        {
            "generar-compose.sh": (
                "set -euo pipefail\n",
                'set -euo pipefail\necho "no template for $2 clients" >&2\nexit 1\n',
            )
        },
        "ej1/N=3",
        "N=3",
        "no template for 3 clients",
    ),
]
SLOW = {"agency count hard-coded to 5", "no answer for an agency with no winners"}


def patched_copy(target: Path, patches: dict[str, tuple[str, str]]) -> Path:
    copy_tree(REPO_ROOT, target)
    for relative, (text, replacement) in patches.items():
        path = target / relative
        source = path.read_text(encoding="utf-8")
        assert source.count(text) == 1, f"{relative}: the variant's patch no longer applies ({text!r})"
        path.write_text(source.replace(text, replacement), encoding="utf-8")
    return target


@pytest.fixture(autouse=True)
def _only_on_this_repository(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--harness-sut"):
        pytest.skip("the variants prove the checker on this repository; run them without --harness-sut")


@pytest.mark.parametrize(
    "variant",
    [pytest.param(v, id=v.bug, marks=[pytest.mark.slow] if v.bug in SLOW else []) for v in VARIANTS],
)
def test_broken_variant_fails_its_check(
    variant: Variant,
    tmp_path: Path,
    check_context: Callable[[Sut, str], CheckContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lottery, "WINNERS_TIMEOUT", SHORT_WINNERS_TIMEOUT)
    sut = Sut.at(patched_copy(tmp_path / "variant", variant.patches))
    (check,) = [c for c in ALL_CHECKS if c.key == variant.check]
    verdicts = run_check(check, check_context(sut, check.exercise))
    failed = [v for v in verdicts if not v.passed]
    report = "\n".join(v.message() for v in verdicts)
    assert [v.check for v in failed if v.check.startswith(variant.failing)], f"{variant.bug}: not caught\n{report}"
    assert any(variant.message.lower() in v.message().lower() for v in failed), (
        f"{variant.bug}: the failure does not say {variant.message!r}\n{report}"
    )
