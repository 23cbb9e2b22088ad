import Foundation
import XCTest
import HTTPServer
@testable import MySQL
@testable import Shop

/// The plans of the queries whose speed or safety rests on one, at 1,000,000
/// products (seeded once for the class).
final class QueryPlanTests: XCTestCase {
    nonisolated(unsafe) private static var database: ScratchDatabase?
    nonisolated(unsafe) private static var failedSetUp = false

    override class func setUp() {
        do {
            database = try ScratchDatabase("plans")
            guard let pool = database?.pool else { return }
            try Seeder.seedGenerated(pool, count: 1_000_000)
            try pool.withConnection { _ = try $0.run("ANALYZE TABLE products") }
        } catch {
            print("QueryPlanTests: the database could not be set up: \(error)")
            failedSetUp = true
        }
    }

    override class func tearDown() {
        database?.drop()
    }

    private func seededPool() throws -> MySQLPool {
        try ScratchDatabase.skipWithoutOne()
        return try XCTUnwrap(QueryPlanTests.failedSetUp ? nil : QueryPlanTests.database?.pool,
                             "the database could not be set up (see the output above)")
    }

    /// Index access in sort order: no full scan, no filesort, no temporary table; a page
    /// is found in its index alone.
    func testListingsUseIndexesAtAMillionProducts() throws {
        let pool = try seededPool()
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
                        // Skipping `offset` entries must not read a row per entry.
                        if sql == listing.page {
                            XCTAssertTrue(extra.contains("Using index"), "reads rows to skip the offset: \(context)")
                        }
                    }
                }
            }
        }
    }

    /// A listing the database cannot finish within its time limit is stopped there, and
    /// the client is told why and what to do; within the limit the same listing is answered.
    func testAListingPastItsTimeLimitIsStoppedAndAnswered503() throws {
        let pool = try seededPool()
        var query = Catalog.ListQuery()
        query.text = "no product says this"
        var hurried = Catalog(pool: pool)
        hurried.listingTimeLimitSeconds = 0.001  // a scan of a million descriptions takes far longer
        XCTAssertThrowsError(try hurried.products(query)) { error in
            let problem = error as? HTTPError
            XCTAssertEqual(problem?.status.code, 503, "\(error)")
            XCTAssertTrue(problem?.detail.contains("time limit") ?? false, problem?.detail ?? "")
            XCTAssertEqual(problem?.type, "/problems/time-limit")
        }
        XCTAssertEqual(try Catalog(pool: pool).products(query)["total"], .int(0))
    }

    /// Checkout's deadlock freedom rests on this plan: the cart, then its lines by
    /// primary key (so in product order), then each line's product by primary key;
    /// rows are locked as they are read, and nothing is sorted afterwards.
    func testCheckoutLocksTheCartThenItsProductsInIdOrder() throws {
        let pool = try seededPool()
        let cart = Identifier.make()
        try pool.withConnection { c in
            try c.execute("INSERT INTO carts (id, status, created_at, updated_at) VALUES (?, 'open', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
                          [.string(cart)])
            try c.execute("INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES (?, 900000, 1, UTC_TIMESTAMP(3)), (?, 7, 2, UTC_TIMESTAMP(3))",
                          [.string(cart), .string(cart)])
        }
        let plan = try pool.withConnection { try $0.query("EXPLAIN " + CheckoutService.lockingRead, [.string(cart)]) }
        XCTAssertEqual(plan.map { $0["table"].string ?? "" }, ["c", "i", "p"], "join order")
        XCTAssertEqual(plan.map { $0["key"].string ?? "" }, ["PRIMARY", "PRIMARY", "PRIMARY"], "indexes")
        for row in plan {
            let extra = row["Extra"].string ?? ""
            XCTAssertFalse(extra.contains("filesort") || extra.contains("temporary"), "\(row["table"].string ?? ""): \(extra)")
        }
    }
}
