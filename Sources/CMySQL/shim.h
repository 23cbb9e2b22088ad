// The only C surface of the MySQL client. It hides the differences between
// the two client libraries a Linux machine may have:
//   - MariaDB Connector/C (Debian's default-libmysqlclient-dev; tested here
//     with 3.3 on Debian 12): `my_bool` is a char, TLS is asked for with
//     mysql_ssl_set and MYSQL_OPT_SSL_VERIFY_SERVER_CERT;
//   - Oracle's libmysqlclient 8.x (Ubuntu's default-libmysqlclient-dev;
//     tested with 8.0.33 and 8.4.0 by Tests/libmysqlclient8/run): `bool`, and TLS is
//     one MYSQL_OPT_SSL_MODE.
// Detection uses MARIADB_BASE_VERSION / LIBMYSQL_VERSION_ID, never
// MYSQL_VERSION_ID, which MariaDB sets above 80000 too.
#ifndef CMYSQL_SHIM_H
#define CMYSQL_SHIM_H

#include <mysql.h>
#include <errmsg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(MARIADB_BASE_VERSION) || defined(MARIADB_PACKAGE_VERSION_ID)
#define CMYSQL_MARIADB 1
typedef my_bool cmysql_bool;
#elif defined(LIBMYSQL_VERSION_ID) && LIBMYSQL_VERSION_ID >= 80000
#define CMYSQL_MARIADB 0
typedef bool cmysql_bool;
#else
#error "unsupported MySQL client library: need MariaDB Connector/C 3.x or libmysqlclient 8.x"
#endif

/// Per-column state a bind points at, so Swift never touches a cmysql_bool.
typedef struct {
    cmysql_bool is_null;
    cmysql_bool error;
    unsigned long length;
} cmysql_bind_state;

static inline void cmysql_bind_attach(MYSQL_BIND *bind, cmysql_bind_state *state) {
    bind->is_null = &state->is_null;
    bind->error = &state->error;
    bind->length = &state->length;
}

static inline int cmysql_state_is_null(const cmysql_bind_state *state) { return state->is_null ? 1 : 0; }
static inline int cmysql_state_error(const cmysql_bind_state *state) { return state->error ? 1 : 0; }
static inline void cmysql_bind_set_unsigned(MYSQL_BIND *bind, int value) { bind->is_unsigned = value ? 1 : 0; }

// Functions whose return type is the library's boolean: 0 on success, 1 on failure.
static inline int cmysql_stmt_bind_param(MYSQL_STMT *stmt, MYSQL_BIND *bind) { return mysql_stmt_bind_param(stmt, bind) ? 1 : 0; }
static inline int cmysql_stmt_bind_result(MYSQL_STMT *stmt, MYSQL_BIND *bind) { return mysql_stmt_bind_result(stmt, bind) ? 1 : 0; }
static inline int cmysql_stmt_close(MYSQL_STMT *stmt) { return mysql_stmt_close(stmt) ? 1 : 0; }
static inline int cmysql_stmt_free_result(MYSQL_STMT *stmt) { return mysql_stmt_free_result(stmt) ? 1 : 0; }
static inline int cmysql_stmt_reset(MYSQL_STMT *stmt) { return mysql_stmt_reset(stmt) ? 1 : 0; }
static inline int cmysql_autocommit(MYSQL *mysql, int on) { return mysql_autocommit(mysql, on ? 1 : 0) ? 1 : 0; }
static inline int cmysql_commit(MYSQL *mysql) { return mysql_commit(mysql) ? 1 : 0; }
static inline int cmysql_rollback(MYSQL *mysql) { return mysql_rollback(mysql) ? 1 : 0; }

/// Makes mysql_stmt_store_result fill each field's max_length, so result
/// buffers can be sized to the data instead of the column's maximum.
static inline int cmysql_stmt_update_max_length(MYSQL_STMT *stmt) {
    cmysql_bool on = 1;
    return mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on) ? 1 : 0;
}

