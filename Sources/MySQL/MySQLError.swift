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
        // 1053 server shutdown, 1927 MariaDB's "connection was killed", 2026 a TLS failure.
        case 2002, 2003, 2005, 2006, 2013, 2026, 2055, 4031, 1053, 1927: return .connectionLost
        case 1213, 1205: return .retryTransaction
        case MySQLError.poolExhaustedNumber: return .poolExhausted
        default: return .other
        }
    }

    /// Not a server number: ours, for "no connection available in time".
    static let poolExhaustedNumber: UInt32 = 9_000_001
    /// The client library's own for a TLS failure (CR_SSL_CONNECTION_ERROR), used for "TLS required, none offered".
    static let tlsMissingNumber: UInt32 = 2026

    public var description: String {
        number == MySQLError.poolExhaustedNumber ? message : "MySQL error \(number) (\(sqlState)): \(message)"
    }

    static func from(_ mysql: UnsafeMutablePointer<MYSQL>) -> MySQLError {
        MySQLError(number: mysql_errno(mysql), sqlState: String(cString: mysql_sqlstate(mysql)), message: String(cString: mysql_error(mysql)))
    }

    static func from(_ stmt: UnsafeMutablePointer<MYSQL_STMT>) -> MySQLError {
        MySQLError(number: mysql_stmt_errno(stmt), sqlState: String(cString: mysql_stmt_sqlstate(stmt)), message: String(cString: mysql_stmt_error(stmt)))
    }
}
