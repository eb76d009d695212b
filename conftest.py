"""Repo-wide pytest set-up. The harness plugin itself is registered through the pytest11 entry point."""

import os

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
