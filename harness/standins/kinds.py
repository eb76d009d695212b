"""The kinds of stand-in (golang, busybox, python), the images each stands in for, and the error
of the stand-ins.

A repository may have several kinds, one per version (Go 1.19 from bookworm, Go 1.24 from trixie):
an image gets the oldest kind at least as new as its tag asks (``golang:1.22`` -> Go 1.24), and a
tag without a minor version (``latest``, ``alpine``, ``1``) or newer than all of them gets the newest."""

from __future__ import annotations

import re
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
    suite: str = DEBIAN_SUITE  # the Debian release its packages come from
    version: tuple[int, ...] = ()  # what it provides (major, minor), when versions matter

    @property
    def tag(self) -> str:
        return f"{STANDIN_REPOSITORY}-{self.name}:{self.suite}"


KINDS = (
    Kind(
        "golang",
        ("golang",),
        "Debian bookworm golang-go 1.19",
        packages=("golang-go", "ca-certificates"),
        # The official image's settings; GOFLAGS stays unset so `-mod vendor` decides by itself.
        changes=(f"ENV GOPATH=/go PATH=/go/bin:/usr/lib/go/bin:{STANDARD_PATH}", "WORKDIR /go"),
        version=(1, 19),
    ),
    Kind(
        "golang-trixie",
        ("golang",),
        "Debian trixie golang-go 1.24",
        packages=("golang-go", "ca-certificates"),
        # GOTOOLCHAIN=local: a go.mod asking for a newer Go fails saying so, instead of downloading one.
        changes=(f"ENV GOPATH=/go GOTOOLCHAIN=local PATH=/go/bin:/usr/lib/go/bin:{STANDARD_PATH}", "WORKDIR /go"),
        suite="trixie",
        version=(1, 24),
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


def requested_version(image: str) -> tuple[int, ...] | None:
    """``golang:1.22.3-alpine`` -> (1, 22); None for a tag without a version (``latest``)."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    found = re.match(r"(\d+)(?:\.(\d+))?", tag)
    if found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def kind_for(image: str) -> Kind | None:
    repository = repository_of(image)
    kinds = sorted((kind for kind in KINDS if repository in kind.repositories), key=lambda kind: kind.version)
    if not kinds:
        return None
    wanted = requested_version(image)
    if wanted is None or len(wanted) < 2:  # `latest`, `alpine`, `1`: the newest there is
        return kinds[-1]
    return next((kind for kind in kinds if kind.version[: len(wanted)] >= wanted), kinds[-1])
