"""pytest plugin (entry point ``pytest11``, name ``lottery_harness``): images, datasets and
clusters as fixtures.

Every fixture is thin; the same ``Cluster`` works from the CLI and plain Python. Override a
fixture (``harness_images``, ``agency_data``...) to change its setting. pytest registers each module
below as a plugin of its own (``pytest_plugins``); ``-p no:lottery_harness`` disables them all.

- ``options``: the ``--harness-*`` options and the markers
- ``skips``: scenarios skipped without an engine, or for what the backend cannot do
- ``fixtures``: images, the system under test, datasets, config files
- ``clusters``: the ``cluster`` fixture (down, log-contract check, artifacts), swarms, the sweep
- ``reports``: each test's outcome, its timeline report.html and artifacts folder
- ``trials``: how many randomized trials, their seed, the reliability figures they report
- ``session``: what those share (the session id, the ``[harness]`` line writer)
"""

from harness.plugin.session import SESSION_ID

# In import order: a module comes before any that imports it (pytest rewrites the asserts of a
# plugin module only if it is the first to import it, and warns otherwise).
pytest_plugins = [
    "harness.plugin.options",
    "harness.plugin.skips",
    "harness.plugin.fixtures",
    "harness.plugin.reports",
    "harness.plugin.clusters",
    "harness.plugin.trials",
]

__all__ = ["SESSION_ID"]
