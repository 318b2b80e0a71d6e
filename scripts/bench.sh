#!/usr/bin/env bash
# bench.sh: what `make bench` runs. Starts build/vocero on loopback (temporary SQLite
# database and directories), registers and logs in a user, then loads `GET /` and
# `GET /voices` (Bearer token) with wrk and prints requests/s, latency percentiles, error
# counts and the ratio voices/root. Fails when any request is not 2xx or fails at the socket.
#
# Environment: BENCH_BIN (default build/vocero), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
# BENCH_DURATION (10s), BENCH_SECTIONS (space list, default "http" plus every
# bench/sections/*.sh), BCRYPT_COST (server default unless set), BENCH_KEEP=1 keeps the
# temporary directory.
#
# Adding a benchmark (TTS, LLM, ...): create bench/sections/NAME.sh defining a function
# `bench_section_NAME`; it runs with the server up ($BASE, $TOKEN, $TMP set) and reports
# rows with `bench_row LABEL RPS P50_MS P99_MS NON2XX SOCKET_ERRORS [NOTE]`, or
# `bench_fail MESSAGE` for a failure.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$(realpath -m "${BENCH_BIN:-build/vocero}")
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-10s}
LUA=$ROOT/bench/wrk_report.lua

die() {
    echo "bench: $*" >&2
    exit 1
}

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/install-deps.sh)"
done
[ -x "$BIN" ] || die "$BIN not found (run make first)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vocero-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log_tail() {
    echo "--- server log (tail) ---" >&2
    tail -n 30 "$TMP/server.log" >&2 || true
}

# ---- server --------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
COST_ENV=()
[ -n "${BCRYPT_COST:-}" ] && COST_ENV=(BCRYPT_COST="$BCRYPT_COST")
mkdir -p "$TMP/data" "$TMP/outputs" "$TMP/voices" "$TMP/models"
: >"$TMP/empty.env"
(
    cd "$TMP"
    exec env -i PATH="$PATH" HOME="$TMP" \
        VOCERO_ENV=production \
        SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
        DATABASE_URL="sqlite://$TMP/data/vocero.db" \
        DATA_DIR="$TMP/data" STORAGE_DIR="$TMP/outputs" VOICES_DIR="$TMP/voices" \
        MODELS_DIR="$TMP/models" HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=warn \
        ALLOWED_HOSTS="127.0.0.1,localhost" \
        SWAGGER_UI_DIR="$ROOT/node_modules/swagger-ui-dist" \
        "${COST_ENV[@]}" \
        "$BIN" serve --env-file "$TMP/empty.env"
) >"$TMP/server.log" 2>&1 </dev/null &
SERVER_PID=$!

for i in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log_tail
        die "server exited during start-up"
    fi
    curl -s -o /dev/null --max-time 1 "$BASE/" && break
    [ "$i" -eq 300 ] && {
        log_tail
        die "server did not answer GET / within 30 s"
    }
    sleep 0.1
done

