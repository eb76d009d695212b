"""The kinds of stand-in (golang, busybox, python), the images each stands in for, and the error
of the stand-ins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Report = Callable[[str], None]


STANDIN_REPOSITORY = "lottery-harness/standin"
DEBIAN_SUITE = "bookworm"
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StandInError(RuntimeError):
    """A Dockerfile that cannot be read, or an image no stand-in exists for; the message names both."""


@dataclass(frozen=True)
class Kind:
    name: str
    repositories: tuple[str, ...]  # the image names (last path part, no tag) it stands in for
    description: str
    packages: tuple[str, ...] = ()  # Debian minbase + these; empty: a busybox-only rootfs
    changes: tuple[str, ...] = field(default=())

    @property
    def tag(self) -> str:
        return f"{STANDIN_REPOSITORY}-{self.name}:{DEBIAN_SUITE}"


KINDS = (
    Kind(
        "golang",
        ("golang",),
        "Debian bookworm golang-go 1.19",
        packages=("golang-go", "ca-certificates"),
        # The official image's settings; GOFLAGS stays unset so `-mod vendor` decides by itself.
        changes=(f"ENV GOPATH=/go PATH=/go/bin:/usr/lib/go/bin:{STANDARD_PATH}", "WORKDIR /go"),
    ),
    Kind("busybox", ("busybox", "alpine"), "Debian bookworm busybox-static: /bin/sh and the busybox applets"),
    Kind(
        "python",
        ("python",),
        "Debian bookworm python3 3.11 with python, pip and PyYAML",
        packages=("python3", "python-is-python3", "python3-pip", "python3-yaml", "ca-certificates"),
        # Debian's pip refuses system installs (PEP 668); the official image's pip does not.
        changes=(f"ENV LANG=C.UTF-8 PIP_BREAK_SYSTEM_PACKAGES=1 PATH={STANDARD_PATH}",),
    ),
)


def repository_of(image: str) -> str:
    """``docker.io/library/golang:1.19`` -> ``golang``."""
    path = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return path.split(":", 1)[0].lower()


def kind_for(image: str) -> Kind | None:
    repository = repository_of(image)
    return next((kind for kind in KINDS if repository in kind.repositories), None)
