import Foundation
import XCTest
import MySQL
import Shop

/// A database of its own, migrated, on the server that scripts/test starts (DB_*
/// in the environment); `drop` removes it.
struct ScratchDatabase {
    let pool: MySQLPool
    let drop: () -> Void

    /// Nil when no database is configured: see `skipWithoutOne`.
    init?(_ prefix: String) throws {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["DB_HOST"] else { return nil }
        var c = MySQLConfiguration(host: host, port: Int(env["DB_PORT"] ?? "3306")!, user: env["DB_USER"] ?? "storefront",
                                   password: env["DB_PASSWORD"] ?? "", database: env["DB_NAME"] ?? "storefront")
        c.tls = .disabled
        let database = "storefront_\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        try MySQLConnection(configuration: c).run("CREATE DATABASE \(database)")
        let admin = c
        c.database = database
        let pool = MySQLPool(configuration: c)
        self.pool = pool
        drop = {
            pool.close()
            _ = try? MySQLConnection(configuration: admin).run("DROP DATABASE IF EXISTS \(database)")
        }
        do {
            try pool.withConnection { try MySQLMigrator.migrate($0, Schema.migrations) }
        } catch {
            drop()
            throw error
        }
    }

    /// Skips the test, or fails it where scripts/test requires the database.
    static func skipWithoutOne() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["DB_HOST"] == nil else { return }
        if env["STOREFRONT_REQUIRE_DB"] == "1" { XCTFail("DB_HOST is not set but the database tests are required") }
        throw XCTSkip("no database: set DB_* (scripts/test does)")
    }
}
