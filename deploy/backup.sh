#!/usr/bin/env bash
# backup.sh: dump the PostgreSQL database (pg_dump custom format) and copy the embedded Qdrant
# index, then delete backups older than the retention. Run daily (render.yaml's cron job).
set -euo pipefail

usage() {
  cat <<'HELP'
usage: backup.sh [--out DIR] [--retention-days N] [--no-index]

Back up the service's data: pg_dump (custom format) of RAG_DATABASE_URL, and, in Qdrant local
mode, a copy of RAG_DATA_DIR/qdrant taken under the index's own lock (so no process writes it
meanwhile; a running rag-serve holds that lock, so stop it or skip with --no-index and rebuild
the index from the book with `rag-ingest DOCS_DIR --full`). With a Qdrant server
(RAG_QDRANT_URL) the index is not copied: use the server's snapshots or rebuild from the book.
Backups older than the retention are deleted. With BACKUP_S3_URL set, each file is also
uploaded there (curl, AWS SigV4: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).

  --out DIR            where backups go (default: $BACKUP_DIR, else ./backups)
  --retention-days N   keep N days of backups (default: $BACKUP_RETENTION_DAYS, else 14)
  --no-index           database only

Prints one line per file and a summary: `backup: done in S s: FILE...`.
Exit codes: 0 done, 1 failed, 2 bad usage, 3 database saved but the index was in use (not copied).
HELP
}

out="${BACKUP_DIR:-./backups}"
retention="${BACKUP_RETENTION_DAYS:-14}"
index=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --retention-days) retention="${2:?--retention-days needs a number}"; shift 2 ;;
    --no-index) index=0; shift ;;
    *) echo "backup: error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$retention" in ''|*[!0-9]*) echo "backup: error: --retention-days must be a whole number" >&2; exit 2 ;; esac
: "${RAG_DATABASE_URL:?backup: error: RAG_DATABASE_URL is not set (a postgresql:// URL)}"
case "$RAG_DATABASE_URL" in
  postgresql*|postgres://*) ;;
  *) echo "backup: error: RAG_DATABASE_URL is not PostgreSQL (SQLite: copy the file)" >&2; exit 2 ;;
esac
# libpq does not know SQLAlchemy's driver suffix
pg_url="$(printf '%s' "$RAG_DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')"

mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
started=$(date +%s.%N)
status=0
dump="$out/rag-db-$stamp.dump"
pg_dump --format=custom --no-owner --no-privileges --file="$dump.partial" "$pg_url"
mv "$dump.partial" "$dump"
echo "backup: database -> $dump ($(du -h "$dump" | cut -f1))"
files=("$dump")

data_dir="${RAG_DATA_DIR:-./data}"
if [ "$index" = 1 ] && [ -z "${RAG_QDRANT_URL:-}" ]; then
  if [ -d "$data_dir/qdrant" ]; then
    archive="$out/rag-index-$stamp.tar.gz"
    touch "$data_dir/qdrant/.lock"
    # qdrant-client's local mode holds an exclusive flock on .lock while it has the index open
    if flock --nonblock "$data_dir/qdrant/.lock" tar -C "$data_dir" -czf "$archive.partial" qdrant; then
      mv "$archive.partial" "$archive"
      echo "backup: index -> $archive ($(du -h "$archive" | cut -f1))"
      files+=("$archive")
    else
      rm -f "$archive.partial"
      echo "backup: warning: the index in $data_dir/qdrant is open (rag-serve running?): not copied" >&2
      status=3
    fi
  else
    echo "backup: warning: no index at $data_dir/qdrant: not copied" >&2
  fi
fi

# off-site copy: an S3-compatible bucket URL (https://bucket.s3.REGION.amazonaws.com/prefix)
if [ -n "${BACKUP_S3_URL:-}" ]; then
  command -v curl >/dev/null || { echo "backup: error: BACKUP_S3_URL needs curl" >&2; exit 1; }
  : "${AWS_ACCESS_KEY_ID:?backup: error: BACKUP_S3_URL needs AWS_ACCESS_KEY_ID}"
  : "${AWS_SECRET_ACCESS_KEY:?backup: error: BACKUP_S3_URL needs AWS_SECRET_ACCESS_KEY}"
  for file in "${files[@]}"; do
    curl --fail --silent --show-error --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" --upload-file "$file" \
      "${BACKUP_S3_URL%/}/$(basename "$file")"
    echo "backup: uploaded $(basename "$file") to ${BACKUP_S3_URL%/}/"
  done
fi

# retention: whole days by modification time
find "$out" -maxdepth 1 -type f \( -name 'rag-db-*.dump' -o -name 'rag-index-*.tar.gz' \) \
  -mtime "+$((retention - 1))" -print -delete | sed 's/^/backup: expired /'

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "backup: done in $elapsed s: ${files[*]}"
exit "$status"
