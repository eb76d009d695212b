"""Offline stand-ins for the public ``FROM`` images of a Dockerfile (a student's TP0, this repository).

Every external image a Dockerfile's ``FROM`` lines name (global ``ARG`` defaults and build args
substituted, ``--platform=`` flags skipped, stages and ``scratch`` left out) is made available under
exactly that name: present locally, nothing to do; else pulled (short timeout); else a stand-in built
offline from Debian bookworm and tagged with the requested name, said plainly through ``report``:

- ``golang:*``            -> minbase + golang-go (Go 1.19) + ca-certificates
- ``busybox*``, ``alpine*`` -> /bin/busybox (Debian's busybox-static) and its applet links, nothing else
- ``python:*``            -> minbase + python3, python-is-python3, python3-pip, python3-yaml

Each kind is built once and cached under ``lottery-harness/standin-KIND:bookworm`` with the label
``STANDIN_LABEL``; requested names are plain ``docker tag``s of it. A real image (present without that
label, or pullable) is never replaced; a stand-in already tagged is replaced by the real image as soon
as a pull succeeds.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from docker.errors import APIError, ImageNotFound

from harness import images
from harness.engine import docker_client
from harness.labels import STANDIN_LABEL

Report = Callable[[str], None]

STANDIN_REPOSITORY = "lottery-harness/standin"
DEBIAN_SUITE = "bookworm"
PULL_TIMEOUT = 30
LOCK_FILE = Path(tempfile.gettempdir()) / "lottery-harness-standins.lock"
DEFAULT_DOCKERFILES = ("server/Dockerfile", "client/Dockerfile")
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StandInError(RuntimeError):
    """A Dockerfile that cannot be read, or an image no stand-in exists for; the message names both."""


def _quiet(_: str) -> None:
    pass


# -- reading FROM lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class FromLine:
    image: str  # after substitution, as written (no implicit :latest)
    stage: str | None  # the `AS name`, lower-cased as Docker does
    line: int  # 1-based line of the FROM instruction


@dataclass(frozen=True)
class ExternalImage:
    name: str  # normalised: `busybox` -> `busybox:latest`
    dockerfiles: tuple[Path, ...]


_VARIABLE = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*([\\`])\s*$", re.IGNORECASE)


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Docker's ``$X``, ``${X}``, ``${X:-default}``, ``${X:+alternative}``; unset is empty."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        current = variables.get(name, "")
        if match.group(2) == "-":
            return current or substitute(match.group(3), variables)
        if match.group(2) == "+":
            return substitute(match.group(3), variables) if current else ""
        return current

    return _VARIABLE.sub(value, text)


def _instructions(text: str) -> Iterable[tuple[int, str]]:
    """(line number, instruction) with continuations joined and comments dropped."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines[:5]:  # parser directives come first
        found = _ESCAPE_DIRECTIVE.match(line.strip())
        if found:
            escape = found.group(1)
            break
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and pending):
            continue  # comments and blank lines may sit inside a continuation
        if not pending:
            start = number
        if stripped.endswith(escape):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        yield start, " ".join(pending).strip()


