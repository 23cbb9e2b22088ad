import Foundation
import XCTest
@testable import MySQL
@testable import Shop

/// The listing queries at 1,000,000 products: EXPLAIN must show index access
/// in sort order: no full scan, no filesort, no temporary table.
final class ListingPlanTests: XCTestCase {
    func testListingsUseIndexesAtAMillionProducts() throws {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["DB_HOST"] else {
            if env["STOREFRONT_REQUIRE_DB"] == "1" { XCTFail("DB_HOST is not set but the database tests are required") }
            throw XCTSkip("no database: set DB_* (scripts/test does)")
        }
        var c = MySQLConfiguration(host: host, port: Int(env["DB_PORT"] ?? "3306")!, user: env["DB_USER"] ?? "storefront",
                                   password: env["DB_PASSWORD"] ?? "", database: env["DB_NAME"] ?? "storefront")
        c.tls = .disabled
        let database = "storefront_plans_\(UInt32.random(in: 0...UInt32.max))"
        try MySQLConnection(configuration: c).run("CREATE DATABASE \(database)")
        defer { _ = try? MySQLConnection(configuration: c).run("DROP DATABASE IF EXISTS \(database)") }
        c.database = database
        let pool = MySQLPool(configuration: c)
        try pool.withConnection { try MySQLMigrator.migrate($0, Schema.migrations) }
        try Seeder.seedGenerated(pool, count: 1_000_000)
        try pool.withConnection { _ = try $0.run("ANALYZE TABLE products") }

        for category in [nil, "shoes"] as [String?] {
            for sort in ["id", "name", "price", "-price", "newest"] {
                var query = Catalog.ListQuery()
                query.category = category
                query.sort = sort
                query.offset = 100
                let listing = Catalog.listing(query)
                for (sql, parameters) in [(listing.page, listing.pageParameters), (listing.count, listing.countParameters)] {
                    let plan = try pool.withConnection { try $0.query("EXPLAIN " + sql, parameters) }
                    for row in plan {
                        let table = row["table"].string ?? "", type = row["type"].string ?? "", extra = row["Extra"].string ?? ""
                        let context = "category \(category ?? "-"), sort \(sort): \(table) \(type) \(extra)"
                        XCTAssertNotEqual(type, "ALL", "full table scan: \(context)")
                        XCTAssertFalse(extra.contains("filesort"), "sorts rows instead of reading an index in order: \(context)")
                        XCTAssertFalse(extra.contains("temporary"), "temporary table: \(context)")
                        if table == "p" { XCTAssertNotNil(row["key"].string, "no index on products: \(context)") }
                    }
                }
            }
        }
    }
}
