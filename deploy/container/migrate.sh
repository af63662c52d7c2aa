#!/bin/sh
# Apply the database migrations (Render's preDeployCommand, and the first step of start.sh).
# Exit 1 when they fail: the release stops before any instance serves the new code.
set -eu
case "${RAG_DATABASE_URL:-}" in
  postgres://*) RAG_DATABASE_URL="postgresql+asyncpg://${RAG_DATABASE_URL#postgres://}" ;;
  postgresql://*) RAG_DATABASE_URL="postgresql+asyncpg://${RAG_DATABASE_URL#postgresql://}" ;;
esac
if [ -n "${RAG_DATABASE_URL:-}" ]; then export RAG_DATABASE_URL; fi
if ! rag-migrate upgrade; then
  echo "migrate: error: the database migrations failed; stopping" >&2
  exit 1
fi
