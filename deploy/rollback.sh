#!/usr/bin/env bash
# rollback: see deploy/releases.py (--help).
set -euo pipefail
exec "${PYTHON:-python3}" "$(dirname "$0")/releases.py" rollback "$@"
