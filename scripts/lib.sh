# Shared helpers for scripts/run and scripts/test. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP_DIR="$ROOT/tmp"   # ignored by git: databases, venvs, logs, screenshots
mkdir -p "$TMP_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: installs the Debian packages that are missing.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_swift: puts the toolchain on PATH (this image keeps it in /opt/swift).
ensure_swift() {
    command -v swift >/dev/null 2>&1 && return 0
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH" && return 0
    die "swift not found: install Swift 6 (https://www.swift.org/install/linux/) and put it on PATH"
}

# ensure_venv [NAME REQUIREMENTS]: a Python virtualenv under tmp/ with tooling from
# PyPI (default: tmp/venv from Tests/requirements.txt, put first on PATH).
ensure_venv() {
    local name="${1:-venv}" requirements="${2:-$ROOT/Tests/requirements.txt}"
    local venv="$TMP_DIR/$name"
    local stamp="$venv/.requirements"
    if [ ! -x "$venv/bin/python" ]; then
        ensure_packages python3-venv
        python3 -m venv "$venv"
    fi
    if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
        say "installing Python tooling into tmp/$name"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$stamp"
    fi
    [ "$name" = venv ] && export PATH="$venv/bin:$PATH"
    return 0
}

# stop_process PID [SECONDS]: SIGTERM, wait up to SECONDS (default 20), then SIGKILL.
stop_process() {
    local pid="$1" limit="${2:-20}" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within ${limit}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# free_port: a TCP port nothing listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
