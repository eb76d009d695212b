"""Offline stand-ins on the real engine: a multi-stage Go build (golang build stage, busybox runtime)
whose FROM images exist nowhere gets them under exactly the names it asks for, builds and runs; an
image that is present is left as it is.

Requested names carry a unique tag (``golang:1.19-standins-test-<id>``) so that nothing else on the
engine is touched; they are untagged afterwards, the cached stand-ins stay (that is their point).
The Go version asked for picks the stand-in: bookworm's Go 1.19 up to 1.19, trixie's Go 1.24 after.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from harness.engine import docker_client
from harness.images import OFFLINE_BASE_IMAGE, ensure_base_image
from harness.labels import LABEL, STANDIN_LABEL
from harness.standins import ensure_from_images

pytestmark = pytest.mark.scenario

MAIN_GO = """\
package main

import (
\t"fmt"
\t"runtime"
)

func main() { fmt.Println("hello from", runtime.Version()) }
"""

DOCKERFILE = """\
# A template-like client: build stage, a stage built on it, a busybox runtime.
ARG GO_IMAGE=golang:{go}-{tag}
FROM ${{GO_IMAGE}} AS build
WORKDIR /src
COPY go.mod main.go ./
RUN CGO_ENABLED=0 go build -o /out/hello .

FROM build AS checked
RUN /out/hello

FROM busybox:{tag}
COPY --from=checked /out/hello /hello
ENTRYPOINT ["/bin/sh", "-c", "/hello && echo shell ok"]
"""


def _remove(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(ImageNotFound):
            docker_client().images.remove(name, noprune=False)


@pytest.fixture
def unique_tag() -> Iterator[str]:
    tag = f"standins-test-{uuid.uuid4().hex[:8]}"
    yield tag
    golang = [f"golang:{go}-{tag}" for go in ("1.19", "1.22")]
    _remove([*golang, f"busybox:{tag}", f"python:{tag}", f"standins-test/hello:{tag}"])


@pytest.mark.parametrize(("go", "kind", "version"), [("1.19", "golang", "go1.19"), ("1.22", "golang-trixie", "go1.24")])
def test_multi_stage_go_build_through_stand_ins(tmp_path: Path, unique_tag: str, go: str, kind: str, version: str):
    (tmp_path / "main.go").write_text(MAIN_GO)
    (tmp_path / "go.mod").write_text(f"module example.com/hello\n\ngo {go}\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.format(go=go, tag=unique_tag))
    messages: list[str] = []

    standins = ensure_from_images([dockerfile], messages.append)

    golang = f"golang:{go}-{unique_tag}"
    assert [(s.image, s.kind) for s in standins] == [(golang, kind), (f"busybox:{unique_tag}", "busybox")]
    assert f"{golang}: not present and not pullable; using an offline stand-in" in "\n".join(messages)
    client = docker_client()
    for standin in standins:
        image = client.images.get(standin.image)
        assert image.labels.get(STANDIN_LABEL) == standin.kind
        assert image.id == client.images.get(standin.standin_tag).id

    built, _ = client.images.build(
        path=str(tmp_path), tag=f"standins-test/hello:{unique_tag}", rm=True, forcerm=True, timeout=600
    )
    output = client.containers.run(built.id, remove=True, labels={LABEL: "1"}).decode()
    first, second = output.splitlines()
    assert first.startswith(f"hello from {version}")  # Debian's Go of the stand-in's suite
    assert second == "shell ok"
    assert client.images.get(f"busybox:{unique_tag}").attrs["Size"] < 10_000_000  # busybox only


def test_present_image_is_not_replaced(tmp_path: Path, unique_tag: str):
    base = ensure_base_image(OFFLINE_BASE_IMAGE).tag
    client = docker_client()
    real = client.images.get(base)
    real.tag("python", unique_tag)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM python:{unique_tag}\n")
    messages: list[str] = []

    assert ensure_from_images([dockerfile], messages.append) == []

    assert messages == [f"python:{unique_tag}: present"]
    assert client.images.get(f"python:{unique_tag}").id == real.id
