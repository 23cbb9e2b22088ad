/// One schema change. Its statements run in order; MySQL commits DDL
/// implicitly, so each statement should be safe to run again (IF NOT EXISTS)
/// in case a migration is interrupted half-way.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Applies migrations in version order and records each in `schema_migrations`.
/// A named lock (GET_LOCK) serializes migrators, so replicas starting together
/// take turns: the first applies, the others find nothing left to do.
public enum MySQLMigrator {
    public static let lockName = "storefront.schema_migrations"
    /// What a statement that already ran says when run again: the table (1050), the
    /// column (1060) or the index (1061) exists.
    static let alreadyDone: Set<UInt32> = [1050, 1060, 1061]

    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public static func migrate(_ connection: MySQLConnection, _ migrations: [Migration], lockTimeoutSeconds: Int = 60) throws -> [Int] {
        let applied = try connection.withNamedLock(lockName, timeoutSeconds: lockTimeoutSeconds) { try apply(connection, migrations) }
        guard let applied else {
            throw MySQLError(number: 0, sqlState: "HY000", message: "another migrator held the schema lock for \(lockTimeoutSeconds) s; try again")
        }
        return applied
    }

    private static func apply(_ connection: MySQLConnection, _ migrations: [Migration]) throws(MySQLError) -> [Int] {
        try connection.run("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INT NOT NULL PRIMARY KEY,
                name VARCHAR(200) NOT NULL,
                applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """)
        let applied = Set(try connection.query("SELECT version FROM schema_migrations").compactMap { $0[0].int })
        var appliedNow: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            for statement in migration.statements {
                do {
                    try connection.run(statement)
                } catch where MySQLMigrator.alreadyDone.contains(error.number) {
                    // DDL commits by itself: a migrator that stopped between this statement
                    // and recording its version left it applied, and runs it again now.
                    continue
                } catch {
                    throw MySQLError(number: error.number, sqlState: error.sqlState,
                                     message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)")
                }
            }
            try connection.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                                   [.int(Int64(migration.version)), .string(migration.name)])
            appliedNow.append(migration.version)
        }
        return appliedNow
    }

    /// The highest applied version, or nil before the first migration.
    public static func currentVersion(_ connection: MySQLConnection) throws -> Int? {
        do {
            return try connection.query("SELECT MAX(version) FROM schema_migrations").first?[0].int
        } catch where error.number == 1146 {  // no such table yet
            return nil
        }
    }
}
