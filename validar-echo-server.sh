#!/usr/bin/env bash
# The course's exercise 3: checks the running server from inside its Docker network.
#   ./validar-echo-server.sh
# A throw-away container on the server's network (no port published, nothing installed on the host)
# runs `python3 -m client.probe`: success when the server echoes a message or answers a PING with
# its PONG. Prints exactly one of
#   action: test_echo_server | result: success      (exit 0)
#   action: test_echo_server | result: fail         (exit 1)
# Settings (environment): SERVER_CONTAINER (server), SERVER_PORT (12345), PROBE_IMAGE (client:latest),
# PROBE_TIMEOUT seconds for the whole check (20).
set -uo pipefail
trap 'exit 1' INT TERM  # run the EXIT trap below on a signal too

server_container=${SERVER_CONTAINER:-server}
server_port=${SERVER_PORT:-12345}
probe_image=${PROBE_IMAGE:-client:latest}
probe_timeout=${PROBE_TIMEOUT:-20}

verdict() {
    echo "action: test_echo_server | result: $1"
    [ "$1" = success ] && exit 0
    exit 1
}

why() { echo "validar-echo-server: $*" >&2; }

running=$(docker inspect --format '{{.State.Running}}' "$server_container" 2>/dev/null) || {
    why "no container named '$server_container'"
    verdict fail
}
if [ "$running" != true ]; then
    why "container '$server_container' is not running"
    verdict fail
fi
# The first of its networks, and its address there (a name resolves only where compose gave it one).
read -r network address < <(docker inspect --format \
    '{{range $name, $net := .NetworkSettings.Networks}}{{$name}} {{$net.IPAddress}}{{"\n"}}{{end}}' "$server_container")
if [ -z "${network:-}" ] || [ -z "${address:-}" ]; then
    why "container '$server_container' has no address on a network"
    verdict fail
fi
if ! docker image inspect "$probe_image" >/dev/null 2>&1; then
    why "probe image '$probe_image' is missing: build it (make docker-image) or set PROBE_IMAGE"
    verdict fail
fi

# The probe container goes away whatever happens to this script (a timeout, a signal): a container
# left on the network would keep `docker compose down` from removing it.
probe_name="validar-echo-server-$$-$RANDOM"
trap 'docker rm -f "$probe_name" >/dev/null 2>&1' EXIT
output=$(timeout "$probe_timeout" docker run --rm --name "$probe_name" --network "$network" \
    --entrypoint python3 "$probe_image" -m client.probe "$address:$server_port" 2>&1)
status=$?
if [ $status -eq 0 ]; then
    verdict success
fi
why "${output:-the probe gave no answer within ${probe_timeout}s}"
verdict fail
