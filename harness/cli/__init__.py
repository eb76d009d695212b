"""``harness``: ad-hoc clusters from the command line (``python -m harness`` is the same command).

harness base-image | images | standins | render | up | logs | down | run | probe | check, plus the
commands other packages plug in (``bench``, ``swarm``). ``parser`` defines every command's
arguments; each command's code is imported only when that command runs, so ``harness render
--course-layout`` (what ``generar-compose.sh`` runs) needs Python, Jinja2 and PyYAML only, not the
docker SDK, testcontainers or rich.

- ``parser``: the command line (every command, its options and defaults)
- ``errors``: which failures are a usage error (exit 2) or a failed run (exit 1)
- ``console``: where the commands print, and the ``[harness]`` progress lines
- ``render``: ``render`` (both compose layouts)
- ``images``: ``base-image``, ``images``, ``standins``
- ``clusters``: ``up``, ``logs``, ``down``, ``probe`` and the cluster a command starts
- ``run``: ``run`` (live progress table, results, exit code, report)

``check``'s code is ``harness.check.cli`` (it prints to ``console``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from harness.cli.errors import exit_code_for
from harness.cli.parser import build_parser, plugged_commands


def _handler(path: str) -> Callable[..., int]:
    module, _, function = path.partition(":")
    handler: Callable[..., int] = getattr(importlib.import_module(module), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    plugged = plugged_commands()
    if arguments[:1] and arguments[0] in plugged:
        # A plugged command parses its own arguments: it gets them whole.
        name = arguments[0]
        return int(plugged[name].load()(arguments[1:], prog=f"harness {name}"))
    args = build_parser(plugged).parse_args(arguments)
    handler = _handler(args.handler)
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return code
