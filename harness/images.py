"""Base image and the server/client images, built once and cached by content.

Base image, first that works: an explicitly asked-for image present locally (or
pulled), else the official ``python:3.11-slim`` or the offline tag present
locally, else a ``docker pull`` of the official one, else an offline build:
``mmdebstrap --variant=minbase --include=python3,python3-yaml bookworm -``
imported as ``OFFLINE_BASE_IMAGE``.

The server and client images are tagged with a hash of exactly what goes into
them (Dockerfile, sources, base image ID): unchanged sources, no rebuild. Their
config files are left out of the image on purpose: the harness mounts them, so
editing one needs no rebuild.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from harness.engine import docker_client

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_BASE_IMAGE = "python:3.11-slim"
OFFLINE_BASE_IMAGE = "lottery-harness/python:3.11-bookworm"
IMAGE_REPOSITORY = "lottery-harness"
OFFLINE_BUILD_TIMEOUT = 900
PULL_TIMEOUT = 300

# What each image is made of: its Dockerfile plus these source folders.
IMAGE_SOURCES: dict[str, tuple[str, ...]] = {
    "server": ("logline", "protocol", "server"),
    "client": ("logline", "protocol", "client"),
}
MOUNTED_CONFIGS = {"server/config.ini", "client/config.yaml"}

Report = Callable[[str], None]


class ImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class BaseImage:
    tag: str
    how: str  # in plain words: which path was taken


@dataclass(frozen=True)
class ImageSet:
    server: str
    client: str
    base: str


def _quiet(_: str) -> None:
    pass


# -- base image -------------------------------------------------------------------------


def image_present(client: docker.DockerClient, tag: str) -> bool:
    """``tag`` exists on the engine of ``client``."""
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def pull_image(client: docker.DockerClient, tag: str, timeout: int = PULL_TIMEOUT) -> str | None:
    """Pull ``tag`` (giving up after ``timeout`` seconds): None on success, else the engine's reason."""
    try:
        pulled = docker.from_env(timeout=timeout)
        pulled.images.pull(tag)
    except (APIError, docker.errors.DockerException) as exc:
        return str(getattr(exc, "explanation", None) or exc)
    except OSError as exc:  # the client's own read timeout
        return f"no answer within {timeout}s ({exc})"
    return None


def ensure_base_image(requested: str | None = None, report: Report = _quiet) -> BaseImage:
    """Make sure a base image is present locally and say how it was found."""
    client = docker_client()
    if requested:
        if image_present(client, requested):
            return BaseImage(requested, f"base image {requested}: present locally")
        reason = pull_image(client, requested)
        if reason is None:
            return BaseImage(requested, f"base image {requested}: pulled")
        raise ImageError(f"base image {requested} is not present locally and could not be pulled: {reason}")

    for tag in (OFFICIAL_BASE_IMAGE, OFFLINE_BASE_IMAGE):
        if image_present(client, tag):
            return BaseImage(tag, f"base image {tag}: present locally")
    report(f"base image: pulling {OFFICIAL_BASE_IMAGE}")
    reason = pull_image(client, OFFICIAL_BASE_IMAGE)
    if reason is None:
        return BaseImage(OFFICIAL_BASE_IMAGE, f"base image {OFFICIAL_BASE_IMAGE}: pulled")
    report(f"base image: pull failed ({reason}); building {OFFLINE_BASE_IMAGE} offline with mmdebstrap")
    build_offline_base_image(OFFLINE_BASE_IMAGE, report)
    return BaseImage(OFFLINE_BASE_IMAGE, f"base image {OFFLINE_BASE_IMAGE}: built offline with mmdebstrap")


def _ensure_mmdebstrap(report: Report, needed_for: str) -> str:
    found = shutil.which("mmdebstrap")
    if found:
        return found
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists():
        raise ImageError(f"{needed_for} needs an offline build, and mmdebstrap is missing: install mmdebstrap (Debian)")
    report("offline build: installing mmdebstrap (apt-get)")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mmdebstrap"],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=600)
    found = shutil.which("mmdebstrap")
    if not found:
        raise ImageError("mmdebstrap was installed but is not on PATH")
    return found


