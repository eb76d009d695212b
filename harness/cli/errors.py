"""How a command's failure becomes the ``harness`` exit code: 2 for what the user asked wrongly, 1
for a run the engine, the images or the system under test did not let finish. Either is one line,
``harness: error: ...``, never a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """The command line asks for something impossible (a missing folder, no cluster to pick)."""


USAGE_ERRORS: tuple[type[Exception], ...] = (UsageError, ValueError, FileNotFoundError)


def _run_failures() -> tuple[type[Exception], ...]:
    # Imported when a command failed, not before: these modules pull in the docker SDK, which a
    # command such as `render --course-layout` never needs.
    from harness.check.sut import SutError
    from harness.cluster_errors import ClusterError
    from harness.engine import EngineUnavailable
    from harness.images import ImageError
    from harness.standins import StandInError

    return (EngineUnavailable, ImageError, ClusterError, StandInError, SutError)


def exit_code_for(error: Exception) -> int | None:
    """2 for a usage error, 1 for a failed run, None for a bug (let its traceback show)."""
    if isinstance(error, USAGE_ERRORS):
        return 2
    if isinstance(error, _run_failures()):
        return 1
    return None
