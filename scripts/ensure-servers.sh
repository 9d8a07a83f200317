#!/usr/bin/env bash
# Make sure the server binaries the tests start for themselves are installed:
# redis-server, PostgreSQL (initdb/pg_ctl), and Debian's headless chromium with its chromedriver
# and the Noto fonts (tests/serve drive the dashboard in it; Selenium downloads nothing).
# Tests run their own instances on free ports; nothing here starts a service. Installs with
# apt-get where missing (needs root or sudo).
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ -d /usr/share/fonts/truetype/noto ] || need+=(fonts-noto-core)
((${#need[@]} == 0)) && exit 0

echo "ensure-servers: installing ${need[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
