#!/usr/bin/env bash
# Runs the `ents` client tests against a Loam binary: bash tests/clients/run.sh [pytest args]
# Env: LOAM_BIN (required), LOAM_TEST_PG_URL (admin URL for the Postgres half; optional),
#      CLIENTS_VENV (default ~/.cache/loam-clients/venv).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CLIENTS_VENV:-$HOME/.cache/loam-clients/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$HERE/requirements.txt"
  echo "$WANT" > "$STAMP"
fi
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$HERE" "$@"