def import_debian_rootfs(
    tag: str,
    packages: Sequence[str],
    report: Report = _quiet,
    changes: Sequence[str] = (),
    needed_for: str = "an image",
    suite: str = "bookworm",
) -> None:
    """Debian ``suite`` minbase plus ``packages`` (mmdebstrap), imported as ``tag``.

    ``changes`` are Dockerfile instructions (ENV, LABEL, WORKDIR, ...) applied by the import.
    """
    mmdebstrap = _ensure_mmdebstrap(report, needed_for)
    repository, _, version = tag.rpartition(":")
    command = [mmdebstrap, "--variant=minbase", f"--include={','.join(packages)}", suite, "-"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as debootstrap:
        assert debootstrap.stdout is not None
        try:
            docker_client().api.import_image_from_stream(
                debootstrap.stdout, repository=repository, tag=version, changes=list(changes) or None
            )
            _, stderr = debootstrap.communicate(timeout=OFFLINE_BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            debootstrap.kill()
            raise ImageError(f"mmdebstrap did not finish within {OFFLINE_BUILD_TIMEOUT}s") from None
    if debootstrap.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise ImageError(f"mmdebstrap failed (exit {debootstrap.returncode}): " + " / ".join(tail))


def build_offline_base_image(tag: str, report: Report = _quiet) -> None:
    """Debian bookworm minbase + python3 + python3-yaml, imported as ``tag``."""
    import_debian_rootfs(
        tag, ("python3", "python3-yaml"), report, needed_for=f"the base image (no {OFFICIAL_BASE_IMAGE} found)"
    )


# -- server and client images -----------------------------------------------------------


def _image_files(name: str, root: Path) -> Iterator[tuple[str, Path]]:
    """(path in the build context, file on disk) for everything the image is made of."""
    yield f"{name}/Dockerfile", root / name / "Dockerfile"
    for folder in IMAGE_SOURCES[name]:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix != ".pyc"
                and relative not in MOUNTED_CONFIGS
                and relative != f"{name}/Dockerfile"
            ):
                yield relative, path


def _build_context(name: str, root: Path, base_id: str) -> tuple[str, bytes]:
    """The content hash and a tar of exactly the hashed files."""
    digest = hashlib.sha256(base_id.encode())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for arcname, path in _image_files(name, root):
            data = path.read_bytes()
            digest.update(arcname.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:12], buffer.getvalue()


def build_image(name: str, base: str, report: Report = _quiet, root: Path = REPO_ROOT) -> str:
    """Build ``name`` ("server" or "client") unless an image of the same content exists."""
    client = docker_client()
    base_id = client.images.get(base).id
    content_hash, context = _build_context(name, root, base_id)
    tag = f"{IMAGE_REPOSITORY}/{name}:{content_hash}"
    if image_present(client, tag):
        report(f"image {tag}: up to date")
        return tag
    report(f"image {tag}: building from {base}")
    stream = client.api.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        dockerfile=f"{name}/Dockerfile",
        tag=tag,
        buildargs={"BASE_IMAGE": base},
        rm=True,
        forcerm=True,
        decode=True,
        timeout=600,
    )
    for chunk in stream:
        if "error" in chunk:
            raise ImageError(f"building {tag} failed: {chunk['error'].strip()}")
        line = chunk.get("stream", "").strip()
        if line.startswith("Step "):
            report(f"image {name}: {line}")
    if not image_present(client, tag):
        raise ImageError(f"building {tag} finished without producing the image")
    return tag


def ensure_images(base_image: str | None = None, report: Report = _quiet) -> ImageSet:
    """Base image plus server and client images, each built only when its content changed."""
    base = ensure_base_image(base_image, report)
    report(base.how)
    try:
        server = build_image("server", base.tag, report)
        client = build_image("client", base.tag, report)
    except BuildError as exc:
        raise ImageError(f"image build failed: {exc}") from None
    return ImageSet(server=server, client=client, base=base.tag)
