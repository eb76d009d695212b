"""The test harness: compose files for N agencies (Jinja2), their images, clusters run through
testcontainers and the docker SDK, log events, faults, domain assertions, the pytest plugin and the
`harness` CLI (README.md)."""
