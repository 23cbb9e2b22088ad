import Foundation
import XCTest
@testable import MySQL

/// Base for tests against the real server that scripts/test starts (DB_* in
/// the environment). Each test class gets a scratch database of its own.
class MySQLTestCase: XCTestCase {

    var configuration: MySQLConfiguration!
    var database = ""

    override func setUpWithError() throws {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["DB_HOST"] else {
            if env["STOREFRONT_REQUIRE_DB"] == "1" { XCTFail("DB_HOST is not set but the database tests are required") }
            throw XCTSkip("no database: set DB_HOST, DB_PORT, DB_USER, DB_PASSWORD (scripts/test does)")
        }
        var c = MySQLConfiguration(host: host, port: Int(env["DB_PORT"] ?? "3306")!, user: env["DB_USER"] ?? "storefront",
                                   password: env["DB_PASSWORD"] ?? "", database: env["DB_NAME"] ?? "storefront")
        c.tls = .disabled
        database = "storefront_test_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try MySQLConnection(configuration: c)
        try admin.run("CREATE DATABASE \(database) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        c.database = database
        configuration = c
    }

    override func tearDownWithError() throws {
        guard configuration != nil else { return }
        let admin = try MySQLConnection(configuration: configuration)
        try admin.run("DROP DATABASE IF EXISTS \(database)")
    }

    func connect() throws -> MySQLConnection { try MySQLConnection(configuration: configuration) }
}
