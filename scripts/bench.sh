#!/usr/bin/env bash
# Speed of Tollgate's request path, as ratios against a bare axum handler measured in the same
# run (absolute figures on a shared machine are noise; ratios taken side by side are not).
#
#   scripts/bench.sh
#
# Builds the release binary and the bare handler (crates/tollgate/examples/bare_handler.rs),
# starts both on free loopback ports (Tollgate over plain HTTP, a temporary data directory),
# and loads them with wrk, interleaved round by round (bare, then each Tollgate route), with the
# same threads and connections. Prints, as medians over the rounds: requests/s, p99 latency and
# the ratio to the bare handler (or to the named reference) for
#   - a live-token validation, GET /v1/sessions/current with Authorization: Bearer;
#   - a static route, GET /api/versions (no credentials: the stack without validation);
#   - an unknown token, GET /v1/sessions/current with a random Bearer token of the same shape
#     (a new one on every request), against the live one; and the same against a second server
#     with the default configuration, whose per-address throttle answers most of them with 429;
#   - Cloud Director's GET /api/session with x-vcloud-authorization;
#   - logins/s (POST /v1/sessions) against the Argon2id ceiling: hashes/s of the server's own
#     hashing pool (`bare_handler hashes`, same parameters, same thread count), measured in the
#     same run, interleaved with the login rounds; plus one login at a time (wrk -c1), whose
#     latency is what a single login costs;
#   - validation while a login flood runs (two wrk at once), against validation alone.
# Next to req/s it prints the CPU time (user + system, from /proc/PID/stat) the server process
# spent per request, and its ratio: on a shared machine, where other load takes cores away at
# random, that ratio moves far less than req/s does (Linux only; 0 elsewhere).
#
# The server measured runs the default configuration but for its throttles, turned off
# (throttle.login_per_second, sessions_per_user_per_second and unknown_token_per_second = 0):
# from one address and one user, the floods would otherwise measure the throttle's 429s. Every request
# is checked for the status it should get (2xx; 401 or 429 for unknown tokens) and a warning
# printed otherwise.
#
# Traffic goes to 127.0.0.1 only; every wrk run is bounded in time (BENCH_DURATION seconds);
# the whole run takes about 2.5 minutes after the build (3 with BENCH_HTTPS=1). The processes
# it starts are stopped and its temporary directory removed on exit. Needs wrk (installed with
# apt-get when missing and running as root), curl and awk.
#
# Settings (environment): BENCH_ROUNDS (5), BENCH_DURATION (3, seconds per wrk run),
# BENCH_THREADS (2, wrk threads), BENCH_CONNECTIONS (16), BENCH_LOGIN_CONNECTIONS (8),
# BENCH_HTTPS=1 adds a pass over HTTPS (a second server with its self-signed certificate),
# BENCH_NO_BUILD=1 skips the cargo builds. Uses CARGO_TARGET_DIR when set.
set -euo pipefail

ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
LOGIN_CONNECTIONS=${BENCH_LOGIN_CONNECTIONS:-8}
HTTPS=${BENCH_HTTPS:-0}

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# --- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing wrk (apt-get)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        die "wrk is missing: apt-get install wrk (as root)"
    fi
fi
command -v curl >/dev/null || die "curl is missing"

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    say "building (release)…"
    cargo build --release -p tollgate
    cargo build --release -p tollgate --example bare_handler
fi
TOLLGATE=$TARGET/release/tollgate
BARE=$TARGET/release/examples/bare_handler
[[ -x $TOLLGATE && -x $BARE ]] || die "no release build in $TARGET/release"

# --- processes and cleanup -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for the "listening on URL" line a process prints on stdout; sets URL.
wait_url() {
    local out=$1 pattern=$2 pid=$3 i
    for i in $(seq 1 300); do
        URL=$(awk -v p="$pattern" '$0 ~ p { print $NF; exit }' "$out" 2>/dev/null || true)
        [[ -n $URL ]] && return
        kill -0 "$pid" 2>/dev/null || { cat "$out" "$out.err" >&2 2>/dev/null; die "process $pid exited"; }
        sleep 0.1
    done
    die "no '$pattern' line after 30 s"
}

PASSWORD="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export TOLLGATE_LOG=${TOLLGATE_LOG:-info}

