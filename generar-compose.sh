#!/usr/bin/env bash
# The course's drop-in: ./generar-compose.sh OUTPUT N writes a compose file with the server and
# N clients (container names server, client1..clientN; network testing_net 172.25.125.0/24).
# It runs `python -m harness render --course-layout` (the `harness render` command, which needs only
# Python 3.11+, Jinja2 and PyYAML for this layout: this repository's .venv if present, else python3).
set -euo pipefail

usage() {
    echo "usage: $0 OUTPUT_FILE NUMBER_OF_CLIENTS   (e.g. $0 docker-compose-dev.yaml 5)" >&2
    exit 2
}

if [ "$#" -ne 2 ]; then
    usage
fi
output=$1
clients=$2
if [ -z "$output" ]; then
    echo "error: the output file name is empty" >&2
    usage
fi
if ! [[ "$clients" =~ ^[0-9]+$ ]]; then
    echo "error: the number of clients must be a non-negative integer, got '$clients'" >&2
    usage
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=python3
if [ -x "$repo_root/.venv/bin/python" ]; then
    python="$repo_root/.venv/bin/python"
fi

# A refusal of the renderer (more clients than it takes, an output it cannot write) exits 2 with
# its reason on stderr; the usage follows, as for the refusals above.
status=0
PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}" "$python" -m harness render \
    --course-layout --clients "$clients" --output="$output" || status=$?
if [ "$status" -eq 2 ]; then
    usage
fi
exit "$status"
