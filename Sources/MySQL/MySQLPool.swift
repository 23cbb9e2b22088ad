import Dispatch
import Glibc
import Synchronization

/// A bounded pool of connections. A caller waits at most `acquireTimeout` for
/// one (then gets `.poolExhausted`, which an API turns into 503), connections
/// the server has closed are replaced before use, ones idle for a while are
/// pinged first, old ones are replaced before the server's `wait_timeout` would
/// cut them, and broken ones are dropped. While the database does not answer
/// (`suspend`), callers fail at once instead of waiting on it.
public final class MySQLPool: @unchecked Sendable {
    public struct Options: Sendable {
        public var size = 10
        public var acquireTimeout = 2.0
        /// A connection idle longer than this is pinged before it is handed out.
        public var pingAfterIdle = 10.0
        /// Replaced after this long, well under MySQL's default wait_timeout (8 h) and typical proxies' idle limits.
        public var maxLifetime = 1800.0
        public init() {}
    }

    public struct Stats: Sendable {
        public var open: Int
        public var idle: Int
        public var inUse: Int
        public var waiting: Int
    }

    public let configuration: MySQLConfiguration
    public let options: Options
    /// Called with each acquire's wait in seconds (for a histogram).
    private let onAcquire: (@Sendable (Double) -> Void)?

    private let slots: DispatchSemaphore
    /// `busy`: the connections handed out, so that `suspend` can interrupt them.
    private typealias State = (idle: [MySQLConnection], busy: [MySQLConnection], open: Int, waiting: Int, closed: Bool,
                               suspended: String?)
    private let state = Mutex<State>(([], [], 0, 0, false, nil))
    private let retries = Atomic<Int>(0)
    private let rereads = Atomic<Int>(0)

    public init(configuration: MySQLConfiguration, options: Options = Options(), onAcquire: (@Sendable (Double) -> Void)? = nil) {
        precondition(options.size > 0)
        self.configuration = configuration
        self.options = options
        self.onAcquire = onAcquire
        slots = DispatchSemaphore(value: options.size)
    }

    public var stats: Stats {
        state.withLock { Stats(open: $0.open, idle: $0.idle.count, inUse: $0.busy.count, waiting: $0.waiting) }
    }

    /// Transactions retried after a deadlock or lock-wait timeout, since start.
    public var transactionRetries: Int { retries.load(ordering: .relaxed) }

    /// Reads run again on a new connection after theirs died, since start.
    public var readRetries: Int { rereads.load(ordering: .relaxed) }

    /// Runs `body` with a connection held exclusively. With `readOnly`, a body
    /// whose connection dies under it (a killed session, a proxy or a primary that
    /// failed over) runs once more on a new connection: reading twice changes
    /// nothing, where a write's fate would be unknown. New, because what dropped
    /// one connection may be dropping the idle ones too. Failing to get a
    /// connection is not retried: that is an outage, and waiting twice would not help.
    @discardableResult
    public func withConnection<T>(readOnly: Bool = false, _ body: (MySQLConnection) throws -> T) throws -> T {
        try withConnection(retrying: readOnly, reusing: true, body)
    }

    private func withConnection<T>(retrying: Bool, reusing: Bool, _ body: (MySQLConnection) throws -> T) throws -> T {
        let connection = try acquire(reusing: reusing)
        let result = Result { try body(connection) }
        release(connection)
        if retrying, case .failure(let error as MySQLError) = result, error.kind == .connectionLost {
            rereads.wrappingAdd(1, ordering: .relaxed)
            return try withConnection(retrying: false, reusing: false, body)
        }
        return try result.get()
    }

    /// Runs `body` in a transaction: commits on return, rolls back on any
    /// error, and runs the whole block again (up to `attempts` times, with
    /// jittered backoff) after a deadlock or lock-wait timeout; with `readOnly`,
    /// also once after a lost connection, as `withConnection` does.
    @discardableResult
    public func withTransaction<T>(readOnly: Bool = false, attempts: Int = 4, _ body: (MySQLConnection) throws -> T) throws -> T {
        try withConnection(readOnly: readOnly) { try transaction(on: $0, attempts: attempts, body) }
    }

