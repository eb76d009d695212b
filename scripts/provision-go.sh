#!/usr/bin/env bash
# Go on this machine, for `harness check` on a TP0 whose `generar-compose.sh` runs `go run` (the
# course's machines have Go; its images are built in containers and do not need it). Debian's
# `golang-go`. Idempotent: does nothing when `go` is already on PATH. Exits 1 when it cannot install.
set -uo pipefail

if command -v go >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "provision-go: not root or no apt-get: install Go yourself (https://go.dev/doc/install)" >&2
    exit 1
fi

echo "provision-go: installing Debian's golang-go" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends golang-go >/dev/null; then
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends golang-go >/dev/null || {
        echo "provision-go: apt-get install golang-go failed" >&2
        exit 1
    }
fi
echo "provision-go: $(go version)" >&2
