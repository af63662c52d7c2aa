#!/usr/bin/env bash
# restore.sh: restore a backup made by backup.sh into an empty database (and an index folder).
set -euo pipefail

usage() {
  cat <<'HELP'
usage: restore.sh --dump FILE [--index FILE.tar.gz --data-dir DIR]

Restore the database dump FILE (pg_dump custom format) into RAG_DATABASE_URL, which must be an
empty database (create it first: restoring over live data is refused), and optionally the index
archive into DIR/qdrant (DIR must hold no index yet). Then start rag-serve on them: it finds the
schema at its revision and the index published. Without an index archive, rebuild the index
from the book: `rag-ingest DOCS_DIR --full`.

Exit codes: 0 restored, 1 failed, 2 bad usage or refused target.
HELP
}

dump="" index="" data_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dump) dump="${2:?--dump needs a file}"; shift 2 ;;
    --index) index="${2:?--index needs a file}"; shift 2 ;;
    --data-dir) data_dir="${2:?--data-dir needs a folder}"; shift 2 ;;
    *) echo "restore: error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$dump" ] || { echo "restore: error: --dump FILE is required (see --help)" >&2; exit 2; }
[ -f "$dump" ] || { echo "restore: error: no such dump: $dump" >&2; exit 2; }
if [ -n "$index" ]; then
  [ -f "$index" ] || { echo "restore: error: no such index archive: $index" >&2; exit 2; }
  data_dir="${data_dir:-${RAG_DATA_DIR:-}}"
  [ -n "$data_dir" ] || { echo "restore: error: --index needs --data-dir (or RAG_DATA_DIR)" >&2; exit 2; }
  [ ! -e "$data_dir/qdrant" ] || { echo "restore: error: $data_dir/qdrant exists; restore into an empty folder" >&2; exit 2; }
fi
: "${RAG_DATABASE_URL:?restore: error: RAG_DATABASE_URL is not set (a postgresql:// URL)}"
pg_url="$(printf '%s' "$RAG_DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')"

tables="$(psql "$pg_url" -XtAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
if [ "$tables" != "0" ]; then
  echo "restore: error: the target database is not empty ($tables tables); restore into a new one" >&2
  exit 2
fi

started=$(date +%s.%N)
pg_restore --exit-on-error --no-owner --no-privileges --single-transaction --dbname="$pg_url" "$dump"
echo "restore: database <- $dump"
if [ -n "$index" ]; then
  mkdir -p "$data_dir"
  tar -C "$data_dir" -xzf "$index"
  echo "restore: index <- $index into $data_dir/qdrant"
fi
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "restore: done in $elapsed s"