    /// `withTransaction` on a connection the caller already holds (one that keeps
    /// a named lock across the transaction, say). Retries run on that connection.
    public func transaction<T>(on connection: MySQLConnection, attempts: Int = 4, _ body: (MySQLConnection) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                try connection.begin()
                do {
                    let value = try body(connection)
                    try connection.commit()
                    return value
                } catch {
                    connection.rollback()
                    throw error
                }
            } catch let error as MySQLError where error.kind == .retryTransaction && attempt < attempts {
                retries.wrappingAdd(1, ordering: .relaxed)
                // 5, 10, 20 ms … each scaled by 0.5–1.5 so that colliding transactions part ways.
                let base = 0.005 * Double(1 << (attempt - 1))
                usleep(UInt32(base * Double.random(in: 0.5...1.5) * 1e6))
                attempt += 1
            }
        }
    }

    /// A connection for the caller alone; `release` it. `reusing: false` opens a new one
    /// even when idle ones are left.
    public func acquire(reusing: Bool = true) throws(MySQLError) -> MySQLConnection {
        let start = MySQLConnection.monotonicNow()
        if let reason = state.withLock({ s -> String? in
            if s.suspended == nil { s.waiting += 1 }
            return s.suspended
        }) { throw MySQLPool.unresponsive(reason) }
        let got = slots.wait(timeout: .now() + options.acquireTimeout) == .success
        // Suspended meanwhile: the database is no nearer for the wait.
        let suspended = state.withLock { s -> String? in s.waiting -= 1; return s.suspended }
        onAcquire?(MySQLConnection.monotonicNow() - start)
        guard got else {
            throw MySQLError(number: MySQLError.poolExhaustedNumber, sqlState: "HY000",
                             message: "no database connection became free within \(options.acquireTimeout) s (pool size \(options.size))")
        }
        if let suspended { slots.signal(); throw MySQLPool.unresponsive(suspended) }
        // A slot is ours: reuse an idle connection if a healthy one is left, else open one.
        // Not reusing, one idle connection is dropped instead, so the pool keeps its size.
        while let candidate = state.withLock({ s -> MySQLConnection? in
            guard let c = s.idle.popLast() else { return nil }
            s.busy.append(c)  // its ping too may wait on the database
            return c
        }) {
            let now = MySQLConnection.monotonicNow()
            if reusing && now - candidate.createdAt < options.maxLifetime && candidate.peerLooksOpen()
                && (now - candidate.lastUsedAt < options.pingAfterIdle || candidate.ping()) {
                return candidate
            }
            state.withLock { $0.busy.removeAll { $0 === candidate }; $0.open -= 1 }
            if !reusing { break }
        }
        do {
            let connection = try MySQLConnection(configuration: configuration)
            state.withLock { $0.busy.append(connection); $0.open += 1 }
            return connection
        } catch {
            slots.signal()
            throw error
        }
    }

    public func release(_ connection: MySQLConnection) {
        let keep = !connection.isBroken && !connection.inTransaction
        let closed = state.withLock { s -> Bool in
            s.busy.removeAll { $0 === connection }
            if keep && !s.closed { s.idle.append(connection) } else { s.open -= 1 }
            return s.closed
        }
        if !keep || closed { connection.rollbackIfNeeded() }
        slots.signal()
    }

    /// For a database that has stopped answering (the caller's health check says
    /// so): until `resume`, `acquire` fails at once with `reason` (a lost connection,
    /// so a 503) instead of waiting out connect and read timeouts; the idle
    /// connections are closed, since after such a silence they may lead nowhere (a
    /// database node that died leaves no end of file to see); and the ones in use
    /// are interrupted, so requests waiting on the database get their answer now.
    public func suspend(because reason: String) {
        dropIdle { s in
            s.suspended = reason
            for connection in s.busy { connection.interrupt() }
        }
    }

    private static func unresponsive(_ reason: String) -> MySQLError {
        MySQLError(number: MySQLError.unresponsiveNumber, sqlState: "HY000", message: reason)
    }

    /// The database answers again.
    public func resume() { state.withLock { $0.suspended = nil } }

    /// Whether `suspend` holds.
    public var isSuspended: Bool { state.withLock { $0.suspended != nil } }

    /// Closes idle connections; connections in use close when released.
    public func close() { dropIdle { $0.closed = true } }

    /// Runs `change` on the state and takes the idle connections out of it, in one
    /// hold of the lock; they are dropped outside it (deinit closes each).
    private func dropIdle(_ change: (inout State) -> Void) {
        let idle = state.withLock { s -> [MySQLConnection] in
            change(&s)
            let idle = s.idle
            s.open -= idle.count
            s.idle.removeAll()
            return idle
        }
        _ = idle
    }
}

extension MySQLConnection {
    fileprivate func rollbackIfNeeded() { if inTransaction { rollback() } }
}
