"""Benchmarks of the harness and the server: ``python -m bench`` or ``harness bench`` (docs/benchmarks.md).

Parts: ``ingest`` (the server over loopback against a one-process baseline), ``e2e`` (the course's
dataset in containers), ``scale`` (1..100 agencies in containers), ``overhead`` (a no-op scenario's
up and down) and ``profile`` (py-spy on the server during ingest). Figures are recorded, never asserted.
"""
