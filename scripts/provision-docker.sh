#!/usr/bin/env bash
# Makes a Docker engine with Compose v2 usable on this machine.
#   1. Already usable (docker info answers, compose reports v2): do nothing.
#   2. Root on Debian: install Debian's docker.io, take docker-compose (v2) and
#      docker-buildx from Debian 13 (trixie) with a low apt pin, start dockerd.
#   3. Otherwise: say what to install and exit non-zero.
# Idempotent; fast when already done.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
ENGINE_TIMEOUT=${ENGINE_TIMEOUT:-60}

say() { printf 'provision-docker: %s\n' "$*" >&2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
compose_is_v2() {
  local v
  v=$(timeout 10 docker compose version --short 2>/dev/null) || return 1
  [[ ${v#v} == 2.* ]]
}

if command -v docker >/dev/null 2>&1 && engine_answers && compose_is_v2; then
  say "Docker engine and Compose v2 already usable; nothing to do."
  exit 0
fi

if [[ $(id -u) -ne 0 || ! -f /etc/debian_version ]]; then
  say "no usable Docker engine with Compose v2, and this is not root on Debian."
  say "Install Docker Engine >= 20.10 with the Compose v2 plugin (https://docs.docker.com/engine/install/),"
  say "start it, and run this again."
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# The mirror apt already uses, read from its sources (deb822 or one-line format).
debian_mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [[ -z $uri ]]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
# The CLI may come from elsewhere (/usr/local/bin); the plugins must be where it looks.
[[ -x /usr/libexec/docker/cli-plugins/docker-compose ]] || need_install+=(compose)
[[ -x /usr/libexec/docker/cli-plugins/docker-buildx ]] || need_install+=(buildx)

if ((${#need_install[@]})); then
  mirror=$(debian_mirror)
  say "installing: ${need_install[*]} (mirror $mirror)"
  cat >/etc/apt/sources.list.d/lottery-harness-trixie.sources <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Nothing is taken from trixie unless asked for by name (pkg/trixie below).
  cat >/etc/apt/preferences.d/lottery-harness-trixie <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
  apt-get install -y -qq --no-install-recommends docker-compose/trixie docker-buildx/trixie >/dev/null
fi

if ! engine_answers; then
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$((SECONDS + ENGINE_TIMEOUT))
  until engine_answers; do
    if ((SECONDS >= deadline)); then
      say "dockerd did not answer within ${ENGINE_TIMEOUT}s; last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
fi

if ! compose_is_v2; then
  say "docker compose does not report v2: $(docker compose version 2>&1 || true)"
  exit 1
fi
say "ready: engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short)"
