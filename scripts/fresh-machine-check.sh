#!/usr/bin/env bash
# fresh-machine-check.sh: the README's first run on a machine with nothing installed. Makes a
# fresh Debian 12 root (debootstrap, minbase, from the mirror in this machine's apt sources),
# clones this checkout's HEAD into it, installs only `make` (as the README says a minimal
# system needs), runs `make run` there until `GET /` answers on PORT, then stops it.
# Options:
#   --full      also run `make test` in the fresh root afterwards (long: every stage)
#   --short     build only: `make deps` then `make` (no server; does NOT catch flags read
#               before deps ran, which only `make run` / `make test` in one go would)
#   --rev REV   check out REV instead of HEAD (e.g. an old commit, to see the check fail)
#   --port N    PORT for the server (default 18080; the root shares this machine's network)
#   --keep      leave the root (and its build) in place for a look afterwards
#   --no-cache  debootstrap from the mirror again instead of unpacking the cached base
# Environment: JOBS (make -j in the root, default 2; JOBS=1 is the README's plain `make run`),
# FRESH_MIRROR (instead of the apt sources' one), FRESH_WORKDIR (where the root goes, default
# /var/tmp), FRESH_RUN_TIMEOUT_S (default 3600).
# Needs root, Linux and apt (debootstrap is installed when missing). Cache: the untouched
# debootstrap result as a tarball (made again after a week), and the .deb files apt
# downloads (both under $FRESH_CACHE, default /var/cache/vocero-fresh-machine); every run
# still starts from a root where nothing but the base system is installed. The root gets
# this machine's DNS, proxy variables and local CA certificates, nothing else of it.
# Exit 0 when the check passed.
set -euo pipefail

SUITE=bookworm
MODE=run
REV=HEAD
PORT=18080
KEEP=0
USE_CACHE=1
CACHE=${FRESH_CACHE:-/var/cache/vocero-fresh-machine}
JOBS=${JOBS:-2}
RUN_TIMEOUT_S=${FRESH_RUN_TIMEOUT_S:-3600}

START=$SECONDS
say() { printf 'fresh-machine: [%d s] %s\n' $((SECONDS - START)) "$*"; }
die() {
    say "FAIL: $*" >&2
    exit 1
}

ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --full) MODE=full ;;
    --short) MODE=short ;;
    --rev)
        REV=${2:?--rev needs a revision}
        shift
        ;;
    --port)
        PORT=${2:?--port needs a number}
        shift
        ;;
    --keep) KEEP=1 ;;
    --no-cache) USE_CACHE=0 ;;
    -h | --help)
        sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
# A mount namespace of our own where the machine allows one: whatever a failed cleanup leaves
# mounted goes away with it. (Each mount is made private below as well.)
if [ -z "${FRESH_MOUNT_NS:-}" ] && unshare --mount --propagation private true 2>/dev/null; then
    exec unshare --mount --propagation private env FRESH_MOUNT_NS=1 "$0" "${ORIG_ARGS[@]}"
fi
command -v apt-get >/dev/null 2>&1 || die "needs a Debian-like machine (apt-get)"
COMMIT=$(git -C "$REPO" rev-parse --verify "$REV^{commit}") || die "no revision '$REV'"

# ---- the mirror: the first archive of this machine's apt sources that carries $SUITE ----
mirror_from_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk -v suite="$SUITE" '$1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) print $i
        }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822 stanzas: Types, URIs, Suites (and Enabled) fields
        awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" } {
            types = uris = suites = ""; enabled = "yes"
            for (j = 1; j <= NF; j++) {
                if ($j ~ /^[ \t]*#/ || index($j, ":") == 0) continue
                key = tolower(substr($j, 1, index($j, ":") - 1))
                val = substr($j, index($j, ":") + 1)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = val
            }
            if (enabled ~ /no/ || (" " types " ") !~ /[ \t]deb[ \t]/) next
            if ((" " suites " ") !~ ("[ \t]" suite "[ \t]")) next
            n = split(uris, u, /[ \t]+/)
            for (k = 1; k <= n; k++) if (u[k] != "") print u[k]
        }' "$f"
    done
}
MIRROR=${FRESH_MIRROR:-$(mirror_from_sources | head -n 1)}
[ -n "$MIRROR" ] || die "no '$SUITE' archive in /etc/apt/sources.list{,.d/*}; set FRESH_MIRROR"
MIRROR=${MIRROR%/}

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends debootstrap \
        >/dev/null || { apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get -y -q install --no-install-recommends debootstrap >/dev/null; } ||
        die "could not install debootstrap"
