"""harness.standins without Docker: reading FROM lines, and which image gets a stand-in (a fake engine)."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

import pytest

from harness.standins.build import busybox_rootfs
from harness.standins.ensure import ExternalImage, ensure_from_images, ensure_image, ensure_run_image
from harness.standins.fromlines import external_images, normalise, parse_from_lines, substitute, syntax_frontend
from harness.standins.kinds import KINDS, Kind, StandInError, kind_for

# The course template's shape: a Go build stage and a busybox runtime.
TEMPLATE_CLIENT = """\
FROM golang:1.17 AS builder
LABEL intermediateBuilderImage=true
COPY . /build
WORKDIR /build
RUN CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -mod vendor -o bin/client ./client

FROM busybox:latest
COPY --from=builder /build/bin/client /client
ENTRYPOINT ["/bin/sh"]
"""


def test_template_client_needs_golang_and_busybox_but_not_its_own_stage():
    assert external_images(TEMPLATE_CLIENT) == ["golang:1.17", "busybox:latest"]


def test_arg_defaults_before_from_are_substituted_in_both_spellings():
    text = "ARG GO=1.19\nARG RUNTIME=busybox\nFROM golang:${GO} AS build\nFROM $RUNTIME\n"
    assert external_images(text) == ["golang:1.19", "busybox:latest"]


def test_build_args_override_arg_defaults():
    text = "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n"
    assert external_images(text, {"BASE_IMAGE": "python:3.9-slim"}) == ["python:3.9-slim"]


def test_arg_after_the_first_from_does_not_reach_later_from_lines():
    text = "ARG V=1.19\nFROM golang:$V AS a\nARG V=1.20\nFROM golang:$V\n"
    assert external_images(text) == ["golang:1.19"]


def test_platform_flag_scratch_and_stage_references_are_skipped():
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM --platform=$BUILDPLATFORM golang:1.19-bookworm AS Build\n"
        "FROM build AS test\n"
        "FROM scratch\n"
        "COPY --from=build /x /x\n"
        "from --platform=linux/amd64 alpine:3.18 as final\n"
    )
    assert external_images(text) == ["golang:1.19-bookworm", "alpine:3.18"]
    assert [line.stage for line in parse_from_lines(text)] == ["build", "test", None, "final"]


def test_continuations_and_comments_inside_them():
    text = "FROM \\\n  # a comment inside\n  python:3.9-slim \\\n  AS server\nRUN echo hi\n"
    (line,) = parse_from_lines(text)
    assert (line.image, line.stage, line.line) == ("python:3.9-slim", "server", 1)


def test_backtick_escape_directive():
    text = "# escape=`\nFROM `\n  python:3.9\n"
    assert external_images(text) == ["python:3.9"]


def test_a_stage_name_is_only_a_stage_after_it_was_defined():
    # `golang` before any stage called golang is the public image.
    assert external_images("FROM golang AS golang\nFROM golang\n") == ["golang:latest"]


def test_a_syntax_directive_names_its_frontend_only_at_the_top():
    assert syntax_frontend("# syntax=docker/dockerfile:1.7-labs\n\nFROM python:3.9\n") == "docker/dockerfile:1.7-labs"
    assert syntax_frontend("#Syntax = docker/dockerfile:1\nFROM busybox\n") == "docker/dockerfile:1"
    assert syntax_frontend(TEMPLATE_CLIENT) is None
    assert syntax_frontend("FROM a\nRUN x\nRUN x\nRUN x\nRUN x\n# syntax=late/comment\n") is None


def test_same_image_twice_is_listed_once():
    assert external_images("FROM busybox\nFROM busybox:latest\n") == ["busybox:latest"]


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${A:-x}", {}, "x"),
        ("${A:-x}", {"A": "a"}, "a"),
        ("${A:+y}", {"A": "a"}, "y"),
        ("${A:+y}", {}, ""),
        ("\\$A", {"A": "a"}, "$A"),
        ("$A-$B", {"A": "a", "B": "b"}, "a-b"),
    ],
)
def test_substitute(text, variables, expected):
    assert substitute(text, variables) == expected


def test_from_without_value_for_its_arg_is_an_error_naming_the_line():
    with pytest.raises(ValueError, match="line 2"):
        parse_from_lines("ARG BASE\nFROM ${BASE}\n")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("busybox", "busybox:latest"),
        ("localhost:5000/team/busybox", "localhost:5000/team/busybox:latest"),
        ("golang:1.19", "golang:1.19"),
        ("python@sha256:abc", "python@sha256:abc"),
    ],
)
def test_normalise(image, expected):
    assert normalise(image) == expected


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("golang:1.17", "golang"),
        ("golang:1.19.5-bullseye", "golang"),
        ("docker.io/library/golang:1.21-alpine", "golang-trixie"),
        ("golang:1.22", "golang-trixie"),
        ("golang:1.30", "golang-trixie"),
        ("golang:latest", "golang-trixie"),
        ("golang:1", "golang-trixie"),
        ("busybox:latest", "busybox"),
        ("alpine:3.18", "busybox"),
        ("python:3.9.7-slim", "python"),
        ("node:20", None),
        ("pythonista:1", None),
    ],
)
def test_kind_for(image, kind):
    found = kind_for(image)
    assert (found.name if found else None) == kind


class FakeEngine:
    """Images by name -> ID; pulls succeed only for ``pullable``; records builds and tags."""

    def __init__(self, images: dict[str, str] | None = None, pullable: set[str] | None = None) -> None:
        self.images = dict(images or {})
        self.pullable = pullable or set()
        self.built: list[str] = []
        self.tagged: list[tuple[str, str]] = []
        self.pulled: list[str] = []

    def image_id(self, image: str) -> str | None:
        return self.images.get(image)

    def pull(self, image: str) -> str | None:
        self.pulled.append(image)
        if image in self.pullable:
            self.images[image] = f"real-{image}"
            return None
        return "no such host"

    def build_standin(self, kind: Kind, report) -> None:
        self.built.append(kind.name)
        self.images[kind.tag] = f"standin-{kind.name}"

    def tag(self, source: str, target: str) -> None:
        self.tagged.append((source, target))
        self.images[target] = self.images[source]


def needed(name: str) -> ExternalImage:
    return ExternalImage(name, (Path("client/Dockerfile"),))


GOLANG = next(k for k in KINDS if k.name == "golang")


def test_present_real_image_is_left_alone_and_not_pulled():
    engine = FakeEngine({"golang:1.17": "real"})
    assert ensure_image(needed("golang:1.17"), engine) is None
    assert (engine.pulled, engine.built, engine.tagged) == ([], [], [])


def test_pullable_image_is_pulled_not_stood_in():
    engine = FakeEngine(pullable={"golang:1.17"})
    assert ensure_image(needed("golang:1.17"), engine) is None
    assert engine.images["golang:1.17"] == "real-golang:1.17"
    assert engine.built == []


def test_missing_image_gets_a_stand_in_built_once_and_tagged_with_the_requested_name():
    engine = FakeEngine()
    messages: list[str] = []
    first = ensure_image(needed("golang:1.17"), engine, messages.append)
    second = ensure_image(needed("golang:1.18"), engine, messages.append)
    assert first is not None and second is not None
    assert (first.image, first.kind, first.why) == ("golang:1.17", "golang", "no such host")
    assert engine.built == ["golang"]
    assert engine.tagged == [(GOLANG.tag, "golang:1.17"), (GOLANG.tag, "golang:1.18")]
    assert (
        "golang:1.17: not present and not pullable; using an offline stand-in (Debian bookworm golang-go"
        in (messages[-2])
    )


def test_a_go_newer_than_bookworms_gets_the_trixie_stand_in():
    engine = FakeEngine()
    old, new = ensure_image(needed("golang:1.17"), engine), ensure_image(needed("golang:1.22"), engine)
    assert old is not None and new is not None
    assert (old.kind, new.kind) == ("golang", "golang-trixie") and "golang-go 1.24" in new.description
    assert engine.built == ["golang", "golang-trixie"]
    assert engine.images["golang:1.22"] != engine.images["golang:1.17"]
    # `golang:1.22` tagged on the Go 1.19 stand-in (before there were two): it gets the right one
    engine = FakeEngine({GOLANG.tag: "standin-golang", "golang:1.22": "standin-golang"})
    assert ensure_image(needed("golang:1.22"), engine) is not None
    assert engine.images["golang:1.22"] == "standin-golang-trixie"


def test_stand_in_already_tagged_is_kept_without_retagging_and_replaced_once_pullable():
    engine = FakeEngine({GOLANG.tag: "standin-golang", "golang:1.17": "standin-golang"})
    assert ensure_image(needed("golang:1.17"), engine) is not None
    assert (engine.built, engine.tagged, engine.pulled) == ([], [], ["golang:1.17"])
    engine.pullable.add("golang:1.17")
    messages: list[str] = []
    assert ensure_image(needed("golang:1.17"), engine, messages.append) is None
    assert engine.images["golang:1.17"] == "real-golang:1.17"
    assert messages == ["golang:1.17: pulled (replaces the offline stand-in)"]


def test_image_built_from_a_stand_in_counts_as_real():
    # Its ID differs from the stand-in's, even though it inherited the stand-in label.
    engine = FakeEngine({GOLANG.tag: "standin-golang", "golang:1.17": "derived"})
    assert ensure_image(needed("golang:1.17"), engine) is None
    assert engine.pulled == []


def test_unknown_base_is_a_clear_error_naming_image_and_dockerfile():
    with pytest.raises(StandInError) as error:
        ensure_image(needed("node:20"), FakeEngine())
    assert "node:20" in str(error.value)
    assert "client/Dockerfile" in str(error.value)
    assert "no such host" in str(error.value)


def test_digest_pinned_image_cannot_get_a_stand_in():
    with pytest.raises(StandInError, match="digest"):
        ensure_image(needed("golang@sha256:0123"), FakeEngine())


def test_ensure_from_images_over_two_dockerfiles(tmp_path: Path):
    (tmp_path / "server").mkdir()
    (tmp_path / "client").mkdir()
    server = tmp_path / "server" / "Dockerfile"
    client = tmp_path / "client" / "Dockerfile"
    server.write_text("FROM python:3.9-slim\n")
    client.write_text(TEMPLATE_CLIENT)
    engine = FakeEngine({"busybox:latest": "real-busybox"})
    standins = ensure_from_images([server, client], engine=engine)
    assert [(s.image, s.kind, s.dockerfiles) for s in standins] == [
        ("python:3.9-slim", "python", (server,)),
        ("golang:1.17", "golang", (client,)),
    ]
    assert sorted(engine.built) == ["golang", "python"]


def test_images_a_script_runs_get_stand_ins_and_an_unknown_one_names_the_script(tmp_path: Path):
    script = tmp_path / "validar-echo-server.sh"
    engine = FakeEngine()
    standins = [ensure_run_image(image, script, engine=engine) for image in ("alpine", "busybox:1.36")]
    assert [(s.image, s.kind) for s in standins if s] == [("alpine:latest", "busybox"), ("busybox:1.36", "busybox")]
    assert engine.built == ["busybox"]
    assert engine.images["alpine:latest"] == engine.images[next(k for k in KINDS if k.name == "busybox").tag]
    with pytest.raises(StandInError) as error:
        ensure_run_image("subfuzion/netcat", script, engine=engine)
    message = str(error.value)
    assert f"subfuzion/netcat:latest (docker run in {script})" in message
    assert "change the docker run line" in message


def test_missing_dockerfile_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StandInError, match="cannot read"):
        ensure_from_images([tmp_path / "Dockerfile"], engine=FakeEngine())


def test_busybox_rootfs_has_a_shell_link_and_a_writable_tmp():
    rootfs = busybox_rootfs(b"\x7fELF", ["/bin/sh", "/usr/bin/awk", "/bin/busybox"])
    with tarfile.open(fileobj=io.BytesIO(rootfs)) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    assert members["tmp"].mode == 0o1777
    assert "usr/bin/awk" in members


def test_cli_without_dockerfiles_here_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["standins"]) == 2
    err = capsys.readouterr().err
    assert "none of server/Dockerfile, client/Dockerfile here" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_rejects_a_build_arg_without_value(tmp_path: Path, capsys):
    from harness.cli import main

    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    assert main(["standins", str(dockerfile), "--build-arg", "BASE"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


def test_parallel_callers_take_turns_so_a_stand_in_is_built_once(tmp_path: Path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM golang:1.19\n")
    engine = FakeEngine()
    builds: list[str] = []
    second_build = threading.Event()

    def build(kind: Kind, report) -> None:
        builds.append(kind.name)
        if len(builds) > 1:
            second_build.set()
        # Unserialised, the other caller gets here at once; serialised, it cannot until we return.
        second_build.wait(timeout=0.5)
        engine.images[kind.tag] = "standin-golang"

    engine.build_standin = build  # type: ignore[method-assign]
    callers = [
        threading.Thread(target=ensure_from_images, args=([dockerfile],), kwargs={"engine": engine}) for _ in "ab"
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=10)
    assert builds == ["golang"]
    assert engine.tagged == [(GOLANG.tag, "golang:1.19")]  # the second caller found it tagged
