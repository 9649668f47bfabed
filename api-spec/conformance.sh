#!/usr/bin/env bash
# Property-based conformance of the running gateway against api-spec/openapi.yaml, with
# schemathesis: no response may be a 5xx, and every response must match the spec (status
# code, content type, schema). Starts the gateway on a throwaway SQLite database and a free
# port with an admin key, and stops it afterwards. Bounded: about two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${CONFORMANCE_VENV:-$TARGET/conformance-venv}
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin panic-gateway
BIN="$TARGET/debug/panic-gateway"
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DB="sqlite://$WORK/conformance.db?mode=rwc"
KEY=$(RUST_LOG=error "$BIN" admin create-key --name conformance --database-url "$DB" 2>/dev/null)

PANIC_GATEWAY__SERVER__PORT=$PORT PANIC_GATEWAY__DATABASE__URL=$DB RUST_LOG=warn \
  "$BIN" serve >"$WORK/gateway.log" 2>&1 &
PID=$!
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
"$VENV/bin/schemathesis" run api-spec/openapi.yaml \
  --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${CONFORMANCE_EXAMPLES:-25}" \
  --max-time "${CONFORMANCE_SECONDS:-120}" \
  --workers 2 \
  --seed 20261122 \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "conformance: failed; the gateway's log follows" >&2
  tail -n 50 "$WORK/gateway.log" >&2
fi
exit "$status"
