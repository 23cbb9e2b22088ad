import Foundation
import XCTest
@testable import MySQL

final class MySQLConnectionTests: MySQLTestCase {
    func testTypesRoundTrip() throws {
        let c = try connect()
        try c.run("""
            CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT NULL, u BIGINT UNSIGNED NULL, s VARCHAR(255) NULL,
            txt LONGTEXT NULL, b VARBINARY(64) NULL, d DECIMAL(12,2) NULL, f DOUBLE NULL, dt DATETIME(6) NULL, day DATE NULL)
            """)
        let when = MySQLDateTime(year: 2026, month: 11, day: 26, hour: 15, minute: 4, second: 5, microsecond: 123_000)
        let insert = try c.execute(
            "INSERT INTO t (i, u, s, txt, b, d, f, dt, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [.int(Int64.min), .uint(UInt64.max), "héllo wörld 😀 中文", .string(String(repeating: "x", count: 3_000_000)),
             .bytes([0, 1, 2, 255, 0]), "1234567890.12", .double(0.1), .date(when), .date(MySQLDateTime(year: 2024, month: 2, day: 29))])
        XCTAssertEqual(insert.affectedRows, 1)
        XCTAssertEqual(insert.lastInsertID, 1)
        try c.execute("INSERT INTO t (i) VALUES (?)", [.null])