static inline int cmysql_field_is_unsigned(const MYSQL_FIELD *field) { return (field->flags & UNSIGNED_FLAG) ? 1 : 0; }
static inline int cmysql_field_is_binary(const MYSQL_FIELD *field) { return field->charsetnr == 63 ? 1 : 0; }

/// The connection's socket, which MySQLConnection duplicates at the connect: to look (never
/// read) at whether the server closed it, and to interrupt it from another thread.
static inline int cmysql_socket(MYSQL *mysql) {
#if CMYSQL_MARIADB
    return (int)mysql_get_socket(mysql);
#else
    return (int)mysql->net.fd;
#endif
}

static inline int cmysql_set_uint_option(MYSQL *mysql, enum mysql_option option, unsigned int value) {
    return mysql_options(mysql, option, &value);
}

#if !CMYSQL_MARIADB
/// The system's CA bundle as OpenSSL would find it: SSL_CERT_FILE, else the
/// distributions' usual places (Debian and Ubuntu, Fedora and RHEL, openSUSE,
/// Alpine); NULL when there is none.
static inline const char *cmysql_system_ca_file(void) {
    static const char *const bundles[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                                          "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"};
    const char *file = getenv("SSL_CERT_FILE");
    if (file && *file) return file;
    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0]; i++) {
        if (access(bundles[i], R_OK) == 0) return bundles[i];
    }
    return NULL;
}
#endif

/// TLS modes as DB_TLS names them: 0 disabled, 1 preferred, 2 required,
/// 3 verify-ca, 4 verify-identity. `ca` may be NULL. Returns 0 on success.
static inline int cmysql_set_tls(MYSQL *mysql, int mode, const char *ca) {
#if CMYSQL_MARIADB
    // Connector/C 3.3 uses TLS only when asked (mysql_ssl_set asks) and then
    // falls back to plaintext if the server has none, even when told to enforce
    // it: the caller checks "required" after connecting. Verifying checks the
    // chain and the host name, so verify-ca is as strict as verify-identity.
    // (MYSQL_OPT_SSL_ENFORCE false would undo the asking, so it is only ever set true.)
    cmysql_bool enforce = 1, verify = mode >= 3;
    if (mode == 0) return 0;
    mysql_ssl_set(mysql, NULL, NULL, NULL, NULL, NULL);
    if (mode >= 2 && mysql_options(mysql, MYSQL_OPT_SSL_ENFORCE, &enforce)) return 1;
    if (mysql_options(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify)) return 1;
#else
    unsigned int sslMode = mode == 0 ? SSL_MODE_DISABLED : mode == 1 ? SSL_MODE_PREFERRED : mode == 2 ? SSL_MODE_REQUIRED
        : mode == 3 ? SSL_MODE_VERIFY_CA : SSL_MODE_VERIFY_IDENTITY;
    if (mysql_options(mysql, MYSQL_OPT_SSL_MODE, &sslMode)) return 1;
    // Without a CA, Connector/C verifies against OpenSSL's default, the system's CAs
    // (SSL_CERT_FILE first); Oracle's library refuses ("CA certificate is required if
    // ssl-mode is VERIFY_CA or VERIFY_IDENTITY"), so it is given the same.
    if (!ca && mode >= 3) ca = cmysql_system_ca_file();
#endif
    if (ca && mysql_options(mysql, MYSQL_OPT_SSL_CA, ca)) return 1;
    return 0;
}

/// MySQL 8.4 logs in with caching_sha2_password: until the server has cached a
/// login, the password goes over TLS or, without TLS, encrypted with the server's
/// RSA public key, asked of the server. Connector/C asks by itself; Oracle's
/// library only when told to, and otherwise fails without TLS ("Authentication
/// requires secure connection"). Returns 0 on success.
static inline int cmysql_request_server_public_key(MYSQL *mysql) {
#if CMYSQL_MARIADB
    (void)mysql;
    return 0;
#else
    bool on = true;
    return mysql_options(mysql, MYSQL_OPT_GET_SERVER_PUBLIC_KEY, &on);
#endif
}

#endif
