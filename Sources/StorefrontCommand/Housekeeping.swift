import Glibc
import HTTPServer
import MySQL
import Shop
import Synchronization

/// Background threads for chores: one checks the database for `/readyz` every
/// second; the other runs migrations that could not run at start-up, then,
/// once the database is ready and every 10 minutes after, deletes expired
/// idempotency keys and abandoned carts.
final class Housekeeping: Sendable {
    private let api: ShopAPI
    private let logger: Logger
    private let migrate: (@Sendable () throws -> Void)?
    private let stopped = Atomic<Bool>(false)
    let intervalSeconds = 600.0

    /// `migrate`, when given, is retried until it succeeds (the database was not
    /// reachable at start-up), so the server becomes ready without a restart.
    init(api: ShopAPI, logger: Logger, migrate: (@Sendable () throws -> Void)? = nil) {
        self.api = api
        self.logger = logger
        self.migrate = migrate
    }

    func start() {
        api.checkReadiness()  // ready (or not) from the first probe on
        _ = startThread(name: "readiness") { [self] in
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            while !sleepUnlessStopped(seconds: 1) { api.checkReadiness() }
        }
        _ = startThread(name: "housekeeping") { [self] in
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            if let migrate { migrateUntilDone(migrate) }
            // The first pass as soon as the database is ready, then every interval.
            var due = 0.0
            while !sleepUnlessStopped(seconds: 1) {
                guard MySQLConnection.monotonicNow() >= due, api.isReady else { continue }
                prune("expired idempotency keys", api.pruneIdempotencyKeys)
                prune("open carts nobody changed for \(api.options.cartRetentionDays) days", api.pruneAbandonedCarts)
                due = MySQLConnection.monotonicNow() + intervalSeconds
            }
        }
    }

    /// Deletes batch after batch until one comes back short.
    private func prune(_ what: String, _ batch: () throws -> UInt64) {
        do {
            var pruned: UInt64 = 0
            repeat {
                let deleted = try batch()
                pruned += deleted
                if deleted < ShopAPI.pruneBatch { break }
            } while !stopped.load(ordering: .relaxed)
            if pruned > 0 { logger.log(.info, "deleted \(what): \(pruned)") }
        } catch {
            logger.log(.warning, "could not delete \(what): \(error)")
        }
    }

    /// Retries after 1, 2, 4 then every 5 seconds, logging a failure once a minute.
    private func migrateUntilDone(_ migrate: () throws -> Void) {
        var delay = 1
        var lastLogged = MySQLConnection.monotonicNow()
        var attempts = 0
        while !sleepUnlessStopped(seconds: delay) {
            attempts += 1
            do {
                try migrate()
                logger.log(.info, "the database schema is current (migrated at attempt \(attempts) after start-up)")
                return
            } catch {
                if MySQLConnection.monotonicNow() - lastLogged >= 60 {
                    logger.log(.warning, "still cannot migrate (\(error)); retrying every \(delay) s, /readyz stays 503 until then")
                    lastLogged = MySQLConnection.monotonicNow()
                }
            }
            delay = min(delay * 2, 5)
        }
    }

    /// True if asked to stop during the sleep.
    private func sleepUnlessStopped(seconds: Int) -> Bool {
        for _ in 0..<(seconds * 10) {
            if stopped.load(ordering: .relaxed) { return true }
            usleep(100_000)
        }
        return stopped.load(ordering: .relaxed)
    }

    /// Not joined: a check can wait on a database that hangs for the whole read
    /// timeout, which must not hold the process past its shutdown deadline; a prune
    /// cut off by the exit is rolled back by the database. So the process exits
    /// without the libraries' atexit clean-ups, which a running check would meet
    /// (`finish` in main.swift).
    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}