# The store, with a second administrator whose logins flood the hasher: the sessions cap
# (sessions.max_per_user) ends the oldest sessions of whoever logs in, so the flood must not be
# the administrator whose token is validated meanwhile.
setup_store() {
    local data=$1
    TOLLGATE_ADMIN_PASSWORD=$PASSWORD "$TOLLGATE" --data "$data" bootstrap >"$data.setup" 2>&1 &&
        printf '%s\n' "$PASSWORD" |
        "$TOLLGATE" --data "$data" user add flood --org System --role 'System Administrator' \
            --password-stdin >>"$data.setup" 2>&1 ||
        { cat "$data.setup" >&2; die "could not set up the store in $data"; }
}

# start_tollgate NAME [VAR=VALUE...] [-- serve options]: starts a server on a free loopback port
# with these configuration variables; sets URL to its base and PID.
start_tollgate() {
    local name=$1; shift
    local data=$WORK/$name vars=()
    while [[ $# -gt 0 && $1 != -- ]]; do vars+=("$1"); shift; done
    [[ ${1:-} == -- ]] && shift
    setup_store "$data"
    # No HCX listener of its own (its default 127.0.0.1:9443 may belong to someone else).
    env TOLLGATE_DIALECTS__HCX__LISTEN='[]' "${vars[@]}" \
        "$TOLLGATE" --data "$data" serve --listen 127.0.0.1:0 "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.out.err" &
    PIDS+=($!)
    PID=$!
    wait_url "$WORK/$name.out" '^tollgate listening on' $!
}

"$BARE" 0 >"$WORK/bare.out" 2>"$WORK/bare.out.err" &
PIDS+=($!)
BARE_PID=$!
wait_url "$WORK/bare.out" '^bare listening on' $!
BARE_URL=$URL
# The server measured: the default configuration but for the per-address and per-user
# throttles, which would otherwise answer this one client's floods with 429s (logins: a login
# cut off when a wrk run ends never gives its attempt back; new sessions; unknown tokens), so
# that those rows measure the work behind them.
UNTHROTTLED=(TOLLGATE_THROTTLE__LOGIN_PER_SECOND=0 TOLLGATE_THROTTLE__SESSIONS_PER_USER_PER_SECOND=0
    TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND=0)
start_tollgate http "${UNTHROTTLED[@]}" -- --http
BASE=$URL
SERVER_PID=$PID
# A second one with the default configuration, for unknown tokens as the throttle answers them.
start_tollgate throttled -- --http
THROTTLED_BASE=$URL
THROTTLED_PID=$PID
say "bare handler: $BARE_URL/   tollgate: $BASE (throttles off), $THROTTLED_BASE (defaults)"
say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds"

# --- credentials -----------------------------------------------------------------------------
CURL=(curl -ksS --max-time 10)
native_login() { # base username → token
    "${CURL[@]}" -H 'Content-Type: application/json' \
        -d "{\"org\":\"System\",\"username\":\"$2\",\"password\":\"$PASSWORD\"}" "$1/v1/sessions" |
        sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p'
}
vcd_login() { # base → x-vcloud-authorization
    "${CURL[@]}" -o /dev/null -D - -X POST -u "administrator@System:$PASSWORD" \
        -H 'Accept: application/*+xml;version=37.0' "$1/api/sessions" |
        awk 'tolower($1) == "x-vcloud-authorization:" { print $2 }' | tr -d '\r'
}
TOKEN=$(native_login "$BASE" administrator)
VCD_TOKEN=$(vcd_login "$BASE")
[[ -n $TOKEN ]] || die "native login failed"
[[ -n $VCD_TOKEN ]] || die "vcd login failed"
[[ $("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/v1/sessions/current") == 200 ]] ||
    die "the live token is not accepted"

# --- wrk scripts -----------------------------------------------------------------------------
# Every script serves prebuilt requests from request() (so wrk does the same work per request
# whatever the route) and prints one machine-readable line at the end:
#   RESULT rps p99_ms requests status_errors socket_errors
LUA_DONE='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
'
# get_script FILE PATH [HEADER VALUE]...
get_script() {
    local file=$1 path=$2; shift 2
    {
        echo 'local headers = {}'
        while [[ $# -gt 0 ]]; do printf 'headers["%s"] = "%s"\n' "$1" "$2"; shift 2; done
        # wrk knows the Host header only once init runs (HTTP/1.1 needs one).
        printf 'local req\ninit = function(args) req = wrk.format("GET", "%s", headers) end\n' "$path"
        echo 'request = function() return req end'
        echo "$LUA_DONE"
    } >"$file"
}
get_script "$WORK/bare.lua" /
get_script "$WORK/live.lua" /v1/sessions/current Authorization "Bearer $TOKEN"
get_script "$WORK/static.lua" /api/versions
get_script "$WORK/vcd.lua" /api/session x-vcloud-authorization "$VCD_TOKEN" \
    Accept 'application/*+xml;version=37.0'
# Unknown tokens: the live token's length and alphabet, random characters, a new one on every
# request (4096 prebuilt per wrk thread), so no cache of refusals can serve them.
if [[ $TOKEN =~ ^[0-9a-f]+$ ]]; then ALPHABET=0123456789abcdef
else ALPHABET=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_; fi
cat >"$WORK/unknown.lua" <<EOF
local alphabet, length, reqs, i = "$ALPHABET", ${#TOKEN}, {}, 0
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring(reqs):match("0x(%x+)") or "0", 16) % 100000)
  for k = 1, 4096 do
    local t = {}
    for j = 1, length do
      local n = math.random(#alphabet)
      t[j] = alphabet:sub(n, n)
    end
    reqs[k] = wrk.format("GET", "/v1/sessions/current", { Authorization = "Bearer " .. table.concat(t) })
  end
end
request = function() i = i % #reqs + 1; return reqs[i] end
$LUA_DONE
EOF
cat >"$WORK/login.lua" <<EOF
local req
init = function(args)
  req = wrk.format("POST", "/v1/sessions", { ["Content-Type"] = "application/json" },
    '{"org":"System","username":"flood","password":"$PASSWORD"}')
end
request = function() return req end
$LUA_DONE
EOF

# --- measuring -------------------------------------------------------------------------------
RES=$WORK/results
mkdir -p "$RES"
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# run NAME PID URL SCRIPT [wrk options]: one wrk run against the server process PID; appends
# "rps p99 cpu_us" to $RES/NAME, cpu_us being the CPU time PID spent per request (user + system:
# unlike req/s, background load on the machine does not inflate it); checks statuses.
run() {
    local name=$1 pid=$2 url=$3 script=$4; shift 4
    local out=$WORK/wrk-$name.out line before after
    before=$(cpu_ticks "$pid")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency "$@" -s "$script" "$url" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed ($name)"; }
    after=$(cpu_ticks "$pid")
    line=$(awk '$1 == "RESULT" { print $2, $3, $4, $5, $6 }' "$out")
    [[ -n $line ]] || { cat "$out" >&2; die "no result ($name)"; }
    read -r rps p99 requests status_errors socket_errors <<<"$line"
    local expect_errors=0
    [[ $name == unknown* ]] && expect_errors=$requests
    if [[ $status_errors != "$expect_errors" || $socket_errors != 0 ]]; then
        say "  warning: $name: $requests requests, $status_errors with status >= 400 (expected $expect_errors), $socket_errors socket errors"
    fi
    cpu_us=$(awk -v t="$((after - before))" -v n="$requests" -v hz="$TICK" 'BEGIN { print (n > 0 ? t / hz * 1e6 / n : 0) }')
    echo "$rps $p99 $cpu_us" >>"$RES/$name"
    printf '  %-22s %10.1f req/s   p99 %8.2f ms   %9.1f us CPU/req\n' "$name" "$rps" "$p99" "$cpu_us" >&2
}
# The Argon2id ceiling: hashes/s of the server's hashing pool (same parameters, same threads),
# and the CPU time of one hash.
hashes() {
    local line
    line=$("$BARE" hashes "$DURATION")
    awk -v hz="$TICK" '{ print $2, ($6 > 0 ? $8 / hz * 1e6 / $6 : 0) }' <<<"$line" >>"$RES/hashes"
    say "  $(printf '%-22s' ceiling) $line"
}

# probe BASE: the statuses an unknown token gets, sent 20 times back to back on one connection.
probe() {
    local urls=() i
    for i in $(seq 1 20); do urls+=("$1/v1/sessions/current" -o /dev/null); done
    "${CURL[@]}" -w '%{http_code}\n' -H "Authorization: Bearer bench-probe-$RANDOM$RANDOM" "${urls[@]}" 2>/dev/null |
        sort -u | tr '\n' ' '
}
say "== requests (each round: bare, live, static, unknown, unknown with the default throttle, vcd)"
for round in $(seq 1 "$ROUNDS"); do
    say " round $round"
    run bare "$BARE_PID" "$BARE_URL/" "$WORK/bare.lua"
    run live "$SERVER_PID" "$BASE" "$WORK/live.lua"
    run static "$SERVER_PID" "$BASE" "$WORK/static.lua"
    run unknown "$SERVER_PID" "$BASE" "$WORK/unknown.lua"
    run unknown_throttled "$THROTTLED_PID" "$THROTTLED_BASE" "$WORK/unknown.lua"
    # wrk counts statuses >= 400 together: check which ones the unknown tokens get.
    codes=$(probe "$THROTTLED_BASE")
    [[ $codes == *429* ]] || say "  warning: the default throttle did not answer 429 (got $codes)"
    run vcd "$SERVER_PID" "$BASE" "$WORK/vcd.lua"
    codes=$(probe "$BASE")
    [[ $codes == '401 ' ]] || say "  warning: unknown tokens got $codes, not only 401, with the throttle off"
done

say "== logins (each round: Argon2id ceiling, login flood, one login at a time)"
for round in $(seq 1 3); do
    say " round $round"
    hashes
    run login "$SERVER_PID" "$BASE" "$WORK/login.lua" -c"$LOGIN_CONNECTIONS"
    run login_serial "$SERVER_PID" "$BASE" "$WORK/login.lua" -t1 -c1
done

say "== validation during a login flood (each round: alone, then with the flood)"
for round in $(seq 1 3); do
    say " round $round"
    run live_alone "$SERVER_PID" "$BASE" "$WORK/live.lua"
    # The flood starts first and ends last, so it covers the whole validation run.
    wrk -t1 -c"$LOGIN_CONNECTIONS" -d"$((DURATION + 2))s" --timeout 5s --latency -s "$WORK/login.lua" "$BASE" \
        >"$WORK/wrk-flood.out" 2>&1 &
    flood=$!
    PIDS+=("$flood")
    sleep 1
    run live_flood "$SERVER_PID" "$BASE" "$WORK/live.lua"
    wait "$flood" || true
    line=$(awk '$1 == "RESULT" { print $2, $3 }' "$WORK/wrk-flood.out")
    echo "$line" >>"$RES/flood"
    say "  $(printf '%-22s' flood) $(awk '{ printf "%10.1f req/s   p99 %8.2f ms", $1, $2 }' <<<"$line")"
done

if [[ $HTTPS == 1 ]]; then
    start_tollgate https "${UNTHROTTLED[@]}"
    TLS_BASE=$URL
    TLS_PID=$PID
    TLS_TOKEN=$(native_login "$TLS_BASE" administrator)
    [[ -n $TLS_TOKEN ]] || die "native login over HTTPS failed"
    get_script "$WORK/live_tls.lua" /v1/sessions/current Authorization "Bearer $TLS_TOKEN"
    say "== HTTPS (each round: bare, live over HTTPS, static over HTTPS)"
    for round in $(seq 1 3); do
        say " round $round"
        run bare_tls_round "$BARE_PID" "$BARE_URL/" "$WORK/bare.lua"
        run live_https "$TLS_PID" "$TLS_BASE" "$WORK/live_tls.lua"
        run static_https "$TLS_PID" "$TLS_BASE" "$WORK/static.lua"
    done
fi

# --- the table -------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$RES/$1" | median; }
# ratio A B C: per round, column C of A divided by column C of B (each against the reference
# measured next to it), then the median over the rounds.
ratio() { paste -d' ' "$RES/$1" "$RES/$2" | awk -v c="$3" -v w="$(awk '{ print NF; exit }' "$RES/$1")" '{ if ($(c + w) > 0) printf "%.2f\n", $c / $(c + w) }' | median; }
# cpu_ratio A B: per round, B's CPU per request divided by A's (1.00: as cheap as B), median.
cpu_ratio() { paste -d' ' "$RES/$1" "$RES/$2" | awk -v w="$(awk '{ print NF; exit }' "$RES/$1")" '{ if ($3 > 0) printf "%.2f\n", $(3 + w) / $3 }' | median; }
num() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
# line LABEL REQ/S P99 CPU RATIO CPU-RATIO AGAINST
line() { printf '%-42s %9s %8s %9s %8s %8s  %s\n' "$@"; }
row() { # row LABEL NAME [REFERENCE AGAINST]
    local r='' c=''
    if [[ -n ${3:-} ]]; then r=$(ratio "$2" "$3" 1); c=$(cpu_ratio "$2" "$3"); fi
    line "$1" "$(num "$(col "$2" 1)" %.0f)" "$(num "$(col "$2" 2)" %.2f)" "$(num "$(col "$2" 3)" %.1f)" "$r" "$c" "${4:-}"
}

echo
echo "Tollgate $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, plain HTTP on 127.0.0.1; medians of $ROUNDS rounds (logins and flood: 3)."
echo "Throttles (logins, new sessions per user, unknown tokens) off, but on the row saying otherwise."
echo "CPU/req: CPU time (user + system) of the server process per request; the CPU ratio is the"
echo "reference's CPU/req over this one's (1.00: as cheap), the req/s ratio the per-round median."
line measurement 'req/s' 'p99 ms' 'CPU us' 'req/s x' 'CPU x' 'against'
row 'bare axum GET /' bare
row 'live token GET /v1/sessions/current' live bare bare
row 'static GET /api/versions (no token)' static bare bare
row 'unknown token GET /v1/sessions/current' unknown live live
line '' '' '' '' "$(ratio unknown bare 1)" "$(cpu_ratio unknown bare)" bare
row '  with the default throttle (429s)' unknown_throttled live live
row 'vcd GET /api/session' vcd bare bare
hash_hps=$(col hashes 1)
hash_cpu=$(col hashes 2)
line "Argon2id ceiling, hashes/s ($(nproc) hash threads)" "$(num "$hash_hps" %.1f)" '' "$(num "$hash_cpu" %.0f)" '' '' 'bare_handler hashes'
line "  if hashing had every core" "$(awk -v c="$hash_cpu" -v n="$(nproc)" 'BEGIN { printf "%.1f", (c > 0 ? n * 1e6 / c : 0) }')" '' '' '' '' "$(nproc) / CPU per hash"
paste -d' ' "$RES/login" "$RES/hashes" >"$RES/login_vs"
line "logins/s POST /v1/sessions (-c$LOGIN_CONNECTIONS)" "$(num "$(col login 1)" %.1f)" "$(num "$(col login 2)" %.2f)" \
    "$(num "$(col login 3)" %.0f)" "$(awk '{ printf "%.2f\n", $1 / $4 }' "$RES/login_vs" | median)" \
    "$(awk '{ if ($3 > 0) printf "%.2f\n", $5 / $3 }' "$RES/login_vs" | median)" 'ceiling'
line 'one login at a time (-t1 -c1)' "$(num "$(col login_serial 1)" %.1f)" "$(num "$(col login_serial 2)" %.2f)" \
    "$(num "$(col login_serial 3)" %.0f)" '' '' "$(awk '{ printf "%.1f\n", 1000 / $1 }' "$RES/login_serial" | median) ms per login"
row 'live token, alone' live_alone
line 'live token during a login flood' "$(num "$(col live_flood 1)" %.0f)" "$(num "$(col live_flood 2)" %.2f)" '' \
    "$(ratio live_flood live_alone 1)" '' 'alone (req/s)'
line '' '' '' '' "$(ratio live_flood live_alone 2)" '' 'alone (p99)'
line '  the login flood meanwhile (-t1)' "$(num "$(col flood 1)" %.1f)" "$(num "$(col flood 2)" %.2f)" '' '' '' ''
if [[ $HTTPS == 1 ]]; then
    row 'bare axum GET / (next to HTTPS)' bare_tls_round
    line 'live token over HTTPS' "$(num "$(col live_https 1)" %.0f)" "$(num "$(col live_https 2)" %.2f)" \
        "$(num "$(col live_https 3)" %.1f)" "$(ratio live_https bare_tls_round 1)" "$(cpu_ratio live_https bare_tls_round)" 'bare (HTTP)'
    line 'static GET /api/versions over HTTPS' "$(num "$(col static_https 1)" %.0f)" "$(num "$(col static_https 2)" %.2f)" \
        "$(num "$(col static_https 3)" %.1f)" "$(ratio static_https bare_tls_round 1)" "$(cpu_ratio static_https bare_tls_round)" 'bare (HTTP)'
fi
