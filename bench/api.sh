#!/usr/bin/env bash
# bench/api.py with a throwaway database (or the one DB_* names) and the
# FastAPI peer's virtualenv under tmp/. Arguments go to bench/api.py.
source "$(dirname "$0")/../scripts/lib.sh"
source "$ROOT/scripts/db.sh"
ensure_swift
ensure_packages wrk mariadb-client pkg-config default-libmysqlclient-dev
start_database
# The database process, for the CPU-per-request columns (only when started here).
export BENCH_DB_PID="${DB_SERVER_PID:-}"
MYSQL_PWD="$DB_PASSWORD" mariadb --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" \
    -e "CREATE DATABASE IF NOT EXISTS storefront_bench; CREATE DATABASE IF NOT EXISTS storefront_peer_fastapi"
VENV="$TMP_DIR/peer-venv"
if [ ! -x "$VENV/bin/uvicorn" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$ROOT/../shared/bench/peers/fastapi/requirements.txt"
fi
python3 "$ROOT/bench/api.py" --venv "$VENV" "$@"
