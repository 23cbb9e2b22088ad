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
        let (answeredAt, found, schema) = readiness.withLock { $0 }
        // The last check passed, but the one after it may be waiting on a database that hangs.
        let silent = MySQLConnection.monotonicNow() - answeredAt
        let problem = found ?? (silent > ShopAPI.readinessMaxAge ? "the database has not answered the readiness check for \(Int(silent)) s" : nil)
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
    /// once a second by a background thread. When the database has not answered for
    /// `readinessMaxAge`, the pool is suspended (requests get 503 at once, and those
    /// waiting on the database are cut off) until it answers again: otherwise each
    /// request would wait out a 30 s read timeout on a database that hangs, or on a
    /// node that died without closing its connections.
    public func checkReadiness() {
        let (problem, schema, answered) = readinessConnection.withLock { connection -> (String?, Int, Bool) in
            do {
                if connection == nil || connection!.isBroken || !connection!.peerLooksOpen() {
                    // Its statement is trivial: past readinessMaxAge, no answer is an answer.
                    var configuration = pool.configuration
                    configuration.readTimeoutSeconds = UInt32(ShopAPI.readinessMaxAge)
                    configuration.writeTimeoutSeconds = UInt32(ShopAPI.readinessMaxAge)
                    connection = try MySQLConnection(configuration: configuration)
                }
                let version = try MySQLMigrator.currentVersion(connection!)
                // A newer schema is a later release's, which migrated it during its
                // rollout; every migration keeps the release before it working
                // (Schema.swift), so this one stays ready and can be rolled back to.
                guard let version, version >= Schema.latestVersion else {
                    let next = migrationFailure.withLock { $0 }.map { "migrating at start-up fails, retried every 5 s: \($0)" } ?? "run storefront migrate"
                    return ("schema version is \(version.map(String.init) ?? "none"), expected \(Schema.latestVersion): \(next)", version ?? 0, true)
                }
                return (nil, version, true)
            } catch {
                let kind = (error as? MySQLError)?.kind
                if kind != .other { connection = nil }
                // A refused login or a full server is an answer; silence or a lost connection is not.
                return ("database unavailable: \(error)", 0, kind != .connectionLost)
            }
        }
        let now = MySQLConnection.monotonicNow()
        let silent = readiness.withLock { s -> Double in
            s = (answered ? now : s.answeredAt, problem, schema)
            return now - s.answeredAt
        }
        if answered, pool.isSuspended {
            pool.resume()
            log(.warning, "the database answers again: database requests are served again")
        } else if silent > ShopAPI.readinessMaxAge, !pool.isSuspended {
            pool.suspend(because: "the database has not answered the readiness check for over \(Int(ShopAPI.readinessMaxAge)) s")
            log(.warning, "the database has not answered for \(Int(silent)) s (\(problem ?? "")): database requests get 503 at once until it does, and the ones waiting on it were cut off")
        }
    }
}
