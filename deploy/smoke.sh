#!/usr/bin/env bash
# Smoke-test a deployed service: /readyz answers 200 (waiting for a fresh deploy), one question is
# answered with at least one [n] citation backed by a source, and /widget.js, when the service
# serves it, is JavaScript.
#
#   deploy/smoke.sh BASE_URL            e.g. deploy/smoke.sh https://rag-staging.onrender.com
#
# Settings (environment): SMOKE_QUESTION (default: a question the sample book answers),
# SMOKE_READY_TIMEOUT_S (how long to wait for /readyz, default 300), SMOKE_REQUEST_TIMEOUT_S
# (per request, default 60).
# Exit codes: 0 passed, 1 a check failed, 2 bad usage. Needs curl and python3.
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  ""|-*) echo "usage: deploy/smoke.sh BASE_URL (see --help)" >&2; exit 2 ;;
esac
base="${1%/}"
question="${SMOKE_QUESTION:-How does a series elastic actuator measure torque?}"
ready_timeout="${SMOKE_READY_TIMEOUT_S:-300}"
request_timeout="${SMOKE_REQUEST_TIMEOUT_S:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
status_of() {  # METHOD PATH [BODY]: prints the HTTP status, the body lands in $work/body
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time "$request_timeout" -X "$1")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$base$2" 2>"$work/curl.err" || echo "000"
}

# 1. readiness, polled until the deadline
deadline=$(( $(date +%s) + ready_timeout ))
while :; do
  code="$(status_of GET /readyz)"
  [ "$code" = "200" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "/readyz answered $code for ${ready_timeout}s: $(head -c 500 "$work/body" 2>/dev/null) $(cat "$work/curl.err")"
  fi
  sleep 3
done
echo "smoke: ok /readyz 200"

# 2. one answer with a citation
body="$(python3 -c 'import json, sys; print(json.dumps({"question": sys.argv[1]}))' "$question")"
code="$(status_of POST /v1/chat "$body")"
[ "$code" = "200" ] || fail "POST /v1/chat answered $code: $(head -c 500 "$work/body")"
python3 - "$work/body" <<'PY' || fail "the answer has no citation backed by a source"
import json, re, sys
answer = json.load(open(sys.argv[1]))
cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.get("answer", ""))}
indexes = {source.get("index") for source in answer.get("sources", [])}
if not cited or not cited <= indexes:
    print(f"smoke: answer {answer.get('answer', '')[:300]!r}, sources {sorted(indexes)}", file=sys.stderr)
    sys.exit(1)
print(f"smoke: ok /v1/chat cites {sorted(cited)} of {len(indexes)} source(s)")
PY

# 3. the embeddable widget, once the service ships it
code="$(status_of GET /widget.js)"
case "$code" in
  200)
    type="$(curl -sS -o /dev/null -w '%{content_type}' --max-time "$request_timeout" "$base/widget.js")"
    [[ "$type" == *javascript* ]] || fail "/widget.js is served as '$type', not JavaScript"
    echo "smoke: ok /widget.js ($type)" ;;
  404) echo "smoke: /widget.js not served by this version (skipped)" ;;
  *) fail "/widget.js answered $code" ;;
esac
echo "smoke: passed ($base)"
