/* The part of Oracle's libmysqlclient 8.0 C API (libmysqlclient.so.21) that
   Sources/CMySQL/shim.h and Sources/MySQL use, declared with 8.0's names,
   values and layouts, so that the package builds against Oracle's library
   on a machine whose only MySQL headers are MariaDB's (see run beside it,
   which builds with it against 8.0.33 and, with the same declarations,
   against 8.4.0, libmysqlclient.so.24).
   Structs the library allocates (MYSQL, MYSQL_STMT, MYSQL_RES) are declared
   only as far as this project reads them; never allocate one from here. */
#ifndef _mysql_h
#define _mysql_h
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LIBMYSQL_VERSION "8.0.33"
#define LIBMYSQL_VERSION_ID 80033
#define MYSQL_VERSION_ID 80033

#define UNSIGNED_FLAG 32
#define CLIENT_FOUND_ROWS 2
#define MYSQL_NO_DATA 100
#define MYSQL_DATA_TRUNCATED 101

enum enum_field_types {
  MYSQL_TYPE_DECIMAL, MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG,
  MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE, MYSQL_TYPE_NULL, MYSQL_TYPE_TIMESTAMP,
  MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_DATE, MYSQL_TYPE_TIME,
  MYSQL_TYPE_DATETIME, MYSQL_TYPE_YEAR, MYSQL_TYPE_NEWDATE, MYSQL_TYPE_VARCHAR,
  MYSQL_TYPE_BIT, MYSQL_TYPE_TIMESTAMP2, MYSQL_TYPE_DATETIME2, MYSQL_TYPE_TIME2,
  MYSQL_TYPE_TYPED_ARRAY,
  MYSQL_TYPE_INVALID = 243, MYSQL_TYPE_BOOL, MYSQL_TYPE_JSON, MYSQL_TYPE_NEWDECIMAL,
  MYSQL_TYPE_ENUM, MYSQL_TYPE_SET, MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB,
  MYSQL_TYPE_LONG_BLOB, MYSQL_TYPE_BLOB, MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_STRING,
  MYSQL_TYPE_GEOMETRY
};

enum enum_mysql_timestamp_type {
  MYSQL_TIMESTAMP_NONE = -2, MYSQL_TIMESTAMP_ERROR = -1, MYSQL_TIMESTAMP_DATE = 0,
  MYSQL_TIMESTAMP_DATETIME = 1, MYSQL_TIMESTAMP_TIME = 2, MYSQL_TIMESTAMP_DATETIME_TZ = 3
};

typedef struct MYSQL_TIME {
  unsigned int year, month, day, hour, minute, second;
  unsigned long second_part;
  bool neg;
  enum enum_mysql_timestamp_type time_type;
  int time_zone_displacement; /* since 8.0.19: 8.0's MYSQL_TIME is 48 bytes, MariaDB's 40 */
} MYSQL_TIME;

typedef struct NET {
  void *vio;
  unsigned char *buff, *buff_end, *write_pos, *read_pos;
  int fd;
  /* ... */
} NET;

typedef struct MYSQL {
  NET net;
  /* ... */
} MYSQL;

typedef struct MYSQL_RES MYSQL_RES;

typedef struct MYSQL_STMT {
  void *mem_root;
  /* ... */
} MYSQL_STMT;

typedef struct MYSQL_FIELD {
  char *name, *org_name, *table, *org_table, *db, *catalog, *def;
  unsigned long length, max_length;
  unsigned int name_length, org_name_length, table_length, org_table_length,
      db_length, catalog_length, def_length;
  unsigned int flags, decimals, charsetnr;
  enum enum_field_types type;
  void *extension;
} MYSQL_FIELD;

typedef struct MYSQL_BIND {
  unsigned long *length;
  bool *is_null;
  void *buffer;
  bool *error;
  unsigned char *row_ptr;
  void (*store_param_func)(NET *net, struct MYSQL_BIND *param);
  void (*fetch_result)(struct MYSQL_BIND *, MYSQL_FIELD *, unsigned char **row);
  void (*skip_result)(struct MYSQL_BIND *, MYSQL_FIELD *, unsigned char **row);
  unsigned long buffer_length, offset, length_value;
  unsigned int param_number, pack_length;
  enum enum_field_types buffer_type;
  bool error_value, is_unsigned, long_data_used, is_null_value;
  void *extension;
} MYSQL_BIND;

