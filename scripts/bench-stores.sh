#!/usr/bin/env bash
# One node on each store, side by side: SQLite (the default), PostgreSQL, PostgreSQL + Redis.
#
#   scripts/bench-stores.sh
#
# Starts a PostgreSQL (initdb in a temporary directory, a free loopback port, with
# pg_stat_statements) and a redis-server of its own, then three release servers (plain HTTP,
# free loopback ports, throttles off so that the floods measure the work and not the 429s):
# one on SQLite, one on a PostgreSQL database, one on another database of the same PostgreSQL
# with the Redis beside it. Interleaved round by round, wrk measures on each:
#   - validations: GET /v1/sessions/current with one live token (cached after its first use);
#   - logins: POST /v1/sessions (each costs an Argon2id hash, so the hash bounds the rate).
# Per run it counts the store calls the node made (the sum of
# tollgate_store_operation_duration_seconds_count in its /metrics) and, on PostgreSQL, the
# statements the server ran for that database (pg_stat_statements, BEGIN/COMMIT included),
# each minus what the node does when idle for as long (the revocation feed's poll, every
# 100 ms), divided by the requests. It prints medians over the rounds: req/s, p99, calls per
# request, and the req/s ratio to SQLite measured in the same round.
#
# Traffic goes to 127.0.0.1 only; every wrk run is bounded (BENCH_DURATION seconds); the whole
# run takes about 1.5 minutes after the build. Everything it starts is stopped and its
# temporary directory removed on exit. Needs wrk (installed with apt-get when missing and
# running as root), curl, awk, PostgreSQL's server binaries (initdb, pg_ctl, psql) and
# redis-server.
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_DURATION (3), BENCH_THREADS (2),
# BENCH_CONNECTIONS (16), BENCH_LOGIN_CONNECTIONS (8), BENCH_NO_BUILD=1 skips the cargo build.
# Uses CARGO_TARGET_DIR when set.
set -euo pipefail

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
LOGIN_CONNECTIONS=${BENCH_LOGIN_CONNECTIONS:-8}

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
say() { printf '%s\n' "$*" >&2; }
die() { say "bench-stores: $*"; exit 1; }

if ! command -v wrk >/dev/null; then
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || die "wrk is missing: apt-get install wrk (as root)"
    say "installing wrk (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || die "PostgreSQL's server binaries are missing: scripts/setup-database-servers.sh"
command -v redis-server >/dev/null || die "redis-server is missing: scripts/setup-database-servers.sh"
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    say "building (release)…"
    cargo build --release -p tollgate --bin tollgate
fi
TOLLGATE=$TARGET/release/tollgate
[[ -x $TOLLGATE ]] || die "no release build in $TARGET/release"

