"""The student's server and client images, built offline from their Dockerfiles.

``server/Dockerfile`` and ``client/Dockerfile`` are built with the repository root as context,
after the offline stand-ins for their ``FROM`` images are ensured (harness.standins). Images are
tagged ``lottery-harness-sut/<role>:<tree digest>``: a tree already built is never rebuilt, and
checks of different trees running in parallel never share a tag.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, BuildError

from harness.engine import docker_client
from harness.images import ImageError, image_present
from harness.labels import LABEL, SUT_IMAGE_LABEL
from harness.standins import StandInError, ensure_from_images
from harness.standins.fromlines import syntax_frontend

IMAGE_REPOSITORY = "lottery-harness-sut"
ROLES = ("server", "client")
BUILD_TIMEOUT = 900

Report = Callable[[str], None]

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class SutImages:
    server: str
    client: str
    notes: tuple[str, ...] = ()  # stand-ins used, in plain words

    def as_mapping(self) -> dict[str, str]:
        return {"server": self.server, "client": self.client}


def _lock_for(tag: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(tag, threading.Lock())


def build_role(tree: Path, role: str, digest: str, build_args: Mapping[str, str], report: Report) -> str:
    """Build ``<role>/Dockerfile`` of ``tree`` unless the image of this tree exists; returns its tag."""
    tag = f"{IMAGE_REPOSITORY}/{role}:{digest}"
    dockerfile = tree / role / "Dockerfile"
    if not dockerfile.is_file():
        raise ImageError(f"{role}/Dockerfile is missing at the repository root")
    with _lock_for(tag):
        if image_present(docker_client(), tag):
            return tag
        report(f"image {tag}: building {role}/Dockerfile")
        stream = docker_client().api.build(
            path=str(tree),
            dockerfile=f"{role}/Dockerfile",
            tag=tag,
            buildargs=dict(build_args),
            labels={LABEL: "1", SUT_IMAGE_LABEL: role},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=BUILD_TIMEOUT,
        )
        tail: list[str] = []
        try:
            for chunk in stream:
                if "error" in chunk:
                    detail = "\n".join(tail[-8:])
                    raise ImageError(f"building {role}/Dockerfile failed: {chunk['error'].strip()}\n{detail}")
                line = str(chunk.get("stream", "")).rstrip()
                if line:
                    tail.append(line)
        except APIError as exc:  # the engine refused the Dockerfile itself: its words, without the request's URL
            why = str(exc.explanation or exc) + _frontend_note(dockerfile)
            raise ImageError(f"building {role}/Dockerfile failed: {why}") from None
        except BuildError as exc:
            raise ImageError(f"building {role}/Dockerfile failed: {exc}") from None
        if not image_present(docker_client(), tag):
            raise ImageError(f"building {role}/Dockerfile finished without producing {tag}")
        return tag


def _frontend_note(dockerfile: Path) -> str:
    """Why a Dockerfile that asks for a BuildKit frontend may fail here, or nothing."""
    frontend = syntax_frontend(dockerfile.read_text(encoding="utf-8", errors="replace"))
    if frontend is None:
        return ""
    return (
        f" (its `# syntax={frontend}` line asks for a BuildKit frontend, pulled from a registry when it"
        " builds; the harness builds offline with the engine's classic builder, which knows only the"
        " stable Dockerfile syntax: this failure may be this machine's, not the Dockerfile's)"
    )


def build_sut_images(
    tree: Path, digest: str, build_args: Mapping[str, str] | None = None, report: Report = lambda _: None
) -> SutImages:
    """Stand-ins for the FROM images first, then both images (each cached by ``digest``)."""
    dockerfiles = [tree / role / "Dockerfile" for role in ROLES if (tree / role / "Dockerfile").is_file()]
    try:
        stand_ins = ensure_from_images(dockerfiles, report, build_args)
    except StandInError as exc:
        raise ImageError(str(exc)) from None
    notes = tuple(f"{s.image}: offline stand-in ({s.description})" for s in stand_ins)
    server = build_role(tree, "server", digest, build_args or {}, report)
    client = build_role(tree, "client", digest, build_args or {}, report)
    return SutImages(server=server, client=client, notes=notes)
