import CMySQL

/// An error from the client library or the server, with what a caller needs
/// to decide: retry the transaction, drop the connection, or give up.
public struct MySQLError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// The connection is unusable (server gone, killed, unreachable): discard it.
        case connectionLost
        /// A deadlock or lock-wait timeout: the whole transaction may be retried.
        case retryTransaction
        /// No pooled connection could be had in time.
        case poolExhausted
        /// The server is there but will not do this now: too many connections, a login
        /// refused (credentials being rotated, database not created yet), the schema not
        /// migrated yet, a statement cut off by a time limit or KILL QUERY, a full disk; or this
        /// process is out of descriptors. Not retried.
        case unavailable
        case other
    }

    public let number: UInt32
    public let sqlState: String
    public let message: String

    public init(number: UInt32, sqlState: String, message: String) {
        self.number = number
        self.sqlState = sqlState
        self.message = message
    }

    public var kind: Kind {
        switch number {
        // 2002/2003 cannot connect, 2006 gone away, 2013/2055 lost, 4031 idle disconnect,
        // 1053 server shutdown, 1927 MariaDB's "connection was killed", 2026 a TLS failure;
        // 1290/1792/1836 read-only: a primary demoted by a failover, which a new connection
        // (through DNS or a proxy) may not reach.
        case 2002, 2003, 2005, 2006, 2013, 2026, 2055, 4031, 1053, 1927, 1290, 1792, 1836: return .connectionLost
        case 1213, 1205: return .retryTransaction
        // 1040/1203/1226 connection and user limits, 1044/1045/1049 login refused,
        // 1146 no such table, 1317 interrupted, 1969/3024 MariaDB's and MySQL's statement time limits;
        // 1114 (InnoDB on a full disk: "table is full") and 1021 disk full, 1037/1041/1135
        // out of memory or threads: reads may still work, and writes do once there is room;
        // 2001/2004 no socket for a new connection: this process is out of descriptors.
        case 1040, 1203, 1226, 1044, 1045, 1049, 1146, 1317, 1969, 3024,
             1114, 1021, 1037, 1041, 1135, 2001, 2004: return .unavailable
        case MySQLError.poolExhaustedNumber: return .poolExhausted
        case MySQLError.unresponsiveNumber: return .connectionLost
        default: return .other
        }
    }

    /// A statement stopped by a time limit (MariaDB's max_statement_time, MySQL's MAX_EXECUTION_TIME).
    public var isTimeLimit: Bool { number == 1969 || number == 3024 }

    /// Not server numbers: ours, for "no connection available in time" and for
    /// "the pool is suspended: the database does not answer".
    static let poolExhaustedNumber: UInt32 = 9_000_001
    static let unresponsiveNumber: UInt32 = 9_000_002
    /// The client library's own for a TLS failure (CR_SSL_CONNECTION_ERROR), used for "TLS required, none offered".
    static let tlsMissingNumber: UInt32 = 2026
    /// The client library's own when it cannot create a socket (CR_IPSOCK_ERROR), used for "no descriptor to keep".
    static let noSocketNumber: UInt32 = 2004

    public var description: String {
        number >= MySQLError.poolExhaustedNumber ? message : "MySQL error \(number) (\(sqlState)): \(message)"
    }

    static func from(_ mysql: UnsafeMutablePointer<MYSQL>) -> MySQLError {
        MySQLError(number: mysql_errno(mysql), sqlState: String(cString: mysql_sqlstate(mysql)), message: String(cString: mysql_error(mysql)))
    }

    static func from(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> MySQLError {
        MySQLError(number: mysql_stmt_errno(stmt), sqlState: String(cString: mysql_stmt_sqlstate(stmt)), message: String(cString: mysql_stmt_error(stmt)))
    }
}
