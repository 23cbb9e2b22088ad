# Sourced by scripts/run and scripts/test (after lib.sh).
# start_database: uses the server named by DB_HOST if set; otherwise starts a
# throwaway MariaDB on a free loopback port with its data under tmp/, creates
# the database and user, exports DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME,
# and stops the server and deletes its data when the calling script exits.

start_database() {
    if [ -n "${DB_HOST:-}" ]; then
        say "using the database at ${DB_HOST}:${DB_PORT:-3306} (DB_HOST is set)"
        return 0
    fi
    ensure_packages mariadb-server mariadb-client openssl
    local port dir sock
    port="$(free_port)"
    dir="$TMP_DIR/mariadb-$port"
    sock="$dir/mysqld.sock"
    rm -rf "$dir" && mkdir -p "$dir/data"
    local user_opt=()
    [ "$(id -u)" -eq 0 ] && user_opt=(--user=root)

    say "starting a throwaway MariaDB on 127.0.0.1:$port (data in ${dir#$ROOT/})"
    mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$dir/data" --auth-root-authentication-method=socket \
        --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
    # A throwaway certificate, so that clients can use TLS here as they do with
    # MySQL 8.4, which makes its own.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj "/CN=storefront-throwaway-db" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$dir/tls-key.pem" -out "$dir/tls-cert.pem" >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "openssl could not make the database's certificate"; }
    mariadbd --no-defaults "${user_opt[@]}" --datadir="$dir/data" --socket="$sock" --port="$port" \
        --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
        --ssl-cert="$dir/tls-cert.pem" --ssl-key="$dir/tls-key.pem" \
        --innodb-buffer-pool-size=256M --innodb-log-file-size=64M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci >/dev/null 2>&1 &
    DB_SERVER_PID=$!
    DB_SOCKET="$sock"
    DB_DIR="$dir"
    trap stop_database EXIT
    local i
    for i in $(seq 1 100); do
        mariadb-admin --socket="$sock" ping >/dev/null 2>&1 && break
        kill -0 "$DB_SERVER_PID" 2>/dev/null || { cat "$dir/error.log" >&2; die "mariadbd exited during start-up"; }
        sleep 0.2
    done
    mariadb-admin --socket="$sock" ping >/dev/null 2>&1 || { tail -20 "$dir/error.log" >&2; die "mariadbd did not answer within 20 s"; }

    # Its certificate is its own CA: DB_TLS_CA="$DB_TLS_CERT" with DB_TLS=verify-identity checks it.
    export DB_TLS_CERT="$dir/tls-cert.pem"
    export DB_HOST=127.0.0.1 DB_PORT="$port" DB_USER=storefront DB_PASSWORD="local-dev-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" DB_NAME=storefront
    # Anonymous users from a fresh install would shadow 'storefront'@'localhost'; remove them.
    mariadb --socket="$sock" -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
CREATE DATABASE IF NOT EXISTS storefront CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'storefront'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER 'storefront'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON storefront.* TO 'storefront'@'127.0.0.1';
GRANT ALL PRIVILEGES ON storefront.* TO 'storefront'@'localhost';
-- The test suite makes scratch databases of its own (storefront_*).
GRANT ALL PRIVILEGES ON \`storefront\_%\`.* TO 'storefront'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
}

stop_database() {
    if [ -n "${DB_SERVER_PID:-}" ]; then
        stop_process "$DB_SERVER_PID" 30
        DB_SERVER_PID=""
        # Throwaway means it: the data goes with the server (a run leaves nothing behind).
        rm -rf "$DB_DIR"
    fi
}

# db_admin SQL...: runs SQL as root on the throwaway server (tests use it).
db_root() { mariadb --socket="$DB_SOCKET" -uroot "$@"; }
