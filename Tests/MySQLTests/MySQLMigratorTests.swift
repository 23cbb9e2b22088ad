import Foundation
import XCTest
@testable import MySQL

final class MySQLMigratorTests: MySQLTestCase {
    let migrations = [
        Migration(version: 1, name: "widgets", statements: ["CREATE TABLE IF NOT EXISTS widgets (id INT PRIMARY KEY)"]),
        Migration(version: 2, name: "widget names", statements: ["ALTER TABLE widgets ADD COLUMN name VARCHAR(50) NULL"]),
    ]

    func testRunningTwiceIsANoOp() throws {
        let c = try connect()
        XCTAssertNil(try MySQLMigrator.currentVersion(c))
        XCTAssertEqual(try MySQLMigrator.migrate(c, migrations), [1, 2])
        XCTAssertEqual(try MySQLMigrator.migrate(c, migrations), [])
        XCTAssertEqual(try MySQLMigrator.currentVersion(c), 2)
    }

    /// A migrator that stopped after a statement but before recording its version: the
    /// next run finds the column there, counts the statement done, and records it.
    func testAStatementAppliedButNotRecordedIsTakenAsDone() throws {
        let c = try connect()
        XCTAssertEqual(try MySQLMigrator.migrate(c, Array(migrations.prefix(1))), [1])
        try c.run("ALTER TABLE widgets ADD COLUMN name VARCHAR(50) NULL")
        XCTAssertEqual(try MySQLMigrator.migrate(c, migrations), [2])
        XCTAssertEqual(try MySQLMigrator.currentVersion(c), 2)
    }

    func testTwoMigratorsAtOnceDoNotCollide() throws {
        let results = LockedBox<[Result<[Int], Error>]>([])
        let group = DispatchGroup()
        let configuration = self.configuration!
        let migrations = self.migrations
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                MySQLLibrary.threadStart()
                defer { MySQLLibrary.threadEnd(); group.leave() }
                let result = Result { try MySQLMigrator.migrate(try MySQLConnection(configuration: configuration), migrations) }
                results.mutate { $0.append(result) }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        let applied = try results.value.map { try $0.get() }
        XCTAssertEqual(applied.flatMap { $0 }.sorted(), [1, 2], "each migration applied exactly once")
        XCTAssertEqual(try connect().query("SELECT COUNT(*) FROM schema_migrations").first?[0].int, 2)
    }
}
