"""``harness check``: harness.check's command, printing to this CLI's console."""

from __future__ import annotations

import argparse

from harness.check import cli as check_cli
from harness.cli.console import console, report


def cmd_check(args: argparse.Namespace) -> int:
    return check_cli.cmd_check(args, console, report)
