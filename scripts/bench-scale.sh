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
# SCALE_WATCH=SECONDS adds a last phase, memory while sessions time out: a fresh store of
# SCALE_WATCH_SIZE (100000) sessions that time out after SCALE_WATCH_IDLE (60) seconds unused,
# a rotating pass over them, then the server's resident memory and live sessions every
# SCALE_WATCH_EVERY (15) seconds for SCALE_WATCH seconds while they time out (sweep every 5 s).
#
# Settings (environment): SCALE_SIZES ("1000 100000 1000000"), SCALE_DURATION (5),
# SCALE_THREADS (2), SCALE_CONNECTIONS (16), SCALE_NO_BUILD=1 skips the cargo build, and the
# SCALE_WATCH ones above. Uses CARGO_TARGET_DIR when set.
set -euo pipefail

SIZES=${SCALE_SIZES:-"1000 100000 1000000"}
DURATION=${SCALE_DURATION:-5}
THREADS=${SCALE_THREADS:-2}
CONNECTIONS=${SCALE_CONNECTIONS:-16}
ROTATING=100000
WATCH=${SCALE_WATCH:-0}
WATCH_SIZE=${SCALE_WATCH_SIZE:-100000}
WATCH_IDLE=${SCALE_WATCH_IDLE:-60}
WATCH_EVERY=${SCALE_WATCH_EVERY:-15}

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

# rotating_script TOKENS_FILE → a wrk script that sends each token of the file in turn
rotating_script() {
    cat <<LUA
local tokens, i = {}, 0
init = function(args)
  for line in io.lines("$1") do tokens[#tokens + 1] = line end
  -- Each thread starts elsewhere in the list, so that the first pass is first uses.
  i = math.random(#tokens)
end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/v1/sessions/current", {["Authorization"] = "Bearer " .. tokens[i]})
end
$LUA_DONE
LUA
}

# start_server DATA TAG [VAR=VALUE…] → SERVER (its pid) and url, once it listens; the
# variables are added to the server's environment
start_server() {
    local data=$1 tag=$2
    shift 2
    env TOLLGATE_DIALECTS__HCX__LISTEN='[]' TOLLGATE_LOG=warn TOLLGATE_THROTTLE__LOGIN_PER_SECOND=0 \
        TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND=0 "$@" \
        "$TOLLGATE" --data "$data" serve --http --listen 127.0.0.1:0 >"$WORK/out-$tag" 2>"$WORK/err-$tag" &
    SERVER=$!
    url=
    for _ in $(seq 1 600); do
        url=$(awk '/^tollgate listening on/ { print $NF; exit }' "$WORK/out-$tag")
        [[ -n $url ]] && return
        kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/err-$tag" >&2; die "the server exited"; }
        sleep 0.01
    done
    die "the server did not start"
}

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
    start_server "$data" "$size"
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
    rotating_script "$WORK/rotating-$size" >"$WORK/rotating.lua"
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

if (( WATCH > 0 )); then
    data=$WORK/data-watch
    TOLLGATE_ADMIN_PASSWORD="watch-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" "$TOLLGATE" --data "$data" bootstrap \
        >/dev/null 2>&1 || die "bootstrap failed"
    "$GENERATE" "$data" "$WATCH_SIZE" "$WORK/tokens-watch" "$WATCH_IDLE" || die "generating sessions failed"
    start_server "$data" watch TOLLGATE_SESSIONS__SWEEP_INTERVAL_SECONDS=5
    rss_start=$(rss_mib "$SERVER")
    head -n "$ROTATING" "$WORK/tokens-watch" >"$WORK/rotating-watch"
    rotating_script "$WORK/rotating-watch" >"$WORK/watch.lua"
    read -r watch_rps watch_p99 < <(wrk_run "$WORK/watch.lua" "$url")
    live() { curl -s "$url/metrics" | awk '/^tollgate_sessions_live/ { n += $2 } END { printf "%d", n }'; }
    say "memory while $WATCH_SIZE sessions time out ($WATCH_IDLE s idle timeout; RSS $rss_start MiB at start, a rotating pass of $watch_rps req/s, p99 $watch_p99 ms):"
    printf '%8s %8s %10s\n' "second" "RSS MiB" "live"
    for (( t = 0; t <= WATCH; t += WATCH_EVERY )); do
        printf '%8s %8s %10s\n' "$t" "$(rss_mib "$SERVER")" "$(live)"
        (( t + WATCH_EVERY <= WATCH )) && sleep "$WATCH_EVERY"
    done
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
fi
