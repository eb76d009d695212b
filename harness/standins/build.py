"""Building the stand-in images on the real engine: Debian minbase plus packages (mmdebstrap,
``harness.images``), or a rootfs of Debian's busybox-static alone; ``DockerEngine`` is the
``Engine`` that ``ensure`` decides with."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from docker.errors import APIError, ImageNotFound

from harness import images
from harness.engine import docker_client
from harness.labels import STANDIN_LABEL
from harness.standins.kinds import STANDARD_PATH, Kind, Report, StandInError

PULL_TIMEOUT = 30


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
        return images.pull_image(docker_client(), image, timeout=self.pull_timeout)

    def tag(self, source: str, target: str) -> None:
        repository, _, tag = target.rpartition(":")
        if not docker_client().images.get(source).tag(repository, tag):
            raise StandInError(f"could not tag {source} as {target}")

    def build_standin(self, kind: Kind, report: Report) -> None:
        changes = [*kind.changes, f"LABEL {STANDIN_LABEL}={kind.name}"]
        if kind.packages:
            images.import_debian_rootfs(
                kind.tag,
                kind.packages,
                report,
                changes=changes,
                needed_for=f"the stand-in {kind.tag}",
                suite=kind.suite,
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