fi

# ---- the fresh root, and everything that must go when we stop ----------------------------
WORK=$(mktemp -d "${FRESH_WORKDIR:-/var/tmp}/vocero-fresh.XXXXXX")
ROOT=$WORK/root
LOG=$WORK/make.log
MOUNTS=()
SERVER_PID=

# Processes whose root directory is inside ours: all started by this check.
chroot_pids() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$ROOT" | "$ROOT"/*) echo "${p#/proc/}" ;; esac
    done
}

cleanup() {
    local rc=$? p i
    trap - EXIT INT TERM
    [ -n "$SERVER_PID" ] && kill -TERM -- "-$SERVER_PID" 2>/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10; do
        [ -z "$(chroot_pids)" ] && break
        [ "$i" -eq 6 ] && for p in $(chroot_pids); do kill -KILL "$p" 2>/dev/null; done
        for p in $(chroot_pids); do kill -TERM "$p" 2>/dev/null; done
        sleep 1
    done
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" ||
            say "warning: could not unmount ${MOUNTS[$i]}" >&2
    done
    say "cleaning up"
    if [ $KEEP -eq 1 ]; then
        say "kept $ROOT (unmounted; remove with: rm -rf $WORK)"
    elif grep -q " $WORK/" /proc/mounts; then
        say "warning: something is still mounted under $WORK; not removing it" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
    say "$([ $rc -eq 0 ] && echo PASSED || echo FAILED)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() { # SRC DEST [mount options...]
    local src=$1 dest=$ROOT$2
    shift 2
    mkdir -p "$dest"
    if [ "$src" = tmpfs ] || [ "$src" = proc ] || [ "$src" = sysfs ] || [ "$src" = devpts ]; then
        mount -t "$src" "$@" "$src" "$dest"
    else
        mount --bind "$@" "$src" "$dest"
    fi
    MOUNTS+=("$dest")
    # nothing mounted under it (devpts under /dev) may reach the machine's own tree
    mount --make-private "$dest"
}

# This machine's network settings are not the project's to supply: the proxy variables and
# the trust settings of a TLS-inspecting proxy (its CA certificates, installed into the
# root's store when the ca-certificates package is, and the variables naming that store).
NET_ENV=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY NODE_EXTRA_CA_CERTS \
    SSL_CERT_FILE SSL_CERT_DIR; do
    [ -n "${!v:-}" ] && NET_ENV+=("$v=${!v}")
