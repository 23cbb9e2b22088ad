import HTTPServer
import MySQL

/// Readiness: `/readyz` answers from what a background check last found.
extension ShopAPI {
    /// 200 when the database answered the last check (at most a few seconds ago) and
    /// the schema is this binary's or newer. Answered on the event loop from what
    /// `checkReadiness` found: a pod whose workers and pool are all busy is loaded,
    /// not unready, and taking it out of its Service would only pile its load onto
    /// the others.
    func ready() -> HTTPResponse {
        if isDraining() {
            return .json(["status": "draining", "checks": ["shutdown": "draining"]], status: .serviceUnavailable,
                         headers: HTTPHeaders([("Retry-After", "5")]))
        }
        let (checkedAt, found, schema) = readiness.withLock { $0 }
        let age = MySQLConnection.monotonicNow() - checkedAt
        let problem = age > ShopAPI.readinessMaxAge && checkedAt > 0
            ? "the database has not answered the readiness check for \(Int(age)) s" : found
        if let problem {
            return .json(["status": "unavailable", "checks": ["database": .string(problem)]], status: .serviceUnavailable,
                         headers: HTTPHeaders([("Retry-After", "1")]))
        }
        return .json(["status": "ok", "checks": ["database": "ok", "schema": .int(schema)]])
    }

    /// Whether the last check found the database answering with a current schema.
    public var isReady: Bool { readiness.withLock { $0.problem == nil } }

    /// What the last migration attempt at start-up met (nil: it succeeded), so that
    /// `/readyz` says why the schema is behind rather than only that it is.
    public func noteMigration(failure: String?) {
        migrationFailure.withLock { $0 = failure }
    }

    /// How old the last answer may be before readiness fails (a database that hangs).
    static let readinessMaxAge = 5.0

    /// Checks the database on a connection of its own (not the pool's, which a busy
    /// server may have all in use) and records the outcome for `/readyz`. Run about
    /// once a second by a background thread.
    public func checkReadiness() {
        let (problem, schema) = readinessConnection.withLock { connection -> (String?, Int) in
            do {
                if connection == nil || connection!.isBroken || !connection!.peerLooksOpen() {
                    connection = try MySQLConnection(configuration: pool.configuration)
                }
                let version = try MySQLMigrator.currentVersion(connection!)
                // A newer schema is a later release's, which migrated it during its
                // rollout; every migration keeps the release before it working
                // (Schema.swift), so this one stays ready and can be rolled back to.
                guard let version, version >= Schema.latestVersion else {
                    let next = migrationFailure.withLock { $0 }.map { "migrating at start-up fails, retried every 5 s: \($0)" } ?? "run storefront migrate"
                    return ("schema version is \(version.map(String.init) ?? "none"), expected \(Schema.latestVersion): \(next)", version ?? 0)
                }
                return (nil, version)
            } catch {
                if (error as? MySQLError)?.kind != .other { connection = nil }
                return ("database unavailable: \(error)", 0)
            }
        }
        readiness.withLock { $0 = (MySQLConnection.monotonicNow(), problem, schema) }
    }
}
