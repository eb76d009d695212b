"""The test harness: compose files for N agencies (Jinja2), their images, clusters run through
testcontainers and the docker SDK, log events, faults, domain checks and their verdicts, the
pytest plugin and the `harness` CLI (README.md). It judges the system from outside: it reads the
server's log and store itself (``logs``, ``store``) and never imports ``server``; the fast tests
and the benchmarks run the server as a local process (``localserver``)."""