done
ROOT_ENV=(HOME=/root LANG=C.UTF-8 TERM=dumb
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${NET_ENV[@]}")

in_root() { # CMD...: run in the root with a clean environment, as a fresh login would
    chroot "$ROOT" /usr/bin/env -i "${ROOT_ENV[@]}" "$@"
}

say "mode $MODE, commit $(git -C "$REPO" log -1 --format='%h %s' "$COMMIT" | cut -c1-80)"
say "mirror $MIRROR, root $ROOT"

# ---- 1. base system -----------------------------------------------------------------------
mkdir -p "$CACHE/apt-archives/partial"
BASE=$CACHE/$SUITE-minbase-$(printf '%s' "$MIRROR" | sha256sum | cut -c1-12).tar.gz
mkdir -p "$ROOT"
# a week-old base is made again (apt-get update inside brings the rest up to date anyway)
if [ $USE_CACHE -eq 1 ] && [ -n "$(find "$BASE" -mtime -7 2>/dev/null)" ]; then
    say "base: unpacking the debootstrap result cached in $BASE"
    tar -xzf "$BASE" -C "$ROOT" --numeric-owner
else
    say "base: debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -f "$ROOT"/var/cache/apt/archives/*.deb
    tar -czf "$BASE.tmp" -C "$ROOT" --numeric-owner . && mv "$BASE.tmp" "$BASE"
fi
for pkg in make gcc pkg-config libpq-dev nodejs; do
    if in_root dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        die "the base system already has $pkg: not a fresh machine"
    fi
done

# What a fresh machine has that a bare root lacks: name resolution, /proc, /sys, /dev. The
# .deb cache only saves downloads; apt still installs every package. policy-rc.d keeps
# packages from starting services (postgresql) that would outlive the check.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -f /etc/hosts ] && cp /etc/hosts "$ROOT/etc/hosts"
for crt in /usr/local/share/ca-certificates/*.crt; do
    [ -f "$crt" ] || continue
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp "$crt" "$ROOT/usr/local/share/ca-certificates/"
done
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
bind proc /proc
bind sysfs /sys
bind /dev /dev
bind devpts /dev/pts -o newinstance,ptmxmode=0666
bind tmpfs /dev/shm -o mode=1777
bind tmpfs /tmp -o mode=1777
bind "$CACHE/apt-archives" /var/cache/apt/archives

# ---- 2. the checkout: committed HEAD (or --rev), cloned into the root ---------------------
say "clone: $COMMIT"
git clone -q --no-checkout --no-hardlinks "$REPO" "$ROOT/root/vocero"
git -C "$ROOT/root/vocero" checkout -q --detach "$COMMIT"

# ---- 3. what the README asks of a minimal system: make -------------------------------------
say "apt-get install -y make"
in_root sh -c 'apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q make' \
    >"$WORK/make-install.log" 2>&1 || { tail -n 30 "$WORK/make-install.log" >&2; die "apt-get install make failed"; }

# ---- 4. the README's command ------------------------------------------------------------------
answers() { # 0 when GET / on PORT gives 200 with Vocero's health document
    local body
    body=$(curl -s --max-time 5 -f "http://127.0.0.1:$PORT/" 2>/dev/null) || return 1
    case $body in *'"status"'*'"version"'*) return 0 ;; *) return 1 ;; esac
}
show_log() {
    say "last lines of the log ($LOG):" >&2
    tail -n 40 "$LOG" >&2
}

if [ $MODE = short ]; then
    say "make deps, then make -j$JOBS (build only)"
    in_root sh -c "cd /root/vocero && make deps </dev/null && make -j$JOBS </dev/null" \
        >"$LOG" 2>&1 || { show_log; die "build failed"; }
    [ -x "$ROOT/root/vocero/build/vocero" ] || die "no build/vocero after make"
    say "build ok"
    exit 0
fi

answers && die "something already answers on port $PORT: choose another with --port"
say "make -j$JOBS run (PORT=$PORT), waiting for GET / to answer"
# Its own session, so stopping it stops make, the build and the server together.
setsid chroot "$ROOT" /usr/bin/env -i "${ROOT_ENV[@]}" PORT="$PORT" \
    sh -c "cd /root/vocero && exec make -j$JOBS run" </dev/null >"$LOG" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + RUN_TIMEOUT_S))
until answers; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID" && rc=0 || rc=$?
        SERVER_PID=
        show_log
        die "make run exited (status $rc) before GET / answered"
    fi
    [ $SECONDS -lt $deadline ] || { show_log; die "GET / did not answer within ${RUN_TIMEOUT_S}s"; }
    sleep 2
done
say "GET / answered on port $PORT: $(curl -s "http://127.0.0.1:$PORT/" | head -c 160)"
kill -TERM -- "-$SERVER_PID"
for _ in $(seq 30); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 1
done
kill -0 "$SERVER_PID" 2>/dev/null && die "make run did not stop on SIGTERM"
SERVER_PID=
answers && die "port $PORT still answers after make run stopped"
say "make run stopped"

if [ $MODE = full ]; then
    say "make test"
    in_root sh -c "cd /root/vocero && JOBS=$JOBS make test </dev/null" >"$WORK/test.log" 2>&1 ||
        {
            LOG=$WORK/test.log show_log
            # The root goes with the clean-up: keep its test logs and name the failed lines.
            KEPT=${FRESH_WORKDIR:-/var/tmp}/vocero-fresh-test-logs.$(date +%Y%m%d-%H%M%S)
            if cp -r "$ROOT/root/vocero/build/test-logs" "$KEPT" 2>/dev/null; then
                say "test logs kept in $KEPT" >&2
            fi
            grep -rhE '^(FAIL|!!!)|^  FAIL ' "$ROOT/root/vocero/build/test-logs" 2>/dev/null |
                head -n 40 >&2 || true
            die "make test failed"
        }
    grep -E '^[0-9]+ passed, [0-9]+ failed' "$WORK/test.log" | tail -n 1
    say "make test passed"
fi
exit 0
