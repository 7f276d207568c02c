#!/usr/bin/env bash
# Black-box vcd-cli 24.1.0 flow against Tollgate's `vcd` dialect.
#
# Exercises docs/contracts/vcd.md "Known client call sequences" (vcd-cli login:
# GET /api/versions -> POST /cloudapi/1.0.0/sessions[/provider] -> GET /api/session ->
# GET org href -> GET vdc query link), `vcd org list` (GET /api/session, GET /api/org/,
# GET each org), `vcd logout` (GET /api/session, DELETE /api/session -> 204), and
# "Afterwards the old token -> 401" (the saved profile with the old token is replayed).
#
# usage: vcdcli_flow.sh URL_HOST ORG USER PASSWORD
#   URL_HOST: https://127.0.0.1:8443, http://..., or bare host[:port] (vcd-cli adds https://)
# env: VENV (required) — the venv scripts/setup-clients.sh made, with vcd-cli installed.
# On success prints one JSON line of what vcd-cli showed: the login line, whether the profile
# holds a token, the org list rows, the logout line, the error after logout and the error the
# server's answer to the old token produced.
set -u
[ $# -eq 4 ] || { echo "usage: $0 URL_HOST ORG USER PASSWORD" >&2; exit 2; }
HOST=$1 ORG=$2 USR=$3 PW=$4
VENV=${VENV:?set VENV to the client venv (scripts/setup-clients.sh)}
VCD=("$VENV/bin/vcd" --no-colorized)
PY="$VENV/bin/python3"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HOME="$WORK"   # profile lands in $HOME/.vcd-cli/profiles.yaml
cd "$WORK"            # vcd-cli writes vcd.log, vcd_sdk.log, vcd_cli_error.log into the cwd
unset VCD_PASSWORD VCD_USE_COLORED_OUTPUT
PROFILE="$HOME/.vcd-cli/profiles.yaml"

fail() { echo "FAIL: $*" >&2; [ -f "$WORK/out" ] && sed 's/^/  | /' "$WORK/out" >&2; exit 1; }
run() { "${VCD[@]}" "$@" >"$WORK/out" 2>&1; }

# 1. login (-i: don't verify TLS, -w: no warning). Success prints "USER logged in, org: 'ORG', vdc: '...'".
run login "$HOST" "$ORG" "$USR" --password "$PW" -i -w || fail "vcd login exited $?"
grep -qF "$USR logged in, org: '$ORG'" "$WORK/out" || fail "unexpected login output"
grep -qE "^  token: .{8,}" "$PROFILE" || fail "no token stored in $PROFILE"
cp "$WORK/out" "$WORK/login.out"

# 2. org list (JSON): the logged-in org must be listed with logged_in=true.
run -j org list || fail "vcd org list exited $?"
cp "$WORK/out" "$WORK/orglist.json"
"$PY" - "$WORK/out" "$ORG" <<'EOF' || fail "org '$ORG' not listed as logged_in"
import json, sys
rows = json.load(open(sys.argv[1]))
sys.exit(0 if any(r["name"].lower() == sys.argv[2].lower() and r["logged_in"] for r in rows) else 1)
EOF

# 3. logout. vcd-cli ignores server errors here, so the replay below is the real check.
cp "$PROFILE" "$WORK/profile.saved"
run logout || fail "vcd logout exited $?"
grep -qF "$USR logged out." "$WORK/out" || fail "unexpected logout output"
cp "$WORK/out" "$WORK/logout.out"

# 4. after logout the local token is cleared: any command must fail.
run org list && fail "vcd org list succeeded after logout"
grep -q "please login again" "$WORK/out" || fail "unexpected error text after logout"
cp "$WORK/out" "$WORK/after-logout.out"

# 5. replay the old token: the server must answer 401 ("Session has expired or is invalid").
cp "$WORK/profile.saved" "$PROFILE"
run org list && fail "old token still accepted by the server after logout"
grep -q "Session has expired or is invalid" "$WORK/out" || fail "old token not rejected with 401"

"$PY" - "$WORK" "$PROFILE" <<'EOF'
import json, os, sys
work, profile = sys.argv[1], sys.argv[2]
text = lambda name: open(os.path.join(work, name)).read().strip()
saved = open(os.path.join(work, "profile.saved")).read()
print(json.dumps({
    "login": text("login.out").splitlines()[-1],
    "profile_had_token": any(line.startswith("  token: ") and len(line) > 16 for line in saved.splitlines()),
    "org_list": json.load(open(os.path.join(work, "orglist.json"))),
    "logout": text("logout.out").splitlines()[-1],
    "after_logout": text("after-logout.out").splitlines()[-1],
    "old_token": text("out").splitlines()[-1],
}))
EOF
