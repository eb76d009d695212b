#!/usr/bin/env bash
# Headless Chromium for the report's browser test (tests/test_report_browser.py): Debian's `chromium`
# package. Idempotent: does nothing when a chromium binary is already there. Never fails the build:
# without root or apt the test skips and says why.
set -uo pipefail

for candidate in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
        exit 0
    fi
done

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "provision-chromium: not root or no apt-get: the report's browser test will be skipped" >&2
    exit 0
fi

echo "provision-chromium: installing Debian's chromium (headless browser for the report test)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null \
        || echo "provision-chromium: apt-get install chromium failed: the browser test will be skipped" >&2
fi
exit 0
