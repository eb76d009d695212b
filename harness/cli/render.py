"""``harness render``: the one command line that writes a compose file (``generar-compose.sh`` runs
it with ``--course-layout``). The layouts and their defaults are in ``harness.cli.parser``'s
description of the command; the course layout's defaults are ``ComposeSpec``'s own.

The course layout must work from a fresh clone with Python, Jinja2 and PyYAML only: nothing here
imports the docker SDK or rich unless the harness's layout has to build its images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import compose
from harness.cli.errors import UsageError
from harness.cli.parser import HARNESS_LAYOUT_PROJECT
from harness.labels import LABEL


def _built_images(args: argparse.Namespace) -> tuple[str, str]:
    """The images asked for, else the ones ``harness images`` builds (built now if missing)."""
    if args.server_image and args.client_image:
        return args.server_image, args.client_image
    from harness.cli.console import report
    from harness.engine import EngineUnavailable
    from harness.images import ensure_images

    try:
        images = ensure_images(args.base_image, report)
    except EngineUnavailable as exc:
        raise UsageError(f"{exc}; or name the images with --server-image and --client-image") from None
    return args.server_image or images.server, args.client_image or images.client


def course_spec(args: argparse.Namespace) -> compose.ComposeSpec:
    """The course's drop-in: ``ComposeSpec``'s defaults, but for what the command line names."""
    given: dict[str, Any] = {
        "project": args.project,
        "server_image": args.server_image,
        "client_image": args.client_image,
        "data_dir": Path(args.data) if args.data else None,
    }
    chosen = {key: value for key, value in given.items() if value is not None}
    return compose.ComposeSpec(clients=args.clients, course_layout=True, **chosen)


def harness_spec(args: argparse.Namespace) -> compose.ComposeSpec:
    """The harness's layout: this folder's files as absolute paths, the built images, labelled."""
    compose.services(compose.ComposeSpec(clients=args.clients))  # a bad count fails before any image work
    server_image, client_image = _built_images(args)
    root = Path.cwd()
    return compose.ComposeSpec(
        project=args.project or HARNESS_LAYOUT_PROJECT,
        clients=args.clients,
        server_image=server_image,
        client_image=client_image,
        data_dir=Path(args.data or root / ".data").resolve(),
        storage_dir=(root / ".data" / "storage").resolve(),
        server_config=(root / "server" / "config.ini").resolve(),
        client_config=(root / "client" / "config.yaml").resolve(),
        labels={LABEL: "1"},
    )


def cmd_render(args: argparse.Namespace) -> int:
    spec = course_spec(args) if args.course_layout else harness_spec(args)
    try:
        if args.output == "-":
            sys.stdout.write(compose.render(spec))
        else:
            path = compose.write(spec, args.output)
            print(f"wrote {path}: server and {spec.clients} clients")
    except OSError as exc:  # the output cannot be written (a folder, no permission): the user's to fix
        raise UsageError(str(exc)) from None
    return 0
