"""``harness base-image``, ``images`` and ``standins``: the images a cluster or a Dockerfile needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.console import console, report
from harness.cli.errors import UsageError
from harness.images import ensure_base_image, ensure_images
from harness.standins import DEFAULT_DOCKERFILES, ensure_from_images


def cmd_base_image(args: argparse.Namespace) -> int:
    base = ensure_base_image(args.base_image, report)
    console.print(base.how)
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    images = ensure_images(args.base_image, report)
    console.print(f"server: {images.server}\nclient: {images.client}\nbase:   {images.base}")
    return 0


def cmd_standins(args: argparse.Namespace) -> int:
    dockerfiles = [Path(path) for path in args.dockerfiles] or [
        Path(path) for path in DEFAULT_DOCKERFILES if Path(path).is_file()
    ]
    if not dockerfiles:
        raise UsageError(f"no Dockerfile given and none of {', '.join(DEFAULT_DOCKERFILES)} here")
    build_args = {}
    for pair in args.build_arg:
        name, has_value, value = pair.partition("=")
        if not has_value:
            raise UsageError(f"--build-arg {pair}: expected NAME=VALUE")
        build_args[name] = value
    standins = ensure_from_images(dockerfiles, lambda message: console.print(message, markup=False), build_args)
    if standins:
        console.print(f"{len(standins)} offline stand-in(s): " + ", ".join(s.image for s in standins), markup=False)
    return 0
