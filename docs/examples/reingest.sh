#!/usr/bin/env bash
# Re-index the book through the running service, then wait for the new version to serve.
# For a CI job after the book is published. Needs RAG_URL (the service, e.g.
# https://qa.example.org) and RAG_ADMIN_KEY (one of the service's RAG_ADMIN_API_KEYS).
# Optional: REINGEST_FULL=true re-embeds everything; REINGEST_POLLS (120) x 5 s is the wait.
# Exit 0 when the job succeeded (its summary line is printed), 1 when it failed or timed out.
set -euo pipefail
: "${RAG_URL:?set RAG_URL to the service URL}"
: "${RAG_ADMIN_KEY:?set RAG_ADMIN_KEY to an admin API key}"

field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

body=$(printf '{"full": %s}' "${REINGEST_FULL:-false}")
job=$(curl -fsS -X POST "$RAG_URL/v1/admin/ingest" -H "X-API-Key: $RAG_ADMIN_KEY" \
  -H 'Content-Type: application/json' -d "$body")
id=$(printf '%s' "$job" | field job_id)
echo "reingest: job $id started"
for _ in $(seq 1 "${REINGEST_POLLS:-120}"); do
  status=$(curl -fsS "$RAG_URL/v1/admin/ingest/$id" -H "X-API-Key: $RAG_ADMIN_KEY")
  case "$(printf '%s' "$status" | field status)" in
    succeeded)
      echo "reingest: $(printf '%s' "$status" | field summary)"
      exit 0
      ;;
    failed)
      echo "reingest: job $id failed: $status" >&2
      exit 1
      ;;
  esac
  sleep 5
done
echo "reingest: job $id still running after ${REINGEST_POLLS:-120} polls" >&2
exit 1
