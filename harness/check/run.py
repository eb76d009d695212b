"""One run of a system under test: their compose file made safe, up in a ``Cluster``, logs, down."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.check.build import SutImages
from harness.check.lines import RunLog
from harness.check.safecompose import (
    Generated,
    SafeCompose,
    generate,
    make_safe,
    occupied_subnets,
    release_subnets,
)
from harness.cluster import Cluster, new_run_id, project_name
from harness.cluster_errors import ClusterError
from harness.images import ImageSet
from harness.labels import CHECK_LABEL, LABEL, RUN_LABEL

DOWN_GRACE = 5.0
SUBNET_ATTEMPTS = 3


class GeneratorFailed(RuntimeError):
    """Their ``generar-compose.sh`` failed or wrote an unusable file (an ej1 failure)."""

    def __init__(self, generated: Generated) -> None:
        super().__init__(generated.error)
        self.generated = generated


def set_environment(service: dict[str, Any], values: Mapping[str, str]) -> None:
    """Add ``values`` to a compose service's environment (mapping or ``KEY=value`` list form)."""
    environment = service.get("environment")
    if isinstance(environment, list):
        kept = [item for item in environment if str(item).partition("=")[0] not in values]
        service["environment"] = kept + [f"{key}={value}" for key, value in values.items()]
    else:
        service["environment"] = {**(environment or {}), **values}


class SutRun:
    """``with SutRun(tree, images, clients=3, workdir=...) as run:`` -> the cluster is up.

    ``environment``: extra variables per service (``{"client1": {"NOMBRE": ...}}``);
    ``deferred``: services created but not started (``run.cluster.start(...)`` later).
    Leaving the block saves the logs (``artifacts``), takes everything down, frees the subnets.
    """

    def __init__(
        self,
        tree: Path,
        images: SutImages,
        *,
        clients: int,
        workdir: Path,
        labels: Mapping[str, str] | None = None,
        environment: Mapping[str, Mapping[str, str]] | None = None,
        deferred: Sequence[str] = (),
        artifacts: Path | None = None,
    ) -> None:
        self.tree = tree
        self.images = images
        self.clients = clients
        self.workdir = workdir
        self.labels = dict(labels or {})
        self.environment = {service: dict(values) for service, values in (environment or {}).items()}
        self.deferred = tuple(deferred)
        self.artifacts = artifacts
        self.run_id = new_run_id()
        self.safe: SafeCompose | None = None
        self.generated: Generated | None = None
        self._cluster: Cluster | None = None
        self._log: RunLog | None = None

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise RuntimeError("the run is not up")
        return self._cluster

    def __enter__(self) -> SutRun:
        generated = self.generated = generate(self.tree, self.clients)
        if not generated.ok or generated.document is None:
            raise GeneratorFailed(generated)
        document = generated.document
        for service, values in self.environment.items():
            if service in document["services"]:
                set_environment(document["services"][service], values)
        avoid: set[ipaddress.IPv4Network] = set()
        for attempt in range(1, SUBNET_ATTEMPTS + 1):
            try:
                self._up(document, avoid)
                return self
            except ClusterError as exc:
                if "Pool overlaps" not in str(exc) or attempt == SUBNET_ATTEMPTS:
                    self._finish()
                    raise
                # Another process took the subnet between our look at the engine and `up`.
                avoid |= set(self.safe.subnets if self.safe else ())
                self._finish()
            except BaseException:
                self._finish()
                raise
        raise AssertionError("unreachable")

    def _up(self, document: dict[str, Any], avoid: set[ipaddress.IPv4Network]) -> None:
        labels = self.labels_of_run
        self.safe = make_safe(
            document,
            project=project_name(self.run_id),
            labels=labels,
            tree=self.tree,
            images=self.images.as_mapping(),
            taken_subnets=occupied_subnets() | avoid,
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.safe.write(self.workdir / "safe-compose.yaml")
        self._cluster = Cluster(
            clients=self.clients,
            data=self.tree / ".data",
            images=ImageSet(server=self.images.server, client=self.images.client, base=""),
            workdir=self.workdir / "cluster",
            labels=labels,
            run_id=self.run_id,
            compose_file=path,
            deferred=self.deferred,
        )
        self._cluster.up()

    def log(self, refresh: bool = True) -> RunLog:
        """Every container's whole log, read again through the docker SDK (``refresh=False``:
        the last reading)."""
        if self._log is None or refresh:
            self._log = RunLog.from_containers(self.cluster.containers())
        return self._log

    def exit_code(self, service: str) -> int | None:
        """The engine's exit code of ``service``; None while it runs (or was never started)."""
        container = self.cluster.container(service)
        state = container.attrs.get("State", {})
        return None if state.get("Status") in ("running", "paused", "restarting", "created") else state.get("ExitCode")

    @property
    def labels_of_run(self) -> dict[str, str]:
        """The labels of everything this run starts (the teardown sweeps them)."""
        return {LABEL: "1", RUN_LABEL: self.run_id, CHECK_LABEL: "1", **self.labels}

    def image_ids(self) -> dict[str, str]:
        return {service: str(container.attrs.get("Image")) for service, container in self.cluster.containers().items()}

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish()

    def _save_artifacts(self, directory: Path) -> None:
        """Every container's log and the compose file that ran; best effort (teardown comes next)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.safe is not None:
            self.safe.write(directory / "compose.yaml")
            (directory / "compose-changes.txt").write_text("".join(f"{note}\n" for note in self.safe.notes))
        if self.generated is not None and self.generated.output:
            (directory / "generar-compose.out").write_text(self.generated.output, encoding="utf-8")
        self.log().save(directory)

    def _finish(self) -> None:
        try:
            if self._cluster is not None and self.artifacts is not None:
                with contextlib.suppress(Exception):
                    self._save_artifacts(self.artifacts)
            if self._cluster is not None:
                self._cluster.down(grace=DOWN_GRACE)
        finally:
            if self.safe is not None:
                release_subnets(self.safe.subnets)
            if self._cluster is not None:
                shutil.rmtree(self._cluster.workdir, ignore_errors=True)
            self._cluster = None
            self.safe = None
