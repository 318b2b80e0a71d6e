#!/usr/bin/env bash
# install-deps.sh: installs what building, running and testing Vocero need on Debian 12:
# the Debian packages (apt-get, only when something is missing) and the npm assets
# (node_modules, only when missing or older than package.json / package-lock.json).
# Idempotent; safe to run before every `make run` / `make test`. Options: --no-npm, --no-apt.
set -euo pipefail

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

do_apt=1 do_npm=1
for arg in "$@"; do
    case $arg in
    --no-apt) do_apt=0 ;;
    --no-npm) do_npm=0 ;;
    -h | --help)
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-deps: unknown option '$arg'" >&2
        exit 2
        ;;
    esac
done

# Build: compiler, pkg-config, clang + its runtime (libFuzzer, sanitizers).
# Libraries: HTTP, JWT, SQLite, PostgreSQL client, bcrypt (libcrypt), curl, audio, espeak.
# Run/test: PostgreSQL server (throwaway test clusters), wrk (bench), chromium (docs test),
# python3 (HTTP tests), valgrind, clang-format, curl.
PACKAGES=(
    build-essential pkg-config clang libclang-rt-14-dev
    libmicrohttpd-dev libjwt-dev libsqlite3-dev sqlite3 libpq-dev postgresql libcrypt-dev
    libcurl4-openssl-dev libsndfile1-dev libsoxr-dev libebur128-dev libespeak-ng-dev
    espeak-ng-data libssl-dev
    wrk chromium python3 valgrind clang-format curl ca-certificates
)
# Node.js and npm may come from elsewhere (e.g. a newer Node.js): take Debian's only when
# the commands are missing. (Installing Debian's npm next to another nodejs would conflict.)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

say() { printf 'install-deps: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo DEBIAN_FRONTEND=noninteractive "$@"
    else
        say "need root (or sudo) to run: $*" >&2
        return 1
    fi
}

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if [ $do_apt -eq 1 ]; then
    if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        say "this script expects Debian 12 (dpkg/apt-get not found); install these yourself:" >&2
        say "  ${PACKAGES[*]}" >&2
        exit 1
    fi
    missing=()
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "Debian packages: all ${#PACKAGES[@]} present"
    else
        say "installing ${#missing[@]} Debian package(s): ${missing[*]}"
        apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
            -o DPkg::Lock::Timeout=300)
        as_root apt-get "${apt_opts[@]}" update
        as_root apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
        still=()
        for p in "${missing[@]}"; do
            installed "$p" || still+=("$p")
        done
        if [ ${#still[@]} -ne 0 ]; then
            say "still missing after apt-get: ${still[*]}" >&2
            exit 1
        fi
    fi
fi

# npm assets: swagger-ui-dist (served at /docs), playwright-core (browser test),
# gpt-3-encoder (BPE reference). Install scripts are not needed by any of them.
npm_stale() {
    local stamp=node_modules/.package-lock.json
    [ -f "$stamp" ] || return 0
    [ package.json -nt "$stamp" ] && return 0
    [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ] && return 0
    local dep
    for dep in swagger-ui-dist playwright-core gpt-3-encoder; do
        [ -f "node_modules/$dep/package.json" ] || return 0
    done
    return 1
}

if [ $do_npm -eq 1 ] && [ -f package.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        say "npm not found (run without --no-apt, or install Node.js >= 18 and npm)" >&2
        exit 1
    fi
    if npm_stale && [ -L node_modules ]; then
        # npm ci would empty the folder the link points to (another checkout's) and then
        # replace the link with a folder of its own: leave a linked node_modules alone.
        say "node_modules is a link to $(readlink node_modules): not touching it (stale?)" >&2
    elif npm_stale; then
        npm_opts=(--ignore-scripts --no-audit --no-fund --loglevel=error)
        if [ -f package-lock.json ]; then
            say "npm ci"
            npm ci "${npm_opts[@]}"
        else
            say "npm install (no package-lock.json)"
            npm install "${npm_opts[@]}"
        fi
        # npm ci leaves old mtimes on the hidden lockfile in some versions: mark it fresh.
        [ -f node_modules/.package-lock.json ] && touch node_modules/.package-lock.json
    else
        say "node_modules: up to date"
    fi
fi
say "done"
