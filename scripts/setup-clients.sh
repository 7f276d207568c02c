#!/usr/bin/env bash
# Creates (or reuses) the Python venv holding the real client libraries that the black-box
# tests drive, pinned in tests/clients/requirements.txt. Idempotent: when the venv already has
# this exact requirements file installed, it does nothing. Progress goes to stderr; the venv's
# path is the one line printed on stdout, so callers can do VENV=$(scripts/setup-clients.sh).
#
# env: TOLLGATE_VENV  where the venv lives [default: <repo>/target/venv]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TOLLGATE_VENV:-$REPO/target/venv}
[[ $VENV == /* ]] || VENV=$PWD/$VENV  # the tests run in other directories
REQUIREMENTS=$REPO/tests/clients/requirements.txt
MARKER=$VENV/.tollgate-requirements.sha256

say() { echo "setup-clients: $*" >&2; }

# Creates the venv; installs Debian's python3-venv first when that is what is missing.
create_venv() {
    if [[ -e $VENV && ! -f $VENV/pyvenv.cfg ]] && [[ ! -d $VENV || -n $(ls -A "$VENV") ]]; then
        say "$VENV exists but is not a venv; refusing to replace it (set TOLLGATE_VENV elsewhere)"
        exit 1
    fi
    rm -rf "$VENV"
    if /usr/bin/env python3 -m venv "$VENV" >&2; then
        return
    fi
    rm -rf "$VENV"
    if [[ $(id -u) -ne 0 ]]; then
        say "'python3 -m venv' failed; install the venv module (Debian/Ubuntu: apt-get install python3-venv) and rerun"
        exit 1
    fi
    say "'python3 -m venv' failed; installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2; }
    /usr/bin/env python3 -m venv "$VENV" >&2
}

wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)

# A venv whose interpreter no longer runs (Python upgraded or removed) is rebuilt from scratch.
if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "creating $VENV"
    create_venv
fi

if [[ -f $MARKER && $(<"$MARKER") == "$wanted" ]]; then
    say "clients up to date"
else
    say "installing $(grep -cvE '^[[:space:]]*(#|$)' "$REQUIREMENTS") pinned client requirement(s)"
    rm -f "$MARKER"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
    echo "$wanted" >"$MARKER"
fi

echo "$VENV"
