"""Repo-wide pytest set-up. The harness plugin itself is registered through the pytest11 entry point."""
