#!/usr/bin/env bash
# Schemathesis against the live schema of a real gunicorn, as the administrator and as an
# outsider: any 5xx, any response that contradicts the schema (status code, content type, body,
# headers) or any operation that ignores authentication fails this script.
#
# A database of its own (dropped and created again, migrated, seed_demo loaded) on the PostgreSQL
# server of POSTGRES_URL; REDIS_URL as given. Run from the checkout's root after `make venv`:
#
#   POSTGRES_URL=postgres://postgres@127.0.0.1:5432 REDIS_URL=redis://127.0.0.1:6379/0 \
#     bash .ci/schemathesis.sh
#
# Knobs: SCHEMATHESIS_DATABASE (schemathesis), SCHEMATHESIS_PORT (8765), SCHEMATHESIS_EXAMPLES
# (examples per operation and phase, 30), SCHEMATHESIS_SEED (4), SCHEMATHESIS_WORKERS (1:
# two threads can trip CPython 3.11's ast.parse, which Hypothesis calls, with a SystemError),
# SCHEMATHESIS_ADMIN_SECONDS (130) and SCHEMATHESIS_OUTSIDER_SECONDS (65): the time budgets.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
POSTGRES_URL="${POSTGRES_URL:?the PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:?REDIS_URL, e.g. redis://127.0.0.1:6379/0}"
DATABASE="${SCHEMATHESIS_DATABASE:-schemathesis}"
PORT="${SCHEMATHESIS_PORT:-8765}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-30}"
WORKERS="${SCHEMATHESIS_WORKERS:-1}"
# A fixed seed by default, so that a CI failure can be replayed; set another to explore further.
SEED="${SCHEMATHESIS_SEED:-4}"
# Time budget of each run in seconds: what is left after the coverage phase goes to fuzzing and
# stateful sequences, which repeat until it is spent. About 4 minutes in all.
ADMIN_SECONDS="${SCHEMATHESIS_ADMIN_SECONDS:-130}"
OUTSIDER_SECONDS="${SCHEMATHESIS_OUTSIDER_SECONDS:-65}"
PYTHON=.venv/bin/python
BASE="http://127.0.0.1:$PORT"
work=$(mktemp -d)
server=

stop_server() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true # the master stops its workers
    wait "$server" 2>/dev/null || true
  fi
  server=
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$POSTGRES_URL/$DATABASE" REDIS_URL
# As in production (no debug pages: errors answer problem+json), with no write limit the fuzzer
# could reach and rate-limit counters of this run only.
# Only errors are logged (with their tracebacks), not every 4xx the fuzzer provokes.
export DEBUG=false API_WRITE_RATE=1000000/minute CACHE_KEY_PREFIX="schemathesis-$$" LOG_LEVEL=ERROR

echo "+ database $DATABASE: create, migrate, seed_demo"
"$PYTHON" - "$POSTGRES_URL/postgres" "$DATABASE" <<'PY'
import sys

import psycopg

url, name = sys.argv[1], sys.argv[2]
with psycopg.connect(url, autocommit=True) as connection:
    connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.execute(f'CREATE DATABASE "{name}"')
PY
"$PYTHON" manage.py migrate --no-input -v0
"$PYTHON" manage.py seed_demo >/dev/null
# An outsider: a user of no organisation with the public role (seed_demo has none).
"$PYTHON" manage.py shell -v0 -c '
from accounts.models import User
User.objects.get_or_create(username="outsider", defaults={"role": User.Role.PUBLIC})[0]
outsider = User.objects.get(username="outsider")
outsider.set_password("registry-demo")
outsider.save()
'

# Real identifiers of the demo data beside random values (see the script's docstring).
"$PYTHON" .ci/schemathesis_config.py >"$work/schemathesis.toml"

echo "+ gunicorn on $BASE (log: shown below on failure)"
.venv/bin/gunicorn registry.wsgi --bind "127.0.0.1:$PORT" --workers 4 --timeout 60 \
  --access-logfile "$work/access.log" --error-logfile "$work/gunicorn.log" --capture-output \
  --no-control-socket &
server=$!

# Tokens through the API itself, as a client gets them (also proves the server answers).
token() {
  "$PYTHON" - "$BASE" "$1" <<'PY'
import json
import sys
import time
import urllib.error
import urllib.request

base, username = sys.argv[1], sys.argv[2]
body = json.dumps({"username": username, "password": "registry-demo"}).encode()
deadline = time.monotonic() + 60
while True:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token/",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(json.load(response)["token"])
            break
    except (urllib.error.URLError, ConnectionError) as error:
        if isinstance(error, urllib.error.HTTPError) or time.monotonic() > deadline:
            raise
        time.sleep(0.5)
PY
}
admin_token=$(token admin)
outsider_token=$(token outsider)
logout_token=$(token outsider)

status=0
run() {
  local who="$1" token="$2" seconds="$3"
  shift 3
  echo
  echo "+ schemathesis as $who (seed $SEED, at most $seconds s)"
  # positive_data_acceptance and negative_data_rejection are left out: they require every
  # schema-valid request to succeed (a transfer of more units than held is schema-valid, and is
  # refused with 409/400 by design) and every schema-invalid one to fail (a repeated or
  # out-of-type filter parameter is ignored, as django-filter does). All other checks apply.
  # From the scratch directory: the crash cache it writes (.schemathesis/) stays out of the tree.
  (cd "$work" && "$root/.venv/bin/schemathesis" --config-file schemathesis.toml run "$BASE/api/schema/" \
    --header "Authorization: Token $token" \
    --checks all --exclude-checks positive_data_acceptance,negative_data_rejection \
    --max-examples "$EXAMPLES" --max-time "$seconds" --seed "$SEED" --workers "$WORKERS" \
    --request-timeout 60 --generation-database none --no-color "$@") || status=1
}
# Logging out revokes the token the run uses: those two operations get a token of their own.
run administrator "$admin_token" "$ADMIN_SECONDS" --exclude-path-regex '/auth/logout'
run outsider "$outsider_token" "$OUTSIDER_SECONDS" --exclude-path-regex '/auth/logout'
run "outsider logging out" "$logout_token" 15 --include-path-regex '/auth/logout'

stop_server
if grep -q "Traceback" "$work/gunicorn.log"; then
  echo "server errors in the gunicorn log:" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- gunicorn log: errors" >&2
  grep -v "UserWarning: No directory at\|mw_instance = middleware\|\[INFO\]" "$work/gunicorn.log" \
    | tail -300 >&2 || true
  echo "FAILED: schemathesis found server errors or schema violations (see above)" >&2
fi
exit "$status"