def parse_from_lines(text: str, build_args: Mapping[str, str] | None = None) -> list[FromLine]:
    """Every FROM of a Dockerfile, with global ARG defaults (overridden by ``build_args``) substituted."""
    overrides = dict(build_args or {})
    global_args: dict[str, str] = {}
    found: list[FromLine] = []
    for number, instruction in _instructions(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found:
            for declaration in rest.split():
                name, has_default, default = declaration.partition("=")
                if name in overrides:
                    global_args[name] = overrides[name]
                elif has_default:
                    global_args[name] = substitute(default.strip("\"'"), global_args)
                else:
                    global_args.setdefault(name, "")
        elif keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            if not words:
                raise ValueError(f"line {number}: FROM without an image")
            stage = None
            if len(words) >= 3 and words[1].upper() == "AS":
                stage = words[2].lower()
            elif len(words) != 1:
                raise ValueError(f"line {number}: cannot read {instruction!r}")
            image = substitute(words[0], global_args)
            if not image:
                raise ValueError(f"line {number}: FROM {words[0]} is empty (no value for its ARG)")
            found.append(FromLine(image=image, stage=stage, line=number))
    return found


def normalise(image: str) -> str:
    """The name Docker stores: an image without tag or digest gets ``:latest``."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


def external_images(text: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images a Dockerfile needs from outside: not ``scratch``, not an earlier stage; in order."""
    stages: set[str] = set()
    names: list[str] = []
    for entry in parse_from_lines(text, build_args):
        if entry.image.lower() not in stages and entry.image.lower() != "scratch":
            name = normalise(entry.image)
            if name not in names:
                names.append(name)
        if entry.stage:
            stages.add(entry.stage)
    return names


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


# -- the kinds of stand-in -------------------------------------------------------------------


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


# -- deciding, with the engine behind a small interface ---------------------------------------


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
    # A stand-in is recognised by its ID, not by the label (images built FROM it inherit the label).
    is_standin = present is not None and kind is not None and present == engine.image_id(kind.tag)
    if present is not None and not is_standin:
        report(f"{image}: present")
        return None
    reason = engine.pull(image)
    if reason is None:
        report(f"{image}: pulled" + (" (replaces the offline stand-in)" if is_standin else ""))
        return None
    where = ", ".join(str(path) for path in needed.dockerfiles)
    if kind is None:
        known = ", ".join(f"{repo}:*" for k in KINDS for repo in k.repositories)
        raise StandInError(
            f"{image} (FROM in {where}): not present and not pullable ({reason}), and no offline stand-in "
            f"exists for it (stand-ins: {known}); load it with `docker load` or change the FROM line"
        )
    if "@" in image:
        raise StandInError(
            f"{image} (FROM in {where}): pinned by digest, not present and not pullable ({reason}); "
            "a stand-in cannot carry a digest: load the image with `docker load`"
        )
    if not is_standin:
        if engine.image_id(kind.tag) is None:
            report(f"{image}: building the offline stand-in {kind.tag} ({kind.description}), once")
            engine.build_standin(kind, report)
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
    needed = collect_external_images(dockerfiles, build_args)
    engine = engine or DockerEngine()
    standins = []
    with _one_at_a_time():
        for image in needed:
            standin = ensure_image(image, engine, report)
            if standin is not None:
                standins.append(standin)
    return standins


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    """Parallel checks (xdist workers, CLI workers) build each stand-in once, not once each."""
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- the real engine ---------------------------------------------------------------------------


class DockerEngine:
    """Engine through the docker SDK; stand-ins built with mmdebstrap or from busybox-static."""

    def __init__(self, pull_timeout: int = PULL_TIMEOUT) -> None:
        self.pull_timeout = pull_timeout

    def image_id(self, image: str) -> str | None:
        try:
            return str(docker_client().images.get(image).id)
        except ImageNotFound:
            return None
        except APIError as exc:  # e.g. an invalid reference
            raise StandInError(f"{image}: the engine refuses the name ({exc.explanation or exc})") from None

    def pull(self, image: str) -> str | None:
        return images._pull(docker_client(), image, timeout=self.pull_timeout)

    def tag(self, source: str, target: str) -> None:
        repository, _, tag = target.rpartition(":")
        if not docker_client().images.get(source).tag(repository, tag):
            raise StandInError(f"could not tag {source} as {target}")

    def build_standin(self, kind: Kind, report: Report) -> None:
        changes = [*kind.changes, f"LABEL {STANDIN_LABEL}={kind.name}"]
        if kind.packages:
            images.import_debian_rootfs(
                kind.tag, kind.packages, report, changes=changes, needed_for=f"the stand-in {kind.tag}"
            )
        else:
            _import_busybox_rootfs(kind.tag, changes, report)


def _download_busybox(folder: Path, report: Report) -> Path:
    """/bin/busybox of Debian's busybox-static package, unpacked into ``folder``."""
    report("stand-in busybox: apt-get download busybox-static")
    try:
        subprocess.run(
            ["apt-get", "download", "-q", "busybox-static"], cwd=folder, check=True, capture_output=True, timeout=300
        )
        package = next(folder.glob("busybox-static_*.deb"))
        subprocess.run(
            ["dpkg-deb", "-x", str(package), str(folder / "root")], check=True, capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError, StopIteration) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise StandInError(
            f"cannot get Debian's busybox-static for the busybox stand-in: {exc} {detail.decode(errors='replace')}"
        ) from None
    return folder / "root" / "bin" / "busybox"


def busybox_rootfs(busybox: bytes, applets: Sequence[str]) -> bytes:
    """A tar of /bin/busybox, a link per applet (paths like ``usr/bin/awk``) and the usual folders."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder, mode in (
            ("bin", 0o755),
            ("sbin", 0o755),
            ("usr", 0o755),
            ("usr/bin", 0o755),
            ("usr/sbin", 0o755),
            ("etc", 0o755),
            ("root", 0o700),
            ("home", 0o755),
            ("var", 0o755),
            ("tmp", 0o1777),
        ):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(busybox), 0o755
        tar.addfile(info, io.BytesIO(busybox))
        for applet in sorted({path.strip("/") for path in applets} - {"bin/busybox"}):
            info = tarfile.TarInfo(applet)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(info)
    return buffer.getvalue()


def _import_busybox_rootfs(tag: str, changes: Sequence[str], report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="standin-busybox-") as scratch:
        binary = _download_busybox(Path(scratch), report)
        listed = subprocess.run([str(binary), "--list-full"], check=True, capture_output=True, text=True, timeout=30)
        rootfs = busybox_rootfs(binary.read_bytes(), listed.stdout.split())
    repository, _, version = tag.rpartition(":")
    # from_data, not from_stream: a stream of known length is sent chunked and with a length, which dockerd refuses.
    docker_client().api.import_image_from_data(
        rootfs, repository=repository, tag=version, changes=[f"ENV PATH={STANDARD_PATH}", *changes]
    )
