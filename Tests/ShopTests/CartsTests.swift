import Foundation
import Synchronization
import XCTest
import HTTPServer
@testable import MySQL
@testable import Shop

/// Abandoned carts are deleted by age against a real database, in a scratch
/// database per test.
final class CartsTests: XCTestCase {
    private var database: ScratchDatabase?
    private var pool: MySQLPool { database!.pool }

    override func setUpWithError() throws {
        try ScratchDatabase.skipWithoutOne()
        database = try ScratchDatabase("carts")
        try Seeder.seedGenerated(pool, count: 3)
    }

    override func tearDown() {
        database?.drop()
    }

    /// Moves a cart's last change `days` into the past.
    private func age(_ id: String, days: Int) throws {
        try pool.withConnection { c in
            try c.execute("UPDATE carts SET created_at = created_at - INTERVAL ? DAY, updated_at = updated_at - INTERVAL ? DAY WHERE id = ?",
                          [.int(Int64(days)), .int(Int64(days)), .string(id)])
        }
    }

    private func exists(_ id: String) throws -> Bool {
        try pool.withConnection { try !$0.query("SELECT 1 FROM carts WHERE id = ?", [.string(id)]).isEmpty }
    }

    private func lines(_ id: String) throws -> Int {
        try pool.withConnection { try $0.query("SELECT COUNT(*) FROM cart_items WHERE cart_id = ?", [.string(id)]).first?[0].int ?? -1 }
    }

    func testOpenCartsUnchangedPastTheRetentionAreDeletedWithTheirLines() throws {
        let carts = Carts(pool: pool)
        let abandoned = try carts.create().id, recent = try carts.create().id, ordered = try carts.create().id
        let revived = try carts.create().id
        _ = try carts.setLine(abandoned, productID: 1, quantity: 2, onConflict: {})
        _ = try carts.setLine(revived, productID: 2, quantity: 1, onConflict: {})
        try pool.withConnection { try $0.execute("UPDATE carts SET status = 'ordered' WHERE id = ?", [.string(ordered)]) }
        for id in [abandoned, ordered, revived] { try age(id, days: 31) }
        try age(recent, days: 29)
        // A change today counts, however old the cart is.
        _ = try carts.setLine(revived, productID: 3, quantity: 1, onConflict: {})

        XCTAssertEqual(try carts.pruneAbandoned(days: 30), 1)
        XCTAssertFalse(try exists(abandoned))
        XCTAssertEqual(try lines(abandoned), 0, "its lines go with it")
        XCTAssertThrowsError(try carts.get(abandoned)) { XCTAssertEqual(($0 as? HTTPError)?.status.code, 404) }
        for id in [recent, ordered, revived] { XCTAssertTrue(try exists(id), "kept \(id)") }
        XCTAssertEqual(try lines(revived), 2)
        XCTAssertEqual(try carts.pruneAbandoned(days: 30), 0, "nothing left to delete")
        XCTAssertEqual(try carts.pruneAbandoned(days: 28), 1, "the 29-day-old cart is past a shorter retention")
    }

    /// A line change that has the cart locked when the delete comes: the delete waits,
    /// then sees the cart as the change left it (changed today) and keeps it.
    func testACartBeingChangedWhileTheDeleteRunsIsKept() throws {
        let carts = Carts(pool: pool)
        let id = try carts.create().id
        try age(id, days: 40)
        let changing = try MySQLConnection(configuration: pool.configuration)
        try changing.run("BEGIN")
        try changing.execute("UPDATE carts SET updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = 'open'", [.string(id)])
        let done = expectation(description: "the delete returns")
        let deleted = Mutex<UInt64?>(nil)
        Thread.detachNewThread { [pool] in
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            do { let n = try Carts(pool: pool).pruneAbandoned(days: 30); deleted.withLock { $0 = n } } catch { print("prune: \(error)") }
            done.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertNil(deleted.withLock { $0 }, "the delete waits for the cart's lock")
        try changing.run("COMMIT")
        wait(for: [done], timeout: 10)
        XCTAssertEqual(deleted.withLock { $0 }, 0)
        XCTAssertTrue(try exists(id))
    }

    /// A delete that the database picks as a deadlock's victim (the smaller
    /// transaction) runs again, rather than failing until the next pass 10 minutes on.
    func testADeleteChosenAsADeadlockVictimRunsAgain() throws {
        let carts = Carts(pool: pool)
        let older = try carts.create().id, newer = try carts.create().id
        try age(older, days: 41)
        try age(newer, days: 40)
        let holder = try MySQLConnection(configuration: pool.configuration)
        try holder.run("BEGIN")
        // Rows of its own make this transaction the heavier one, so the delete is the victim.
        let rows = (1...50).map { _ in "('\(Identifier.make())', 'open', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))" }
        try holder.run("INSERT INTO carts (id, status, created_at, updated_at) VALUES " + rows.joined(separator: ", "))
        _ = try holder.query("SELECT id FROM carts WHERE id = ? FOR UPDATE", [.string(newer)])
        let done = expectation(description: "the delete returns")
        let outcome = Mutex<Result<UInt64, any Error>?>(nil)
        Thread.detachNewThread { [pool] in
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            outcome.withLock { $0 = Result { try Carts(pool: pool).pruneAbandoned(days: 30) } }
            done.fulfill()
        }
        // Once the delete has the older cart it waits for the newer one; asking for
        // the older one then closes the cycle.
        let deadline = Date() + 5
        var deleteHoldsOlder = false
        while !deleteHoldsOlder, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            deleteHoldsOlder = try pool.withConnection {
                try $0.query("SELECT id FROM carts WHERE id = ? FOR UPDATE SKIP LOCKED", [.string(older)]).isEmpty
            }
        }
        // Without this the test could pass with no deadlock at all.
        XCTAssertTrue(deleteHoldsOlder, "the delete never locked the older cart")
        Thread.sleep(forTimeInterval: 0.1)
        _ = try holder.query("SELECT id FROM carts WHERE id = ? FOR UPDATE", [.string(older)])
        try holder.run("ROLLBACK")
        wait(for: [done], timeout: 10)
        XCTAssertEqual(try outcome.withLock { try $0?.get() }, 2)
        XCTAssertFalse(try exists(older))
        XCTAssertFalse(try exists(newer))
    }

    /// Not a scan: a delete locks every row it reads, so a scan would stall every cart
    /// change while it runs.
    func testTheDeleteReadsOnlyOldOpenCarts() throws {
        let rows = (1...2000).map { n in "('\(Identifier.make())', '\(n % 2 == 0 ? "open" : "ordered")', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))" }
        try pool.withConnection { c in
            _ = try c.run("INSERT INTO carts (id, status, created_at, updated_at) VALUES " + rows.joined(separator: ", "))
            _ = try c.run("ANALYZE TABLE carts")
        }
        let plan = try pool.withConnection { try $0.query("EXPLAIN " + Carts.pruneStatement, [.int(30)]) }
        XCTAssertEqual(plan.first?["key"].string, "ix_carts_status_updated", "\(plan)")
        XCTAssertEqual(plan.first?["type"].string, "range", "\(plan)")
    }
}
