import CMySQL
import Glibc

/// One connection to the server. Not thread-safe: it is Sendable only so the
/// pool can hand it from thread to thread; a connection is used by one
/// thread at a time (the pool hands it out exclusively). Statements that take
/// input are prepared once per connection and cached, the most recently used
/// `statementCacheSize` of them: the server caps prepared statements across all
/// its sessions (max_prepared_stmt_count, 16382 by default), and the variants of
/// listings and partial updates would otherwise pile up in every pooled connection.
public final class MySQLConnection: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<MYSQL>
    /// A duplicate of the socket, taken at the connect, so that `interrupt` needs
    /// nothing of the library's state while another thread is inside it. Ours, not the
    /// library's: the library closes its descriptor as soon as it finds the connection
    /// lost, and that number goes to the next socket the process opens.
    private let socketDescriptor: Int32
    private var statements: [String: MySQLStatement] = [:]
    private var uses: UInt64 = 0
    static let statementCacheSize = 64
    public let createdAt: Double
    var lastUsedAt: Double
    /// Set after an error that leaves the connection unusable; the pool discards it.
    public private(set) var isBroken = false
    public private(set) var inTransaction = false
    /// MariaDB rather than MySQL, where their SQL differs (see `timeLimited`).
    private let isMariaDB: Bool

    /// The session settings every connection starts with: strict SQL (so bad
    /// values fail instead of being coerced, and zero dates are refused), UTC,
    /// and row-lock waits of at most 2 s instead of InnoDB's 50: rows here are
    /// locked for milliseconds, so a longer wait means something else holds them,
    /// and a request that waits holds a worker and a connection meanwhile; the
    /// retries of a lock-wait timeout (4 attempts in all) end in about 8 s. The
    /// character set, utf8mb4, is chosen in the handshake.
    static let sessionSetup = """
        SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', \
        time_zone = '+00:00', innodb_lock_wait_timeout = 2
        """

    public init(configuration c: MySQLConfiguration) throws(MySQLError) {
        MySQLLibrary.initialize()
        guard let handle = mysql_init(nil) else {
            throw MySQLError(number: 2008, sqlState: "HY000", message: "mysql_init failed: out of memory")
        }
        self.handle = handle
        _ = cmysql_set_uint_option(handle, MYSQL_OPT_CONNECT_TIMEOUT, c.connectTimeoutSeconds)
        _ = cmysql_set_uint_option(handle, MYSQL_OPT_READ_TIMEOUT, c.readTimeoutSeconds)
        _ = cmysql_set_uint_option(handle, MYSQL_OPT_WRITE_TIMEOUT, c.writeTimeoutSeconds)
        _ = mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        // TCP even to "localhost", which both libraries would take for their own Unix socket path, ignoring the port.
        _ = cmysql_set_uint_option(handle, MYSQL_OPT_PROTOCOL, MYSQL_PROTOCOL_TCP.rawValue)
        // MYSQL_OPT_RECONNECT stays off: a silent reconnect loses session state mid-transaction.
        guard cmysql_set_tls(handle, c.tls.rawValue, c.tlsCAPath) == 0, cmysql_request_server_public_key(handle) == 0 else {
            let error = MySQLError.from(handle)
            mysql_close(handle)
            throw error
        }
        // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, not only those whose
        // values changed, so "0 rows" means "no such row" even when a touch writes the
        // same millisecond that is already stored.
        guard mysql_real_connect(handle, c.host, c.user, c.password, c.database, UInt32(c.port), nil, UInt(CLIENT_FOUND_ROWS)) != nil else {
            var error = MySQLError.from(handle)
            mysql_close(handle)
            // Connector/C names neither the port nor the cause ("(115)" is its EINPROGRESS,
            // whether the connection was refused or timed out).
            if error.number == 2002 || error.number == 2003 {
                error = MySQLError(number: error.number, sqlState: error.sqlState,
                                   message: "\(error.message); nothing accepted a connection at \(c.address) (refused, or no answer within \(c.connectTimeoutSeconds) s)")
            }
            throw error
        }
        // MariaDB Connector/C goes on in plaintext when the server offers no TLS, enforced or not.
        if c.tls.rawValue >= MySQLConfiguration.TLS.required.rawValue && mysql_get_ssl_cipher(handle) == nil {
            mysql_close(handle)
            throw MySQLError(number: MySQLError.tlsMissingNumber, sqlState: "HY000",
                             message: "TLS is required but the server at \(c.address) does not offer it; the connection was refused")
        }
        isMariaDB = String(cString: mysql_get_server_info(handle)).contains("MariaDB")
        let descriptor = fcntl(cmysql_socket(handle), F_DUPFD_CLOEXEC, 0)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            mysql_close(handle)
            throw MySQLError(number: MySQLError.noSocketNumber, sqlState: "HY000", message: "could not keep a descriptor for the connection to \(c.address): \(reason)")
        }
        socketDescriptor = descriptor
        createdAt = MySQLConnection.monotonicNow()
        lastUsedAt = createdAt
        // Every property is set from here on, so a throw runs deinit, which closes
        // the handle: closing it here as well would free it twice.
        try run(MySQLConnection.sessionSetup)
    }

    deinit {
        statements.removeAll()
        mysql_close(handle)
        close(socketDescriptor)
    }

    public static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public var serverVersion: String { String(cString: mysql_get_server_info(handle)) }

    /// `select` (a SELECT) with a limit on its running time, which the server enforces:
    /// past it the statement stops with `MySQLError.isTimeLimit`, rather than running on
    /// after the client has given up. MariaDB and MySQL spell this differently, and each
    /// ignores the other's spelling (MariaDB reads MySQL's hint as a comment).
    public func timeLimited(_ select: String, seconds: Double) -> String {
        if isMariaDB { return "SET STATEMENT max_statement_time = \(seconds) FOR \(select)" }
        guard select.hasPrefix("SELECT ") else { return select }
        return "SELECT /*+ MAX_EXECUTION_TIME(\(max(1, Int(seconds * 1000)))) */ " + select.dropFirst("SELECT ".count)
    }
    /// Prepared statements this connection holds on the server.
    var preparedStatementCount: Int { statements.count }
    /// The TLS cipher in use, nil for plaintext.
    public var tlsCipher: String? { mysql_get_ssl_cipher(handle).map { String(cString: $0) } }
    public var threadID: UInt { mysql_thread_id(handle) }

    // MARK: - Statements

    /// Runs a statement with bound parameters (a cached server-side prepared statement).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [MySQLValue] = []) throws(MySQLError) -> MySQLResult {
        lastUsedAt = MySQLConnection.monotonicNow()
        do {
            let statement: MySQLStatement
            if let cached = statements[sql] {
                statement = cached
            } else {
                if statements.count >= MySQLConnection.statementCacheSize,
                   let oldest = statements.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                    statements[oldest] = nil  // deinit closes it on the server
                }
                statement = try MySQLStatement(connection: handle, sql: sql)
                statements[sql] = statement
            }
            uses += 1
            statement.lastUse = uses
            return try statement.execute(parameters)
        } catch {
            note(error)
            throw error
        }
    }

    /// Rows of a parameterised query.
    public func query(_ sql: String, _ parameters: [MySQLValue] = []) throws(MySQLError) -> [MySQLRow] {
        try execute(sql, parameters).rows
    }

    /// Runs SQL that takes no input over the text protocol (DDL, SET, transaction
    /// control); returns rows as text. Never pass it anything built from input.
    @discardableResult
    public func run(_ sql: String) throws(MySQLError) -> [[String?]] {
        lastUsedAt = MySQLConnection.monotonicNow()
        let rc = sql.withCString { mysql_real_query(handle, $0, UInt(strlen($0))) }
        guard rc == 0 else {
            let error = MySQLError.from(handle)
            note(error)
            throw error
        }
        guard let result = mysql_store_result(handle) else {
            if mysql_field_count(handle) > 0 {
                let error = MySQLError.from(handle)
                note(error)
                throw error
            }
            return []
        }
        defer { mysql_free_result(result) }
        let columns = Int(mysql_num_fields(result))
        var rows: [[String?]] = []
        while let row = mysql_fetch_row(result) {
            let lengths = mysql_fetch_lengths(result)!
            rows.append((0..<columns).map { i in
                row[i].map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(lengths[i])), as: UTF8.self) }
            })
        }
        return rows
    }

    /// Whether an idle connection is still open at the server's end, without a
    /// round trip when it can tell: after a restart, a failover or a KILL the
    /// server has closed the socket and its end-of-file waits there, so the pool
    /// opens a new connection instead of failing the next request with it. Bytes
    /// waiting instead (an error the server sent before closing, or TLS records)
    /// are left to a ping to judge.
    public func peerLooksOpen() -> Bool {
        var byte: UInt8 = 0
        let n = recv(socketDescriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return true }
        if n > 0 { return ping() }
        isBroken = true
        return false
    }

    /// Ends, from another thread, whatever this connection waits for: its blocked
    /// read fails at once as a lost connection, so its owner gets an error and the
    /// pool drops it, where the read would otherwise wait out the read timeout for a
    /// database that stopped answering.
    func interrupt() { shutdown(socketDescriptor, Int32(SHUT_RDWR)) }

    /// True when the server answers.
    public func ping() -> Bool {
        if mysql_ping(handle) == 0 {
            lastUsedAt = MySQLConnection.monotonicNow()
            return true
        }
        isBroken = true
        return false
    }

    // MARK: - Transactions

    public func begin() throws(MySQLError) {
        try run("START TRANSACTION")
        inTransaction = true
    }

    public func commit() throws(MySQLError) {
        defer { inTransaction = false }
        try run("COMMIT")
    }

    /// Rolls back; if even that fails the connection is not trusted again.
    public func rollback() {
        inTransaction = false
        do { try run("ROLLBACK") } catch { isBroken = true }
    }

    // MARK: - Named locks

    /// Runs `body` holding the server-wide named lock `name` (GET_LOCK), waiting at
    /// most `timeoutSeconds` for it (0: not at all); nil when another session holds
    /// it. The server frees the lock if this session dies, so a crash holds nothing.
    public func withNamedLock<T>(_ name: String, timeoutSeconds: Int, _ body: () throws -> T) throws -> T? {
        // Hashed: MySQL limits lock names to 64 characters.
        let got = try query("SELECT GET_LOCK(SHA2(?, 224), ?)", [.string(name), .int(Int64(timeoutSeconds))])
        guard got.first?[0].int == 1 else { return nil }
        defer {
            // A session that may still hold the lock must not be handed out again.
            if (try? query("SELECT RELEASE_LOCK(SHA2(?, 224))", [.string(name)])) == nil { isBroken = true }
        }
        return try body()
    }

    private func note(_ error: MySQLError) {
        if error.kind == .connectionLost { isBroken = true }
    }
}
