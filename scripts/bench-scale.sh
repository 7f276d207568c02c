#!/usr/bin/env bash
# Validation at scale: the embedded store holding 1k, 100k and 1M live sessions.
#
#   scripts/bench-scale.sh
#
# For each size it bootstraps a fresh data directory, fills it with that many live sessions
# through the store's own interface (crates/tollgate/examples/generate_sessions.rs; no
# logins, which would each cost a password hash), starts the release server on it (plain
# HTTP, a free loopback port, throttles off), and measures with wrk: one hot token; then
# tokens rotating over up to 100k of the sessions, a first pass (first uses: each reads its
# session from the store once) and a second one (cached). It prints per size: the time to
# generate, the store's size on disk, the start-up time (until the listening line), the
# server's resident memory after start and after the runs, and req/s and p99 of each run,
# with each p99 as a ratio to the smallest size's.
#
# Traffic goes to 127.0.0.1 only; every wrk run is bounded (SCALE_DURATION seconds). The
# processes it starts are stopped and its temporary directory removed on exit. Needs wrk
# (installed with apt-get when missing and running as root), curl and awk.
#
# Settings (environment): SCALE_SIZES ("1000 100000 1000000"), SCALE_DURATION (5),
# SCALE_THREADS (2), SCALE_CONNECTIONS (16), SCALE_NO_BUILD=1 skips the cargo build. Uses
# CARGO_TARGET_DIR when set.
set -euo pipefail

SIZES=${SCALE_SIZES:-"1000 100000 1000000"}
DURATION=${SCALE_DURATION:-5}
THREADS=${SCALE_THREADS:-2}
CONNECTIONS=${SCALE_CONNECTIONS:-16}
ROTATING=100000

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
say() { printf '%s\n' "$*" >&2; }
die() { say "bench-scale: $*"; exit 1; }

if ! command -v wrk >/dev/null; then
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || die "wrk is missing: apt-get install wrk (as root)"
    say "installing wrk (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [[ ${SCALE_NO_BUILD:-0} != 1 ]]; then
    say "building (release)…"
    cargo build --release -p tollgate --bin tollgate --example generate_sessions
fi
TOLLGATE=$TARGET/release/tollgate
GENERATE=$TARGET/release/examples/generate_sessions
[[ -x $TOLLGATE && -x $GENERATE ]] || die "no release build in $TARGET/release"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-scale.XXXXXX")
SERVER=
cleanup() {
    [[ -n $SERVER ]] && { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; } || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# wrk_run SCRIPT URL → "req/s p99_ms"
wrk_run() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$1" "$2" 2>/dev/null |
        awk '/^RESULT/ { print $2, $3 }'
}
LUA_DONE='
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status))
end'

printf '%-9s %8s %9s %9s %8s %8s %16s %16s %16s\n' sessions "gen s" "store MiB" "start ms" \
    "RSS MiB" "after" "hot req/s p99" "first req/s p99" "warm req/s p99"
BASE_P99=()
for size in $SIZES; do
    data=$WORK/data-$size
    password="scale-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    TOLLGATE_ADMIN_PASSWORD=$password "$TOLLGATE" --data "$data" bootstrap >/dev/null 2>&1 ||
        die "bootstrap failed"
    started=$(now_ms)
    "$GENERATE" "$data" "$size" "$WORK/tokens-$size" || die "generating $size sessions failed"
    generated=$(( $(now_ms) - started ))
    store_mib=$(du -cb "$data"/tollgate.db* | awk 'END { printf "%.1f", $1 / 1048576 }')

    started=$(now_ms)
    env TOLLGATE_DIALECTS__HCX__LISTEN='[]' TOLLGATE_LOG=warn TOLLGATE_THROTTLE__LOGIN_PER_SECOND=0 \
        TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND=0 \
        "$TOLLGATE" --data "$data" serve --http --listen 127.0.0.1:0 >"$WORK/out-$size" 2>"$WORK/err-$size" &
    SERVER=$!
    url=
    for _ in $(seq 1 600); do
        url=$(awk '/^tollgate listening on/ { print $NF; exit }' "$WORK/out-$size")
        [[ -n $url ]] && break
        kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/err-$size" >&2; die "the server exited"; }
        sleep 0.01
    done
    [[ -n $url ]] || die "the server did not start"
    startup=$(( $(now_ms) - started ))
    rss_start=$(rss_mib "$SERVER")

    hot=$(head -n1 "$WORK/tokens-$size")
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $hot" "$url/v1/sessions/current") == 200 ]] ||
        die "a generated token is not accepted"
    cat >"$WORK/hot.lua" <<LUA
local req
init = function(args) req = wrk.format("GET", "/v1/sessions/current", {["Authorization"] = "Bearer $hot"}) end
request = function() return req end
$LUA_DONE
LUA
    shuf -n "$ROTATING" "$WORK/tokens-$size" >"$WORK/rotating-$size" 2>/dev/null || head -n "$ROTATING" "$WORK/tokens-$size" >"$WORK/rotating-$size"
    cat >"$WORK/rotating.lua" <<LUA
local tokens, i = {}, 0
init = function(args)
  for line in io.lines("$WORK/rotating-$size") do tokens[#tokens + 1] = line end
  -- Each thread starts elsewhere in the list, so that the first pass is first uses.
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/v1/sessions/current", {["Authorization"] = "Bearer " .. tokens[i]})
end
$LUA_DONE
LUA
    read -r hot_rps hot_p99 < <(wrk_run "$WORK/hot.lua" "$url")
    read -r first_rps first_p99 < <(wrk_run "$WORK/rotating.lua" "$url")
    read -r warm_rps warm_p99 < <(wrk_run "$WORK/rotating.lua" "$url")
    rss_after=$(rss_mib "$SERVER")
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    rm -rf "$data"

    if [[ ${#BASE_P99[@]} -eq 0 ]]; then BASE_P99=("$hot_p99" "$first_p99" "$warm_p99"); fi
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
    printf '%-9s %8.1f %9s %9s %8s %8s %7s %5s %-3s %7s %5s %-3s %7s %5s %-3s\n' "$size" \
        "$(awk -v ms="$generated" 'BEGIN { print ms / 1000 }')" "$store_mib" "$startup" "$rss_start" "$rss_after" \
        "$hot_rps" "$hot_p99" "" "$first_rps" "$first_p99" "" "$warm_rps" "$warm_p99" ""
    printf '%-9s %73s %-16s %-16s %-16s\n' "" "p99 vs ${SIZES%% *}:" "$(ratio "$hot_p99" "${BASE_P99[0]}")" \
        "$(ratio "$first_p99" "${BASE_P99[1]}")" "$(ratio "$warm_p99" "${BASE_P99[2]}")"
done
say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per run; p99 in ms; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
