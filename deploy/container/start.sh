#!/bin/sh
# The container's start command: migrate the database, optionally re-index the book, then serve.
# Any failing step stops the container (exit 1) instead of serving half-ready.
#   RAG_DATABASE_URL     the database (unset: SQLite in RAG_DATA_DIR); postgres:// URLs as hosting
#                        platforms give them are accepted
#   RAG_INGEST_ON_START  1: run rag-ingest on RAG_DOCS_DIR first (the image already holds the
#                        book's index; set it with a Qdrant server, RAG_QDRANT_URL, that may not)
#   PORT                 the port to serve on (Render sets it; default 8000)
set -eu
. /app/bin/migrate.sh

if [ "${RAG_INGEST_ON_START:-0}" = "1" ]; then
  echo "start: indexing ${RAG_DOCS_DIR}" >&2
  if ! rag-ingest --quiet "${RAG_DOCS_DIR}"; then
    echo "start: error: rag-ingest failed; not serving a partial index" >&2
    exit 1
  fi
fi

exec rag-serve --host 0.0.0.0 --port "${PORT:-8000}"