# --- processes and cleanup -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-stores.XXXXXX")
chmod 755 "$WORK"
PIDS=()
PGDATA=
AS_PG=()
[[ $(id -u) -eq 0 ]] && AS_PG=(runuser -u postgres --)
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -n $PGDATA ]] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- PostgreSQL and Redis --------------------------------------------------------------------
PG_PORT=$(free_port)
mkdir "$WORK/pg"
[[ ${#AS_PG[@]} -gt 0 ]] && chown postgres:postgres "$WORK/pg"
PGDATA=$WORK/pg/data
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-sync >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg/server.log" -w -o "-p $PG_PORT -k $WORK/pg \
    -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -X -q -At)
"${PSQL[@]}" -d postgres -c 'CREATE EXTENSION pg_stat_statements' -c 'CREATE DATABASE bench_pg' \
    -c 'CREATE DATABASE bench_pg_redis'
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

# --- the three nodes -------------------------------------------------------------------------
PASSWORD="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export TOLLGATE_LOG=${TOLLGATE_LOG:-warn}
NAMES=(sqlite postgres postgres_redis)
declare -A STORE_ENV=(
    [sqlite]=""
    [postgres]="TOLLGATE_STORE__URL=postgres://postgres@127.0.0.1:$PG_PORT/bench_pg"
    [postgres_redis]="TOLLGATE_STORE__URL=postgres://postgres@127.0.0.1:$PG_PORT/bench_pg_redis TOLLGATE_STORE__REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
)
declare -A DATABASE=([sqlite]="" [postgres]=bench_pg [postgres_redis]=bench_pg_redis)
declare -A URL PID
for name in "${NAMES[@]}"; do
    data=$WORK/$name
    read -ra vars <<<"${STORE_ENV[$name]}"
    run_env=(env "${vars[@]}" TOLLGATE_THROTTLE__LOGIN_PER_SECOND=0 TOLLGATE_THROTTLE__SESSIONS_PER_USER_PER_SECOND=0
        TOLLGATE_THROTTLE__UNKNOWN_TOKEN_PER_SECOND=0 TOLLGATE_DIALECTS__HCX__LISTEN='[]')
    # A second administrator whose logins flood the hasher: the per-user cap ends the oldest
    # sessions of whoever logs in, so the flood must not be the user whose token is validated.
    TOLLGATE_ADMIN_PASSWORD=$PASSWORD "${run_env[@]}" "$TOLLGATE" --data "$data" bootstrap >"$data.setup" 2>&1 &&
        printf '%s\n' "$PASSWORD" | "${run_env[@]}" "$TOLLGATE" --data "$data" user add flood --org System \
            --role 'System Administrator' --password-stdin >>"$data.setup" 2>&1 ||
        { cat "$data.setup" >&2; die "could not set up the $name store"; }
    "${run_env[@]}" "$TOLLGATE" --data "$data" serve --listen 127.0.0.1:0 --http >"$data.out" 2>"$data.err" &
    PIDS+=($!)
    PID[$name]=$!
    for _ in $(seq 1 300); do
        URL[$name]=$(awk '/^tollgate listening on/ { print $NF; exit }' "$data.out")
        [[ -n ${URL[$name]} ]] && break
        kill -0 "${PID[$name]}" 2>/dev/null || { cat "$data.err" >&2; die "the $name node exited"; }
        sleep 0.1
    done
    [[ -n ${URL[$name]} ]] || die "the $name node did not start"
done
say "nodes: sqlite ${URL[sqlite]}, postgres ${URL[postgres]}, postgres+redis ${URL[postgres_redis]}"

# --- wrk scripts -----------------------------------------------------------------------------
LUA_DONE='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
'
for name in "${NAMES[@]}"; do
    token=$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"org\":\"System\",\"username\":\"administrator\",\"password\":\"$PASSWORD\"}" "${URL[$name]}/v1/sessions" |
        sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
    [[ -n $token ]] || die "login on the $name node failed"
    cat >"$WORK/$name-live.lua" <<EOF
local req
init = function(args) req = wrk.format("GET", "/v1/sessions/current", { Authorization = "Bearer $token" }) end
request = function() return req end
$LUA_DONE
EOF
done
cat >"$WORK/login.lua" <<EOF
local req
init = function(args)
  req = wrk.format("POST", "/v1/sessions", { ["Content-Type"] = "application/json" },
    '{"org":"System","username":"flood","password":"$PASSWORD"}')
end
request = function() return req end
$LUA_DONE
EOF

# --- counting store calls --------------------------------------------------------------------
store_calls() { # name -> store calls the node made so far
    curl -sS --max-time 10 "${URL[$1]}/metrics" |
        awk '/^tollgate_store_operation_duration_seconds_count/ { n += $NF } END { printf "%d\n", n }'
}
statements() { # name -> statements PostgreSQL ran for the node's database so far (0 on SQLite)
    [[ -n ${DATABASE[$1]} ]] || { echo 0; return; }
    "${PSQL[@]}" -d postgres -c "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '${DATABASE[$1]}'"
}
# What each node does idle for one run's length: its background calls, subtracted below.
declare -A IDLE_CALLS IDLE_STATEMENTS
for name in "${NAMES[@]}"; do
    c0=$(store_calls "$name"); s0=$(statements "$name")
    sleep "$DURATION"
    IDLE_CALLS[$name]=$(($(store_calls "$name") - c0))
    IDLE_STATEMENTS[$name]=$(($(statements "$name") - s0))
    say "  $name idle for ${DURATION}s: ${IDLE_CALLS[$name]} store calls, ${IDLE_STATEMENTS[$name]} PostgreSQL statements"
done

# --- measuring -------------------------------------------------------------------------------
RES=$WORK/results
mkdir -p "$RES"
# run KIND NAME SCRIPT [wrk options]: one wrk run; appends "rps p99 calls/req statements/req"
# to $RES/KIND-NAME.
run() {
    local kind=$1 name=$2 script=$3; shift 3
    local out=$WORK/wrk-$kind-$name.out c0 s0 calls stmts line rps p99 requests status_errors socket_errors
    c0=$(store_calls "$name"); s0=$(statements "$name")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s "$@" -s "$script" "${URL[$name]}" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed ($kind $name)"; }
    calls=$(($(store_calls "$name") - c0 - IDLE_CALLS[$name]))
    stmts=$(($(statements "$name") - s0 - IDLE_STATEMENTS[$name]))
    line=$(awk '$1 == "RESULT" { print $2, $3, $4, $5, $6 }' "$out")
    [[ -n $line ]] || { cat "$out" >&2; die "no result ($kind $name)"; }
    read -r rps p99 requests status_errors socket_errors <<<"$line"
    if [[ $status_errors != 0 || $socket_errors != 0 ]]; then
        say "  warning: $kind $name: $requests requests, $status_errors with status >= 400, $socket_errors socket errors"
    fi
    awk -v r="$rps" -v p="$p99" -v c="$calls" -v s="$stmts" -v n="$requests" \
        'BEGIN { c = (c < 0 ? 0 : c); s = (s < 0 ? 0 : s); printf "%s %s %.4f %.4f\n", r, p, c / n, s / n }' >>"$RES/$kind-$name"
    printf '  %-10s %-15s %9.1f req/s  p99 %7.2f ms  %7.4f store calls/req  %7.4f statements/req\n' \
        "$kind" "$name" "$rps" "$p99" "$(tail -1 "$RES/$kind-$name" | cut -d' ' -f3)" \
        "$(tail -1 "$RES/$kind-$name" | cut -d' ' -f4)" >&2
}
for round in $(seq 1 "$ROUNDS"); do
    say " round $round"
    for name in "${NAMES[@]}"; do run validate "$name" "$WORK/$name-live.lua"; done
    for name in "${NAMES[@]}"; do run login "$name" "$WORK/login.lua" -c"$LOGIN_CONNECTIONS"; done
done

# --- the table -------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$RES/$1" | median; }
# Per round, req/s of A over req/s of B (measured in the same round), then the median.
ratio() { paste -d' ' "$RES/$1" "$RES/$2" | awk '{ if ($5 > 0) printf "%.2f\n", $1 / $5 }' | median; }
echo
echo "Tollgate $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t$THREADS -c$CONNECTIONS (logins -c$LOGIN_CONNECTIONS) -d${DURATION}s, plain HTTP on 127.0.0.1; medians of $ROUNDS rounds."
echo "Store calls: the node's own count (/metrics); statements: pg_stat_statements for its database;"
echo "both per request, less what the node does idle for as long."
printf '%-36s %9s %8s %12s %12s %9s\n' measurement 'req/s' 'p99 ms' 'calls/req' 'stmts/req' 'x SQLite'
for kind in validate login; do
    for name in "${NAMES[@]}"; do
        label="$kind, $name"
        [[ $kind == validate ]] && label="validation (cached), $name"
        printf '%-36s %9.1f %8.2f %12.4f %12.4f %9s\n' "$label" "$(col "$kind-$name" 1)" "$(col "$kind-$name" 2)" \
            "$(col "$kind-$name" 3)" "$(col "$kind-$name" 4)" "$(ratio "$kind-$name" "$kind-sqlite")"
    done
done