# curl_json METHOD PATH EXPECTED_STATUS [BODY] [extra curl args...]: prints the body.
curl_json() {
    local method=$1 path=$2 want=$3 code
    local -a data=()
    [ -n "${4:-}" ] && data=(--data-binary "$4")
    shift $(($# < 4 ? $# : 4))
    code=$(curl -sS -o "$TMP/resp" -w '%{http_code}' --max-time 30 -X "$method" \
        -H 'Content-Type: application/json' "${data[@]}" "$@" "$BASE$path") ||
        die "$method $path: curl failed"
    if [ "$code" != "$want" ]; then
        log_tail
        die "$method $path: HTTP $code, expected $want: $(head -c 300 "$TMP/resp")"
    fi
    cat "$TMP/resp"
}

USERNAME=bench_user
PASSWORD=bench-password-$RANDOM$RANDOM
curl_json POST /auth/register 201 "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" >/dev/null
TOKEN=$(curl_json POST /auth/login 200 "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
    die "login answer has no access_token"
[ -n "$TOKEN" ] || die "empty access_token"
AUTH_HEADER="Authorization: Bearer $TOKEN"

# ---- reporting -------------------------------------------------------------------------------
ROWS=()
FAILURES=()
declare -A RPS_OF=()
bench_row() { # label rps p50 p99 non2xx socket_errors [note]
    ROWS+=("$(printf '%-22s %12s %10s %10s %8s %8s  %s' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-}")")
    RPS_OF[$1]=$2
}
bench_fail() { FAILURES+=("$*"); }

# run_wrk LABEL PATH [wrk args...]: checks one request answers 200 first, then loads it.
run_wrk() {
    local label=$1 path=$2
    shift 2
    local code out line
    local -a hdr=()
    local a
    for a in "$@"; do hdr+=(-H "$a"); done
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${hdr[@]}" "$BASE$path") || code=000
    if [ "$code" != 200 ]; then
        bench_fail "$label: a single request answered HTTP $code, expected 200"
        return
    fi
    echo
    echo "== $label: wrk -t$THREADS -c$CONNS -d$DURATION --latency $BASE$path"
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency --timeout 5s -s "$LUA" \
        "${hdr[@]}" "$BASE$path" 2>&1) || {
        echo "$out"
        bench_fail "$label: wrk failed"
        return
    }
    echo "$out" | grep -v '^WRK_RESULT'
    line=$(echo "$out" | grep '^WRK_RESULT' | tail -n 1)
    [ -n "$line" ] || {
        bench_fail "$label: no WRK_RESULT line from $LUA"
        return
    }
    kv() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    local rps p50 p99 non2xx sock wrk_non2xx
    rps=$(kv rps) p50=$(kv p50_ms) p99=$(kv p99_ms) non2xx=$(kv non2xx)
    sock=$(($(kv connect) + $(kv read) + $(kv write) + $(kv timeout)))
    # Cross-check with wrk's own summary line.
    wrk_non2xx=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
    [ -n "$wrk_non2xx" ] && [ "$wrk_non2xx" -gt "$non2xx" ] && non2xx=$wrk_non2xx
    bench_row "$label" "$rps" "$p50" "$p99" "$non2xx" "$sock" "$(kv requests) requests"
    [ "$non2xx" -eq 0 ] || bench_fail "$label: $non2xx non-2xx responses"
    [ "$sock" -eq 0 ] || bench_fail "$label: $sock socket errors (connect/read/write/timeout)"
    [ "$(kv requests)" -gt 0 ] || bench_fail "$label: no request completed"
}

# ---- sections --------------------------------------------------------------------------------
bench_section_http() {
    run_wrk "GET /" /
    run_wrk "GET /voices (bearer)" /voices "$AUTH_HEADER"
    local root=${RPS_OF["GET /"]:-} voices=${RPS_OF["GET /voices (bearer)"]:-}
    if [ -n "$root" ] && [ -n "$voices" ]; then
        RATIO=$(python3 -c "print(f'{$voices / $root:.2f}' if $root > 0 else 'n/a')")
    fi
}

SECTIONS=(http)
shopt -s nullglob
for f in bench/sections/*.sh; do
    # shellcheck source=/dev/null
    . "$f"
    SECTIONS+=("$(basename "$f" .sh)")
done
shopt -u nullglob
[ -n "${BENCH_SECTIONS:-}" ] && read -r -a SECTIONS <<<"$BENCH_SECTIONS"

RATIO=""
for s in "${SECTIONS[@]}"; do
    declare -F "bench_section_$s" >/dev/null || die "unknown section '$s'"
    "bench_section_$s"
done

kill -0 "$SERVER_PID" 2>/dev/null || {
    log_tail
    bench_fail "server died during the benchmark"
}

# ---- summary ---------------------------------------------------------------------------------
echo
echo "Vocero $("$BIN" --version 2>/dev/null | head -n 1) on $(nproc) cores," \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "wrk -t$THREADS -c$CONNS -d$DURATION on loopback, SQLite, LOG_LEVEL=warn"
printf '%-22s %12s %10s %10s %8s %8s  %s\n' endpoint "requests/s" "p50 ms" "p99 ms" non-2xx \
    "sock-err" note
for r in "${ROWS[@]}"; do echo "$r"; done
[ -n "$RATIO" ] && echo "ratio GET /voices / GET /: $RATIO"

if [ ${#FAILURES[@]} -ne 0 ]; then
    echo
    for f in "${FAILURES[@]}"; do echo "FAIL $f"; done
    exit 1
fi
echo "bench: ok"
