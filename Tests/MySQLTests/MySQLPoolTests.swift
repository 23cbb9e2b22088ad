import Foundation
import Synchronization
import XCTest
@testable import MySQL

final class MySQLPoolTests: MySQLTestCase {
    func testExhaustionGivesTheTimeoutErrorNotAHang() throws {
        var options = MySQLPool.Options()
        options.size = 2
        options.acquireTimeout = 0.3
        let pool = MySQLPool(configuration: configuration, options: options)
        let a = try pool.acquire()
        let b = try pool.acquire()
        let start = Date()
        XCTAssertThrowsError(try pool.acquire()) { error in
            XCTAssertEqual((error as? MySQLError)?.kind, .poolExhausted)
        }
        let waited = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(waited, 0.25)
        XCTAssertLessThan(waited, 2)
        pool.release(a)
        XCTAssertNoThrow(try pool.release(pool.acquire()))
        pool.release(b)
        XCTAssertEqual(pool.stats.open, 2)
        XCTAssertEqual(pool.stats.inUse, 0)
    }

    /// A database that stops answering: suspending the pool cuts off the statement
    /// waiting on it at once (not after the 30 s read timeout), refuses callers at
    /// once with the reason, and drops the idle connections; resuming serves again.
    func testSuspendCutsOffWhatWaitsRefusesAtOnceAndResumeServesAgain() throws {
        var options = MySQLPool.Options()
        options.size = 3
        let pool = MySQLPool(configuration: configuration, options: options)
        let warm = try pool.acquire()
        let (x, y) = (try pool.acquire(), try pool.acquire())
        pool.release(x)
        pool.release(y)  // two idle: the statement below takes one
        let done = expectation(description: "the waiting statement returns")
        let outcome = Mutex<(seconds: Double, error: MySQLError?)?>(nil)
        Thread.detachNewThread {
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            let start = Date()
            do { try pool.withConnection { _ = try $0.run("DO SLEEP(10)") } } catch { outcome.withLock { $0 = (0, error as? MySQLError) } }
            outcome.withLock { $0?.seconds = Date().timeIntervalSince(start) }
            done.fulfill()
        }
        let deadline = Date() + 5
        while pool.stats.inUse < 2, Date() < deadline { usleep(10_000) }
        usleep(300_000)  // inside its read by now
        XCTAssertEqual(pool.stats.idle, 1)
        pool.suspend(because: "the database has not answered (test)")
        wait(for: [done], timeout: 3)
        let (seconds, error) = try XCTUnwrap(outcome.withLock { $0 })
        XCTAssertEqual(error?.kind, .connectionLost, "\(String(describing: error))")
        XCTAssertLessThan(seconds, 2)
        XCTAssertEqual(pool.stats.idle, 0, "idle connections are dropped: after such a silence they may lead nowhere")
        let start = Date()
        XCTAssertThrowsError(try pool.acquire()) { error in
            XCTAssertEqual((error as? MySQLError)?.kind, .connectionLost)
            XCTAssertEqual("\(error)", "the database has not answered (test)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.1)
        // The connection held when it came is cut off too (its owner finds out on its next statement).
        XCTAssertThrowsError(try warm.query("SELECT 1"))
        pool.release(warm)
        pool.resume()
        XCTAssertEqual(try pool.withConnection { try $0.query("SELECT 1").first?[0].int }, 1)
        XCTAssertEqual(pool.stats.open, 1)
    }

    func testAnIdleConnectionTheServerClosedIsReplacedBeforeUse() throws {
        // As after a restart, a failover or a KILL: the next request must not be the one to find out.
        var options = MySQLPool.Options()
        options.size = 1
        let pool = MySQLPool(configuration: configuration, options: options)
        let victimID = try pool.withConnection { $0.threadID }
        try connect().run("KILL CONNECTION \(victimID)")
        usleep(100_000)
        let (id, one) = try pool.withConnection { ($0.threadID, try $0.query("SELECT 1").first?[0].int) }
        XCTAssertEqual(one, 1)
        XCTAssertNotEqual(id, victimID)
    }

    func testAConnectionLostInUseIsDroppedNotPooled() throws {
        var options = MySQLPool.Options()
        options.size = 1
        let pool = MySQLPool(configuration: configuration, options: options)
        let victim = try pool.acquire()
        try connect().run("KILL CONNECTION \(victim.threadID)")
        usleep(100_000)
        XCTAssertThrowsError(try victim.query("SELECT 1")) { error in
            XCTAssertEqual((error as? MySQLError)?.kind, .connectionLost, "\(error)")
        }
        pool.release(victim)
        XCTAssertEqual(pool.stats.open, 0)
        XCTAssertNotEqual(try pool.withConnection { $0.threadID }, victim.threadID)
    }

    /// A read whose connection dies under it (killed here; a failover does the same) runs
    /// once more on a new connection, not on an idle one that the same event may have
    /// dropped too; a write, whose fate is unknown, and any other error are not run
    /// again, and neither is a read whose second connection dies too.
    func testAReadWhoseConnectionDiesRunsOnceMoreAndNothingElseDoes() throws {
        var options = MySQLPool.Options()
        options.size = 2
        let pool = MySQLPool(configuration: configuration, options: options)
        let killer = try connect()
        var sessions: [UInt] = []
        func run(readOnly: Bool, transaction: Bool = false, kills: Int = 1, statement: String = "SELECT 1") -> (value: Int?, runs: Int, error: MySQLError?) {
            var runs = 0
            sessions = []
            let body = { (c: MySQLConnection) throws -> Int? in
                runs += 1
                sessions.append(c.threadID)
                if runs <= kills { try killer.run("KILL CONNECTION \(c.threadID)") }
                return try c.query(statement).first?[0].int
            }
            do {
                let value = transaction ? try pool.withTransaction(readOnly: readOnly, body) : try pool.withConnection(readOnly: readOnly, body)
                return (value, runs, nil)
            } catch {
                return (nil, runs, error as? MySQLError)
            }
        }
        let (a, b) = (try pool.acquire(), try pool.acquire())
        let idle = [a.threadID, b.threadID]
        pool.release(a)
        pool.release(b)
        var outcome = run(readOnly: true)
        XCTAssertEqual(outcome.value, 1, "\(String(describing: outcome.error))")
        XCTAssertEqual(outcome.runs, 2)
        XCTAssertTrue(idle.contains(sessions[0]) && !idle.contains(sessions[1]), "\(sessions) after \(idle)")
        XCTAssertLessThanOrEqual(pool.stats.open, 2, "the pool keeps its size")
        outcome = run(readOnly: true, transaction: true)
        XCTAssertEqual(outcome.value, 1, "\(String(describing: outcome.error))")
        XCTAssertEqual(outcome.runs, 2)
        for transaction in [false, true] {
            outcome = run(readOnly: false, transaction: transaction)
            XCTAssertEqual(outcome.error?.kind, .connectionLost, "\(String(describing: outcome.error))")
            XCTAssertEqual(outcome.runs, 1, "a write is not run again")
        }
        outcome = run(readOnly: true, kills: 2)
        XCTAssertEqual(outcome.error?.kind, .connectionLost)
        XCTAssertEqual(outcome.runs, 2, "once more, not until it works")
        outcome = run(readOnly: true, kills: 0, statement: "SELECT nonsense FROM nowhere")
        XCTAssertNotNil(outcome.error)
        XCTAssertEqual(outcome.runs, 1, "only a lost connection is worth a second run")
        XCTAssertEqual(pool.readRetries, 3, "counted for /metrics")
        XCTAssertEqual(pool.stats.inUse, 0)
        XCTAssertEqual(try pool.withConnection { try $0.query("SELECT 1").first?[0].int }, 1)
    }

    func testIdleConnectionIsPingedAndReplacedTransparently() throws {
        var options = MySQLPool.Options()
        options.size = 1
        options.pingAfterIdle = 0  // always ping before handing out
        let pool = MySQLPool(configuration: configuration, options: options)
        let victimID = try pool.withConnection { $0.threadID }
        try connect().run("KILL CONNECTION \(victimID)")
        usleep(100_000)
        XCTAssertEqual(try pool.withConnection { try $0.query("SELECT 1").first?[0].int }, 1)
    }

    func testTransactionCommitsAndRollsBack() throws {
        let pool = MySQLPool(configuration: configuration)
        try pool.withConnection { try $0.run("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB") }
        try pool.withTransaction { try $0.execute("INSERT INTO t VALUES (?)", [1]) }
        struct Boom: Error {}
        XCTAssertThrowsError(try pool.withTransaction { c in
            try c.execute("INSERT INTO t VALUES (?)", [2])
            throw Boom()
        })
        XCTAssertEqual(try pool.withConnection { try $0.query("SELECT id FROM t").map { $0[0].int } }, [1])
    }

    func testDeadlockIsRetriedUntilBothCommit() throws {
        var options = MySQLPool.Options()
        options.size = 4
        let pool = MySQLPool(configuration: configuration, options: options)
        try pool.withConnection { c in
            try c.run("CREATE TABLE accounts (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
            try c.run("INSERT INTO accounts VALUES (1, 0), (2, 0)")
        }
        // Two transactions lock the same rows in opposite order; both hold their
        // first lock before asking for the second, so InnoDB must pick a victim.
        let barrier = DispatchGroup()
        let locked = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let errors = LockedBox<[Error]>([])
        for (side, (first, second)) in [(1, 2), (2, 1)].enumerated() {
            barrier.enter()
            Thread.detachNewThread {
                MySQLLibrary.threadStart()
                defer { MySQLLibrary.threadEnd(); barrier.leave() }
                var attempt = 0
                do {
                    try pool.withTransaction { c in
                        attempt += 1
                        try c.execute("UPDATE accounts SET n = n + 1 WHERE id = ?", [.int(Int64(first))])
                        if attempt == 1 {
                            locked[side].signal()
                            _ = locked[1 - side].wait(timeout: .now() + 5)
                        }
                        try c.execute("UPDATE accounts SET n = n + 1 WHERE id = ?", [.int(Int64(second))])
                    }
                } catch {
                    errors.mutate { $0.append(error) }
                }
            }
        }
        XCTAssertEqual(barrier.wait(timeout: .now() + 60), .success)
        XCTAssertTrue(errors.value.isEmpty, "\(errors.value)")
        XCTAssertGreaterThanOrEqual(pool.transactionRetries, 1, "the deadlock should have been retried")
        let totals = try pool.withConnection { try $0.query("SELECT n FROM accounts ORDER BY id").map { $0[0].int } }
        XCTAssertEqual(totals, [2, 2], "both transactions committed exactly once")
    }
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
