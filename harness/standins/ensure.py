"""Deciding, for each external image, whether it is present, pulled or a stand-in, with the
engine behind a small interface (``Engine``); one process at a time on this machine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.hostlock import host_lock
from harness.standins.build import DockerEngine
from harness.standins.fromlines import external_images, normalise
from harness.standins.kinds import KINDS, Kind, Report, StandInError, kind_for

STANDIN_BUILDS_WAIT = 1800  # another process building every stand-in (mmdebstrap) on a loaded machine
DEFAULT_DOCKERFILES = ("server/Dockerfile", "client/Dockerfile")


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class ExternalImage:
    name: str  # normalised: `busybox` -> `busybox:latest`
    dockerfiles: tuple[Path, ...]  # the files that name it
    how: str = "FROM"  # how they use it, for the messages: `FROM`, `docker run`


def collect_external_images(
    dockerfiles: Iterable[Path], build_args: Mapping[str, str] | None = None
) -> list[ExternalImage]:
    by_name: dict[str, list[Path]] = {}
    for dockerfile in dockerfiles:
        try:
            text = Path(dockerfile).read_text(encoding="utf-8")
        except OSError as exc:
            raise StandInError(f"{dockerfile}: cannot read it ({exc.strerror or exc})") from None
        try:
            names = external_images(text, build_args)
        except ValueError as exc:
            raise StandInError(f"{dockerfile}: {exc}") from None
        for name in names:
            by_name.setdefault(name, []).append(Path(dockerfile))
    return [ExternalImage(name, tuple(paths)) for name, paths in by_name.items()]


class Engine(Protocol):
    def image_id(self, image: str) -> str | None:
        """The image's ID, or None when it is absent."""

    def pull(self, image: str) -> str | None:
        """None when pulled, else the reason."""

    def build_standin(self, kind: Kind, report: Report) -> None: ...

    def tag(self, source: str, target: str) -> None: ...


@dataclass(frozen=True)
class StandIn:
    image: str  # the name the Dockerfile asks for, now tagged on the stand-in
    kind: str
    standin_tag: str
    description: str
    dockerfiles: tuple[Path, ...]
    why: str  # the pull's failure


def ensure_image(needed: ExternalImage, engine: Engine, report: Report = _quiet) -> StandIn | None:
    """Make ``needed`` available under its name; a StandIn when it had to be one."""
    image = needed.name
    kind = kind_for(image)
    present = engine.image_id(image)
    # A stand-in is recognised by its ID, not by the label (images built FROM it inherit the label);
    # any kind's, so that a name tagged on an older kind (Go 1.19 for `golang:1.22`) gets the right one.
    siblings = [other for other in KINDS if kind is not None and other.repositories == kind.repositories]
    is_standin = present is not None and present in {engine.image_id(other.tag) for other in siblings}
    if present is not None and not is_standin:
        report(f"{image}: present")
        return None
    reason = engine.pull(image)
    if reason is None:
        report(f"{image}: pulled" + (" (replaces the offline stand-in)" if is_standin else ""))
        return None
    where = f"{needed.how} in " + ", ".join(str(path) for path in needed.dockerfiles)
    if kind is None:
        known = ", ".join(f"{repo}:*" for k in KINDS for repo in k.repositories)
        raise StandInError(
            f"{image} ({where}): not present and not pullable ({reason}), and no offline stand-in "
            f"exists for it (stand-ins: {known}); load it with `docker load` or change the {needed.how} line"
        )
    if "@" in image:
        raise StandInError(
            f"{image} ({where}): pinned by digest, not present and not pullable ({reason}); "
            "a stand-in cannot carry a digest: load the image with `docker load`"
        )
    right = engine.image_id(kind.tag)
    if right is None:
        report(f"{image}: building the offline stand-in {kind.tag} ({kind.description}), once")
        engine.build_standin(kind, report)
    if right is None or present != right:
        engine.tag(kind.tag, image)
    report(f"{image}: not present and not pullable; using an offline stand-in ({kind.description})")
    return StandIn(image, kind.name, kind.tag, kind.description, needed.dockerfiles, reason)


def ensure_from_images(
    dockerfiles: Iterable[Path],
    report: Report = _quiet,
    build_args: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> list[StandIn]:
    """Every external FROM image of ``dockerfiles`` present under its name; the stand-ins used."""
    return _ensure_all(collect_external_images(dockerfiles, build_args), report, engine)


def ensure_run_image(image: str, script: Path, report: Report = _quiet, engine: Engine | None = None) -> StandIn | None:
    """An image a script's ``docker run`` names present under its name; the stand-in, if one was used."""
    standins = _ensure_all([ExternalImage(normalise(image), (script,), "docker run")], report, engine)
    return standins[0] if standins else None


def _ensure_all(needed: Iterable[ExternalImage], report: Report, engine: Engine | None) -> list[StandIn]:
    engine = engine or DockerEngine()
    standins = []
    # Parallel checks (xdist workers, CLI workers, another suite) build each stand-in once, not once each.
    with host_lock("standins", STANDIN_BUILDS_WAIT, "the stand-in images another process is building"):
        for image in needed:
            standin = ensure_image(image, engine, report)
            if standin is not None:
                standins.append(standin)
    return standins
