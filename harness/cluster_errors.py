"""The errors a cluster raises, of either backend: defined apart so that the modules a cluster is
built from (timeline, swarm tasks...) raise them without importing ``harness.cluster``."""

from __future__ import annotations


class ClusterError(RuntimeError):
    pass


class WaitTimeout(ClusterError, TimeoutError):
    pass