enum mysql_option {
  MYSQL_OPT_CONNECT_TIMEOUT, MYSQL_OPT_COMPRESS, MYSQL_OPT_NAMED_PIPE,
  MYSQL_INIT_COMMAND, MYSQL_READ_DEFAULT_FILE, MYSQL_READ_DEFAULT_GROUP,
  MYSQL_SET_CHARSET_DIR, MYSQL_SET_CHARSET_NAME, MYSQL_OPT_LOCAL_INFILE,
  MYSQL_OPT_PROTOCOL, MYSQL_SHARED_MEMORY_BASE_NAME, MYSQL_OPT_READ_TIMEOUT,
  MYSQL_OPT_WRITE_TIMEOUT, MYSQL_OPT_USE_RESULT, MYSQL_REPORT_DATA_TRUNCATION,
  MYSQL_OPT_RECONNECT, MYSQL_PLUGIN_DIR, MYSQL_DEFAULT_AUTH, MYSQL_OPT_BIND,
  MYSQL_OPT_SSL_KEY, MYSQL_OPT_SSL_CERT, MYSQL_OPT_SSL_CA, MYSQL_OPT_SSL_CAPATH,
  MYSQL_OPT_SSL_CIPHER, MYSQL_OPT_SSL_CRL, MYSQL_OPT_SSL_CRLPATH,
  MYSQL_OPT_CONNECT_ATTR_RESET, MYSQL_OPT_CONNECT_ATTR_ADD,
  MYSQL_OPT_CONNECT_ATTR_DELETE, MYSQL_SERVER_PUBLIC_KEY,
  MYSQL_ENABLE_CLEARTEXT_PLUGIN, MYSQL_OPT_CAN_HANDLE_EXPIRED_PASSWORDS,
  MYSQL_OPT_MAX_ALLOWED_PACKET, MYSQL_OPT_NET_BUFFER_LENGTH,
  MYSQL_OPT_TLS_VERSION, MYSQL_OPT_SSL_MODE, MYSQL_OPT_GET_SERVER_PUBLIC_KEY
  /* ... */
};

enum mysql_protocol_type {
  MYSQL_PROTOCOL_DEFAULT, MYSQL_PROTOCOL_TCP, MYSQL_PROTOCOL_SOCKET, MYSQL_PROTOCOL_PIPE, MYSQL_PROTOCOL_MEMORY
};

enum mysql_ssl_mode {
  SSL_MODE_DISABLED = 1, SSL_MODE_PREFERRED, SSL_MODE_REQUIRED,
  SSL_MODE_VERIFY_CA, SSL_MODE_VERIFY_IDENTITY
};

enum enum_stmt_attr_type { STMT_ATTR_UPDATE_MAX_LENGTH, STMT_ATTR_CURSOR_TYPE, STMT_ATTR_PREFETCH_ROWS };

int mysql_server_init(int argc, char **argv, char **groups);
bool mysql_thread_init(void);
void mysql_thread_end(void);
MYSQL *mysql_init(MYSQL *mysql);
int mysql_options(MYSQL *mysql, enum mysql_option option, const void *arg);
MYSQL *mysql_real_connect(MYSQL *mysql, const char *host, const char *user, const char *passwd,
                          const char *db, unsigned int port, const char *unix_socket,
                          unsigned long clientflag);
const char *mysql_get_ssl_cipher(MYSQL *mysql);
void mysql_close(MYSQL *mysql);
int mysql_ping(MYSQL *mysql);
unsigned int mysql_errno(MYSQL *mysql);
const char *mysql_error(MYSQL *mysql);
const char *mysql_sqlstate(MYSQL *mysql);
unsigned long mysql_thread_id(MYSQL *mysql);
const char *mysql_get_server_info(MYSQL *mysql);
int mysql_real_query(MYSQL *mysql, const char *query, unsigned long length);
MYSQL_RES *mysql_store_result(MYSQL *mysql);
unsigned int mysql_field_count(MYSQL *mysql);
unsigned int mysql_num_fields(MYSQL_RES *result);
MYSQL_FIELD *mysql_fetch_fields(MYSQL_RES *result);
char **mysql_fetch_row(MYSQL_RES *result);
unsigned long *mysql_fetch_lengths(MYSQL_RES *result);
void mysql_free_result(MYSQL_RES *result);
bool mysql_autocommit(MYSQL *mysql, bool on);
bool mysql_commit(MYSQL *mysql);
bool mysql_rollback(MYSQL *mysql);

MYSQL_STMT *mysql_stmt_init(MYSQL *mysql);
int mysql_stmt_prepare(MYSQL_STMT *stmt, const char *query, unsigned long length);
unsigned long mysql_stmt_param_count(MYSQL_STMT *stmt);
bool mysql_stmt_attr_set(MYSQL_STMT *stmt, enum enum_stmt_attr_type attr, const void *value);
bool mysql_stmt_bind_param(MYSQL_STMT *stmt, MYSQL_BIND *binds);
int mysql_stmt_execute(MYSQL_STMT *stmt);
unsigned int mysql_stmt_field_count(MYSQL_STMT *stmt);
int mysql_stmt_store_result(MYSQL_STMT *stmt);
MYSQL_RES *mysql_stmt_result_metadata(MYSQL_STMT *stmt);
bool mysql_stmt_bind_result(MYSQL_STMT *stmt, MYSQL_BIND *binds);
int mysql_stmt_fetch(MYSQL_STMT *stmt);
uint64_t mysql_stmt_num_rows(MYSQL_STMT *stmt);
uint64_t mysql_stmt_affected_rows(MYSQL_STMT *stmt);
uint64_t mysql_stmt_insert_id(MYSQL_STMT *stmt);
bool mysql_stmt_free_result(MYSQL_STMT *stmt);
bool mysql_stmt_reset(MYSQL_STMT *stmt);
bool mysql_stmt_close(MYSQL_STMT *stmt);
unsigned int mysql_stmt_errno(MYSQL_STMT *stmt);
const char *mysql_stmt_error(MYSQL_STMT *stmt);
const char *mysql_stmt_sqlstate(MYSQL_STMT *stmt);
#endif