        let rows = try c.query("SELECT i, u, s, txt, b, d, f, dt, day FROM t ORDER BY id")
        XCTAssertEqual(rows.count, 2)
        let r = rows[0]
        XCTAssertEqual(r["i"], .int(Int64.min))
        XCTAssertEqual(r["u"], .uint(UInt64.max))
        XCTAssertEqual(r["s"].string, "héllo wörld 😀 中文")
        XCTAssertEqual(r["txt"].string?.count, 3_000_000)
        XCTAssertEqual(r["b"], .bytes([0, 1, 2, 255, 0]))
        XCTAssertEqual(r["d"], .string("1234567890.12"))
        XCTAssertEqual(r["f"], .double(0.1))
        XCTAssertEqual(r["dt"].date, when)
        XCTAssertEqual(r["dt"].date?.rfc3339, "2026-11-26T15:04:05.123Z")
        XCTAssertEqual(r["day"].date?.rfc3339, "2024-02-29T00:00:00Z")
        for column in rows[1].values.indices {
            XCTAssertEqual(rows[1][column], .null, "column \(column)")
        }
    }

    func testBuffersFollowTheDataNotTheColumnMaximum() throws {
        let c = try connect()
        try c.run("CREATE TABLE t (id INT PRIMARY KEY, txt LONGTEXT)")
        try c.execute("INSERT INTO t VALUES (1, 'short'), (2, ?)", [.string(String(repeating: "é", count: 100_000))])
        // The same cached statement, first with a short and then with a long result.
        XCTAssertEqual(try c.query("SELECT txt FROM t WHERE id = ?", [1]).first?["txt"].string, "short")
        XCTAssertEqual(try c.query("SELECT txt FROM t WHERE id = ?", [2]).first?["txt"].string?.count, 100_000)
    }

    func testAnUpdateCountsTheRowsItMatchedEvenWhenNothingChanged() throws {
        let c = try connect()
        try c.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
        try c.execute("INSERT INTO t VALUES (1, 5)")
        // A touch that writes the value already stored is still a match: callers read 0 as "no such row".
        XCTAssertEqual(try c.execute("UPDATE t SET v = ? WHERE id = ?", [5, 1]).affectedRows, 1)
        XCTAssertEqual(try c.execute("UPDATE t SET v = ? WHERE id = ?", [5, 2]).affectedRows, 0)
    }

    func testZeroDatesAreRejected() throws {
        let c = try connect()
        try c.run("CREATE TABLE t (d DATE NOT NULL, dt DATETIME NOT NULL)")
        XCTAssertThrowsError(try c.execute("INSERT INTO t VALUES ('0000-00-00', '2020-01-01 00:00:00')"))
        XCTAssertThrowsError(try c.execute("INSERT INTO t VALUES ('2020-01-01', ?)", ["0000-00-00 00:00:00"]))
        XCTAssertEqual(try c.query("SELECT COUNT(*) FROM t").first?[0].int, 0)
    }

    func testHostileInputIsStoredVerbatim() throws {
        let c = try connect()
        try c.run("CREATE TABLE victims (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)")
        let hostile = [
            "'; DROP TABLE victims; --", "\" OR 1=1 --", "\\", "\\'", "a\u{0}b", "%_\\%", "Robert'); DROP TABLE Students;--",
            "\u{1F4A9}\u{200B}\u{FEFF}", "line\nbreak\r\ttab", String(repeating: "'", count: 1000),
        ]
        for value in hostile { try c.execute("INSERT INTO victims (v) VALUES (?)", [.string(value)]) }
        let stored = try c.query("SELECT v FROM victims ORDER BY id").map { $0["v"].string }
        XCTAssertEqual(stored, hostile)
        XCTAssertEqual(try c.query("SELECT COUNT(*) FROM victims WHERE v = ?", ["'; DROP TABLE victims; --"]).first?[0].int, 1)
    }

    func testStrictModeRefusesOutOfRangeValues() throws {
        let c = try connect()
        try c.run("CREATE TABLE t (n INT UNSIGNED NOT NULL, CHECK (n <= 100))")
        XCTAssertThrowsError(try c.execute("INSERT INTO t VALUES (?)", [.int(-1)]))
        XCTAssertThrowsError(try c.execute("INSERT INTO t VALUES (?)", [.int(101)]))
    }

    func testErrorsCarryNumberAndState() throws {
        let c = try connect()
        do {
            try c.execute("SELECT no_such_column FROM (SELECT 1 AS a) t WHERE a = ?", [1])
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.number, 1054)
            XCTAssertEqual(error.sqlState, "42S22")
            XCTAssertEqual(error.kind, .other)
            XCTAssertFalse(c.isBroken)
        }
    }

    /// A lock-wait timeout (or deadlock) arrives inside the result set, after the
    /// column definitions; the cached statement must run again at once afterwards,
    /// not wait for the rest of a result that never comes.
    func testAStatementThatFailsInsideItsResultSetRunsAgain() throws {
        let holder = try connect()
        try holder.run("CREATE TABLE locked (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
        try holder.run("INSERT INTO locked VALUES (1, 10)")
        var quick = configuration!
        quick.readTimeoutSeconds = 5
        let waiter = try MySQLConnection(configuration: quick)
        try waiter.run("SET SESSION innodb_lock_wait_timeout = 1")
        try holder.begin()
        _ = try holder.query("SELECT n FROM locked WHERE id = ? FOR UPDATE", [1])
        try waiter.begin()
        // A range, not a primary-key lookup: a const row is read (and waited for)
        // before the column definitions go out; this one is read after.
        XCTAssertThrowsError(try waiter.query("SELECT n FROM locked WHERE id >= ? FOR UPDATE", [1])) {
            XCTAssertEqual(($0 as? MySQLError)?.number, 1205, "\($0)")
        }
        waiter.rollback()
        try holder.commit()
        let start = MySQLConnection.monotonicNow()
        try waiter.begin()
        XCTAssertEqual(try waiter.query("SELECT n FROM locked WHERE id >= ? FOR UPDATE", [1]).first?[0].int, 10)
        try waiter.commit()
        XCTAssertLessThan(MySQLConnection.monotonicNow() - start, 2)
        XCTAssertFalse(waiter.isBroken)
    }

    /// The server caps prepared statements across all sessions, so each connection
    /// keeps only its most recently used ones and closes the rest on the server.
    func testTheStatementCacheKeepsTheMostRecentlyUsedAndClosesTheRest() throws {
        let observer = try connect()
        func serverCount() throws -> Int { Int(try observer.run("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")[0][1]!)! }
        let before = try serverCount()
        var c: MySQLConnection? = try connect()
        for i in 0..<100 {
            XCTAssertEqual(try c!.query("SELECT ? + \(i)", [1]).first?[0].int, 1 + i)
            _ = try c!.query("SELECT ? + 0", [1])  // used all along: never the least recent
        }
        XCTAssertEqual(c!.preparedStatementCount, MySQLConnection.statementCacheSize)
        XCTAssertEqual(try serverCount() - before, MySQLConnection.statementCacheSize)
        c = nil  // closing needs no answer from the server, so give it a moment to act
        let deadline = MySQLConnection.monotonicNow() + 5
        while try serverCount() != before, MySQLConnection.monotonicNow() < deadline { usleep(20_000) }
        XCTAssertEqual(try serverCount(), before, "closing the connection frees them all")
    }

    /// What the server refuses for now (503 to a client) is told apart from what is wrong with the statement (500).
    func testRefusalsForNowAreUnavailable() throws {
        let c = try connect()
        XCTAssertThrowsError(try c.execute("SELECT * FROM no_such_table WHERE id = ?", [1])) { error in
            XCTAssertEqual((error as? MySQLError)?.number, 1146)
            XCTAssertEqual((error as? MySQLError)?.kind, .unavailable, "a schema not migrated yet")
        }
        XCTAssertFalse(c.isBroken)
        var wrongPassword = configuration!
        wrongPassword.password += "-rotated"
        XCTAssertThrowsError(try MySQLConnection(configuration: wrongPassword)) { error in
            XCTAssertEqual((error as? MySQLError)?.number, 1045)
            XCTAssertEqual((error as? MySQLError)?.kind, .unavailable)
        }
        // A table that cannot grow, as every InnoDB table on a full disk (error 1114, measured
        // on a full tmpfs); a MEMORY table at its size limit gives the same error without one.
        try c.execute("SET SESSION max_heap_table_size = 16384")
        try c.execute("CREATE TEMPORARY TABLE full_table (filler CHAR(255)) ENGINE=MEMORY")
        var full: MySQLError?
        for _ in 0..<10_000 where full == nil {
            do { try c.execute("INSERT INTO full_table VALUES (?)", ["x"]) } catch { full = error }
        }
        XCTAssertEqual(full?.number, 1114, "\(String(describing: full))")
        XCTAssertEqual(full?.kind, .unavailable)
        XCTAssertFalse(c.isBroken)
        for number: UInt32 in [1040, 1203, 1226, 1044, 1049, 1317, 1969, 3024, 1021, 1037, 1041, 1135] {
            XCTAssertEqual(MySQLError(number: number, sqlState: "HY000", message: "").kind, .unavailable, "\(number)")
        }
        for number: UInt32 in [1290, 1792, 1836] {
            XCTAssertEqual(MySQLError(number: number, sqlState: "HY000", message: "").kind, .connectionLost, "read-only \(number)")
        }
    }

    /// The server itself stops a time-limited statement, and the connection stays usable.
    func testATimeLimitedStatementIsStoppedByTheServer() throws {
        let c = try connect()
        let started = MySQLConnection.monotonicNow()
        XCTAssertThrowsError(try c.query(c.timeLimited("SELECT SLEEP(?) AS slept", seconds: 1), [5])) { error in
            XCTAssertEqual((error as? MySQLError)?.isTimeLimit, true, "\(error)")
            XCTAssertEqual((error as? MySQLError)?.kind, .unavailable)
        }
        XCTAssertLessThan(MySQLConnection.monotonicNow() - started, 4, "stopped at the limit, not after the statement")
        XCTAssertFalse(c.isBroken)
        XCTAssertEqual(try c.query(c.timeLimited("SELECT ? + 1 AS n", seconds: 1), [1]).first?[0].int, 2)
    }

    /// And says where it tried: Connector/C's own message names no port.
    func testCannotConnectIsConnectionLostAndNamesTheAddress() throws {
        var bad = configuration!
        for host in ["127.0.0.1", "::1"] {
            bad.host = host
            bad.port = 1
            XCTAssertThrowsError(try MySQLConnection(configuration: bad)) { error in
                XCTAssertEqual((error as? MySQLError)?.kind, .connectionLost)
                XCTAssertTrue("\(error)".contains("nothing accepted a connection at \(host == "::1" ? "[::1]" : host):1"), "\(error)")
            }
        }
    }

    /// Both client libraries take the host `localhost` to mean a Unix socket at a path of
    /// their own and ignore the port; a DB_HOST of localhost (a port-forward, a published
    /// container port) means TCP at DB_PORT, as any other name does.
    func testLocalhostIsReachedOverTCPAtThePort() throws {
        guard ["127.0.0.1", "::1", "localhost"].contains(configuration.host) else {
            throw XCTSkip("the test database is not on this machine")
        }
        var c = configuration!
        c.host = "localhost"
        XCTAssertEqual(try MySQLConnection(configuration: c).run("SELECT @@port").first?[0], String(c.port))
    }

    /// A process out of descriptors cannot open a connection: that passes (503), it is no fault in the request (500).
    func testOutOfDescriptorsIsUnavailable() throws {
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let saved = limit
        limit.rlim_cur = 0  // no new descriptor at all; the open ones stay
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        var restored = saved
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restored) }
        XCTAssertThrowsError(try connect()) { error in
            XCTAssertEqual((error as? MySQLError)?.number, 2004, "Connector/C's \"Can't create TCP/IP socket\": \(error)")
            XCTAssertEqual((error as? MySQLError)?.kind, .unavailable)
        }
    }

    func testPreferredAndRequiredUseTLSWhenTheServerOffersItAndDisabledDoesNot() throws {
        guard try connect().run("SHOW VARIABLES LIKE 'have_ssl'").first?[1] == "YES" else {
            throw XCTSkip("this server offers no TLS (scripts/test starts one that does)")
        }
        for (mode, expectTLS) in [(MySQLConfiguration.TLS.preferred, true), (.required, true), (.disabled, false)] {
            var c = configuration!
            c.tls = mode
            XCTAssertEqual(try MySQLConnection(configuration: c).tlsCipher != nil, expectTLS, "\(mode)")
        }
    }

    /// Without DB_TLS_CA the verify modes trust the system's CAs, as OpenSSL finds them
    /// (SSL_CERT_FILE first). Connector/C does that by itself; Oracle's library verifies only
    /// against a CA it is given ("CA certificate is required if ssl-mode is VERIFY_CA ..."),
    /// so the shim gives it the system's.
    func testVerifyIdentityTrustsTheGivenCAOrElseTheSystemsAndRefusesAnother() throws {
        guard let ca = ProcessInfo.processInfo.environment["DB_TLS_CERT"] else {
            throw XCTSkip("DB_TLS_CERT is not set (scripts/test sets it to the throwaway server's certificate)")
        }
        var c = configuration!
        c.tls = .verifyIdentity
        c.tlsCAPath = ca
        XCTAssertNotNil(try MySQLConnection(configuration: c).tlsCipher)
        c.tlsCAPath = nil
        setenv("SSL_CERT_FILE", ca, 1)
        XCTAssertNotNil(try MySQLConnection(configuration: c).tlsCipher)
        unsetenv("SSL_CERT_FILE")
        c.tlsCAPath = "/etc/ssl/certs/ca-certificates.crt"  // public CAs (Debian's ca-certificates), none of which signed it
        guard FileManager.default.fileExists(atPath: c.tlsCAPath!) else { throw XCTSkip("no \(c.tlsCAPath!) to verify against") }
        XCTAssertThrowsError(try MySQLConnection(configuration: c)) { XCTAssertEqual(($0 as? MySQLError)?.kind, .connectionLost, "\($0)") }
    }

    func testRequiredRefusesAServerThatOffersNoTLS() throws {
        let server = try PlaintextMySQLServer()
        var c = MySQLConfiguration(host: "127.0.0.1", port: server.port, user: "u", password: "p", database: "d")
        c.tls = .required
        XCTAssertThrowsError(try MySQLConnection(configuration: c)) { error in
            // Connector/C connects and this module refuses ("TLS is required ..."); Oracle's
            // libmysqlclient refuses by itself ("SSL is required ..."). Both as CR_SSL_CONNECTION_ERROR.
            XCTAssertEqual((error as? MySQLError)?.number, MySQLError.tlsMissingNumber, "\(error)")
            XCTAssertTrue("\(error)".contains("is required"), "\(error)")
            XCTAssertEqual((error as? MySQLError)?.kind, .connectionLost)
        }
    }

    func testPreferredFallsBackToPlaintextWhenTheServerOffersNoTLS() throws {
        let server = try PlaintextMySQLServer()
        var c = MySQLConfiguration(host: "127.0.0.1", port: server.port, user: "u", password: "p", database: "d")
        c.tls = .preferred
        XCTAssertNil(try MySQLConnection(configuration: c).tlsCipher)
    }

    /// The session set-up runs once the object is whole, so a failure there reaches
    /// deinit: the handle must be closed once (twice crashed the server mid-outage).
    func testAConnectionLostDuringSessionSetUpThrowsAndClosesOnce() throws {
        let server = try PlaintextMySQLServer(hangUpAfterLogin: true)
        var c = MySQLConfiguration(host: "127.0.0.1", port: server.port, user: "u", password: "p", database: "d")
        c.tls = .disabled
        XCTAssertThrowsError(try MySQLConnection(configuration: c)) { XCTAssertEqual(($0 as? MySQLError)?.kind, .connectionLost, "\($0)") }
    }

    func testNamedLockIsExclusiveFreedAfterTheBodyAndWhenTheSessionDies() throws {
        let (a, b) = (try connect(), try connect())
        let name = String(repeating: "long lock name ", count: 10)  // over MySQL's 64 characters: hashed
        XCTAssertEqual(try a.withNamedLock(name, timeoutSeconds: 0) {
            XCTAssertNil(try b.withNamedLock(name, timeoutSeconds: 0) { "b got a held lock" })
            return "a"
        }, "a")
        XCTAssertEqual(try b.withNamedLock(name, timeoutSeconds: 0) { "b" }, "b", "released after the body")

        struct Boom: Error {}
        XCTAssertThrowsError(try a.withNamedLock(name, timeoutSeconds: 0) { throw Boom() })
        XCTAssertEqual(try b.withNamedLock(name, timeoutSeconds: 0) { "b" }, "b", "released after a throwing body")

        // A session that ends while holding the lock (a crashed process) frees it.
        var c: MySQLConnection? = try connect()
        _ = try c!.query("SELECT GET_LOCK(SHA2(?, 224), 0)", [.string(name)])
        XCTAssertNil(try b.withNamedLock(name, timeoutSeconds: 0) { "b" })
        c = nil
        XCTAssertEqual(try b.withNamedLock(name, timeoutSeconds: 2) { "b" }, "b")
    }

    /// Connector/C closes a lost connection's socket at once, and the next socket
    /// opened takes its number. A pool suspended before the owner released that
    /// connection interrupts it: that must not shut down whichever socket has the number now.
    func testInterruptingALostConnectionLeavesTheSocketThatReusedItsNumberAlone() throws {
        let victim = try connect()
        try connect().run("KILL CONNECTION \(victim.threadID)")
        usleep(100_000)
        XCTAssertThrowsError(try victim.query("SELECT 1")) { XCTAssertEqual(($0 as? MySQLError)?.kind, .connectionLost, "\($0)") }
        // Descriptors are handed out lowest first, so one of these now has the closed socket's number.
        var pairs: [[Int32]] = []
        defer { for pair in pairs { close(pair[0]); close(pair[1]) } }
        for _ in 0..<32 {
            var pair: [Int32] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
            pairs.append(pair)
        }
        victim.interrupt()
        var byte: UInt8 = 1
        for pair in pairs {
            for end in pair {
                XCTAssertEqual(send(end, &byte, 1, Int32(MSG_NOSIGNAL)), 1, "descriptor \(end) was shut down: errno \(errno)")
            }
        }
    }

    func testSessionIsUTCAndStrict() throws {
        let c = try connect()
        let row = try c.run("SELECT @@session.time_zone, @@session.sql_mode, @@character_set_client")[0]
        XCTAssertEqual(row[0], "+00:00")
        XCTAssertTrue(row[1]!.contains("STRICT_ALL_TABLES"))
        XCTAssertEqual(row[2], "utf8mb4")
    }
}
