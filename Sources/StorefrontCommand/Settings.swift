import Glibc
import HTTPServer
import Shop

/// A setting that could not be used: one line that names the variable, the
/// value and what is allowed.
struct SettingsError: Error, CustomStringConvertible {
    let description: String
}

/// Every setting, read from the environment (12-factor) and checked before
/// anything starts. The table below is also what `--help` prints.
struct Settings {
    var port = 8080
    var host = "0.0.0.0"
    var dbHost = "mysql"
    var dbPort = 3306
    var dbUser = "storefront"
    var dbPassword = ""
    var dbName = "storefront"
    var dbPoolSize = 10
    var dbTLS = "preferred"
    var dbTLSCA: String?
    var adminToken: String?
    var logLevel = "info"
    var logFormat = "json"
    var migrateOnStart = true
    var shutdownDelaySeconds = 0.0
    var shutdownTimeoutSeconds = 25.0
    var maxBodyBytes = 1024 * 1024
    var maxRequestMemoryBytes = 64 * 1024 * 1024
    var maxConnections = HTTPServer.Configuration().maxConnections
    var corsAllowedOrigins: [String] = []
    var cartRetentionDays = ShopAPI.Options().cartRetentionDays
    var eventLoops = HTTPServer.Configuration.usableCores

    struct Entry: Sendable {
        let name: String
        let defaultText: String
        let help: String
        let apply: @Sendable (inout Settings, String) throws -> Void
    }

    static let entries: [Entry] = [
        Entry(name: "PORT", defaultText: "8080", help: "TCP port the API listens on") { s, v in s.port = try port("PORT", v) },
        Entry(name: "HOST", defaultText: "0.0.0.0", help: "address to listen on (:: or [::] for IPv6 and IPv4)") { s, v in
            let host = withoutURLBrackets(v)
            guard isListenAddress(host) else { throw invalid("HOST", v, "an IP address such as 0.0.0.0, 127.0.0.1 or ::, or a host name") }
            s.host = host
        },
        Entry(name: "DB_HOST", defaultText: "mysql", help: "MySQL server host name or address (the port goes in DB_PORT)") { s, v in
            // A name (compose service names may hold "_"), an IPv4 address, or an IPv6 one
            // with or without brackets; "mysql:3306" is the usual slip, and would fail only
            // at the first connection, as an unknown host. No name is all digits and dots
            // (RFC 1123 §2.1), so 999.1.1.1 is refused too.
            let host = withoutURLBrackets(v)
            let isName = host.utf8.allSatisfy { b in
                (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || "-._".utf8.contains(b)
            }
            let isNumeric = host.utf8.allSatisfy { (0x30...0x39).contains($0) || $0 == UInt8(ascii: ".") }
            var address = in6_addr()
            var ipv4 = in_addr()
            let withoutZone = String(host.prefix { $0 != "%" })  // fe80::1%eth0
            guard !host.isEmpty, isName && (!isNumeric || inet_aton(host, &ipv4) != 0)
                || inet_pton(AF_INET6, withoutZone, &address) == 1 else {
                let parts = host.split(separator: ":", omittingEmptySubsequences: false)
                let port = parts.count == 2 && parts[1].allSatisfy(\.isNumber) ? "; the port goes in DB_PORT" : ""
                throw invalid("DB_HOST", v, "a host name or IP address such as mysql or 10.0.0.5\(port)")
            }
            s.dbHost = host
        },
        Entry(name: "DB_PORT", defaultText: "3306", help: "MySQL server port") { s, v in s.dbPort = try port("DB_PORT", v) },
        Entry(name: "DB_USER", defaultText: "storefront", help: "MySQL user") { s, v in
            // Empty, the client library would log in as the process's own user, or anonymously.
            let user = withoutLineEnd(Array(v.utf8))
            guard !user.isEmpty else { throw invalid("DB_USER", v, "the MySQL user name (not empty)") }
            s.dbUser = user
        },
        Entry(name: "DB_PASSWORD", defaultText: "(empty)", help: "MySQL password (prefer DB_PASSWORD_FILE)") { s, v in
            s.dbPassword = withoutLineEnd(Array(v.utf8))
        },
        Entry(name: "DB_PASSWORD_FILE", defaultText: "(unset)", help: "file holding the MySQL password, e.g. a mounted secret") { s, v in
            s.dbPassword = try secretFile("DB_PASSWORD_FILE", v)
        },
        Entry(name: "DB_NAME", defaultText: "storefront", help: "MySQL database (schema) name") { s, v in
            let name = withoutLineEnd(Array(v.utf8))
            guard !name.isEmpty, name.utf8.count <= 64 else { throw invalid("DB_NAME", v, "a database name of 1-64 characters") }
            s.dbName = name
        },
        Entry(name: "DB_POOL_SIZE", defaultText: "10", help: "database connections, which is also the number of worker threads (the readiness check keeps one more)") { s, v in
            s.dbPoolSize = try integer("DB_POOL_SIZE", v, 1...500)
        },
        Entry(name: "DB_TLS", defaultText: "preferred", help: "TLS to MySQL: disabled, preferred, required, verify-ca, verify-identity") { s, v in
            let v = v.lowercased()
            let allowed = ["disabled", "preferred", "required", "verify-ca", "verify-identity"]
            guard allowed.contains(v) else { throw invalid("DB_TLS", v, allowed.joined(separator: ", ")) }
            s.dbTLS = v
        },
        Entry(name: "DB_TLS_CA", defaultText: "(the system's CAs)", help: "PEM file of the CA that signed the MySQL server's certificate (for verify-ca, verify-identity)") { s, v in
            // Readable now rather than failing at the first connection (a CA bundle may be large: not read here).
            guard access(v, R_OK) == 0 else { throw SettingsError(description: "DB_TLS_CA=\(v) cannot be read: \(String(cString: strerror(errno)))") }
            // A mounted secret's directory instead of the file in it would fail every connection.
            var info = stat()
            guard stat(v, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else {
                throw SettingsError(description: "DB_TLS_CA=\(v) is a directory: name the PEM file in it")
            }
            s.dbTLSCA = v
        },
        Entry(name: "ADMIN_TOKEN", defaultText: "(unset: admin calls answer 401)", help: "bearer token for admin calls (prefer ADMIN_TOKEN_FILE)") { s, v in
            let token = withoutLineEnd(Array(v.utf8))
            s.adminToken = token.isEmpty ? nil : try adminToken("ADMIN_TOKEN", token)
        },
        Entry(name: "ADMIN_TOKEN_FILE", defaultText: "(unset)", help: "file holding the admin bearer token") { s, v in
            let token = try secretFile("ADMIN_TOKEN_FILE", v)
            guard !token.isEmpty else { throw SettingsError(description: "ADMIN_TOKEN_FILE=\(v) is empty; put the token in it, or unset the variable") }
            s.adminToken = try adminToken("ADMIN_TOKEN_FILE", token)
        },
        Entry(name: "LOG_LEVEL", defaultText: "info", help: "debug, info, warning or error; info and debug log a line per request") { s, v in
            let v = v.lowercased() == "warn" ? "warning" : v.lowercased()
            let allowed = ["debug", "info", "warning", "error"]
            guard allowed.contains(v) else { throw invalid("LOG_LEVEL", v, allowed.joined(separator: ", ")) }
            s.logLevel = v
        },
        Entry(name: "LOG_FORMAT", defaultText: "json", help: "json (one object per line) or text (for a terminal)") { s, v in
            let v = v.lowercased()
            guard v == "json" || v == "text" else { throw invalid("LOG_FORMAT", v, "json or text") }
            s.logFormat = v
        },
        Entry(name: "MIGRATE_ON_START", defaultText: "true", help: "apply database migrations when serve starts, retrying until the database answers") { s, v in
            s.migrateOnStart = try boolean("MIGRATE_ON_START", v)
        },
        Entry(name: "SHUTDOWN_DELAY_SECONDS", defaultText: "0", help: "after SIGTERM, keep accepting this long (readiness already fails); less than the timeout") { s, v in
            s.shutdownDelaySeconds = try seconds("SHUTDOWN_DELAY_SECONDS", v)
        },
        Entry(name: "SHUTDOWN_TIMEOUT_SECONDS", defaultText: "25", help: "after SIGTERM, exit within this long whatever is in flight") { s, v in
            s.shutdownTimeoutSeconds = try seconds("SHUTDOWN_TIMEOUT_SECONDS", v)
            guard s.shutdownTimeoutSeconds > 0 else { throw invalid("SHUTDOWN_TIMEOUT_SECONDS", v, "a number of seconds above 0") }
        },
        Entry(name: "MAX_BODY_BYTES", defaultText: "1048576", help: "largest request body accepted (larger gets 413)") { s, v in
            s.maxBodyBytes = try integer("MAX_BODY_BYTES", v, 1...(64 * 1024 * 1024))
        },
        Entry(name: "MAX_REQUEST_MEMORY_BYTES", defaultText: "67108864",
              help: "memory all connections together may hold for requests being read or run and answers not yet read (more gets 503)") { s, v in
            s.maxRequestMemoryBytes = try integer("MAX_REQUEST_MEMORY_BYTES", v, (1024 * 1024)...(16 * 1024 * 1024 * 1024))
        },
        Entry(name: "MAX_CONNECTIONS", defaultText: String(HTTPServer.Configuration().maxConnections),
              help: "client connections open at once; more are closed at once (each may hold up to about 100 KiB)") { s, v in
            s.maxConnections = try integer("MAX_CONNECTIONS", v, 1...1_000_000)
        },
        Entry(name: "CORS_ALLOWED_ORIGINS", defaultText: "(empty: no CORS headers)", help: "comma-separated origins allowed to call the API from a browser, like https://shop.example.com (no path)") { s, v in
            s.corsAllowedOrigins = try v.split(separator: ",").map { $0.trimmingOWS() }.filter { !$0.isEmpty }.map { origin in
                guard let allowed = origin == "*" ? origin : Settings.origin(origin) else {
                    throw invalid("CORS_ALLOWED_ORIGINS", v, "* or comma-separated origins as browsers send them, like https://shop.example.com "
                                  + "or http://localhost:3000 (no path, no default port); \(origin.debugDescription) is not one")
                }
                return allowed
            }
        },
        Entry(name: "CART_RETENTION_DAYS", defaultText: "30", help: "open carts nobody has changed for this many days are deleted, with their lines (0 keeps them)") { s, v in
            s.cartRetentionDays = try integer("CART_RETENTION_DAYS", v, 0...3650)
        },
        Entry(name: "EVENT_LOOPS", defaultText: "the cores it may use, within a container CPU limit", help: "I/O threads") { s, v in
            s.eventLoops = try integer("EVENT_LOOPS", v, 1...256)
        },
    ]

    /// Reads every setting from `environment`; throws on the first bad one.
    static func load(from environment: [String: String]) throws -> Settings {
        var settings = Settings()
        for entry in entries {
            guard let value = environment[entry.name] else { continue }
            try entry.apply(&settings, value)
        }
        if environment["DB_PASSWORD"] != nil && environment["DB_PASSWORD_FILE"] != nil {
            throw SettingsError(description: "DB_PASSWORD and DB_PASSWORD_FILE are both set: set only one")
        }
        if environment["ADMIN_TOKEN"] != nil && environment["ADMIN_TOKEN_FILE"] != nil {
            throw SettingsError(description: "ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set: set only one")
        }
        // The delay is spent inside the timeout; without time left over, in-flight requests would be cut off.
        if settings.shutdownDelaySeconds > 0 && settings.shutdownDelaySeconds >= settings.shutdownTimeoutSeconds {
            throw SettingsError(description: "SHUTDOWN_DELAY_SECONDS=\(environment["SHUTDOWN_DELAY_SECONDS"]!) must be less than "
                + "SHUTDOWN_TIMEOUT_SECONDS=\(environment["SHUTDOWN_TIMEOUT_SECONDS"] ?? "25 (the default)"): the delay is part of the time to exit, and in-flight requests need the rest")
        }
        // One request of the largest size (body and head) must fit, or it could never be served.
        let limits = HTTPParserLimits()
        let largestRequest = settings.maxBodyBytes + limits.maxHeaderBytes + limits.maxTargetBytes
        if settings.maxRequestMemoryBytes < largestRequest {
            throw SettingsError(description: "MAX_REQUEST_MEMORY_BYTES=\(settings.maxRequestMemoryBytes) must be at least \(largestRequest), "
                + "MAX_BODY_BYTES=\(settings.maxBodyBytes) plus a request head's 24 KiB, or the largest request allowed could never be served")
        }
        return settings
    }

    static var helpText: String {
        let width = entries.map(\.name.count).max()! + 2
        let lines = entries.map { entry in
            entry.name.padding(width) + entry.help + " [default: \(entry.defaultText)]"
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Value parsers

    private static func invalid(_ name: String, _ value: String, _ allowed: String) -> SettingsError {
        SettingsError(description: "\(name)=\(value.debugDescription) is not valid: expected \(allowed)")
    }

    private static func integer(_ name: String, _ value: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(value), range.contains(n) else {
            throw invalid(name, value, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    private static func port(_ name: String, _ value: String) throws -> Int {
        guard let n = Int(value), (1...65535).contains(n) else { throw invalid(name, value, "a TCP port from 1 to 65535") }
        return n
    }

    /// Decimal only: Double() alone would also take "1e3" and the hex float "0x10".
    private static func seconds(_ name: String, _ value: String) throws -> Double {
        guard value.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") }),
              let n = Double(value), n <= 3600
        else { throw invalid(name, value, "a number of seconds from 0 to 3600") }
        return n
    }

    private static func boolean(_ name: String, _ value: String) throws -> Bool {
        switch value.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw invalid(name, value, "true or false")
        }
    }

    /// The database as "host:port", an IPv6 address in brackets, for messages.
    var dbAddress: String { mysqlConfiguration.address }

    /// An IPv6 address as a URL writes it, in brackets; other hosts as they are.
    static func inURLForm(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    /// "[::1]" is how a URL writes an IPv6 address; the brackets are not part of it.
    static func withoutURLBrackets(_ v: String) -> String {
        guard v.hasPrefix("["), v.hasSuffix("]") else { return v }
        var address = in6_addr()
        let inner = String(v.dropFirst().dropLast())
        return inet_pton(AF_INET6, inner, &address) == 1 ? inner : v
    }

    /// An IPv4 or IPv6 literal, or something shaped like a host name (letters, digits,
    /// hyphens, dots; not all digits, so 999.1.1.1 is refused here, not at bind time).
    static func isListenAddress(_ v: String) -> Bool {
        var address = in6_addr()
        if inet_pton(AF_INET, v, &address) == 1 || inet_pton(AF_INET6, v, &address) == 1 { return true }
        let digits: ClosedRange<UInt8> = 0x30...0x39
        let labels = v.split(separator: ".", omittingEmptySubsequences: false)
        return v.utf8.count <= 253 && !v.utf8.allSatisfy { $0 == UInt8(ascii: ".") || digits.contains($0) }
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || digits.contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
            }
    }

    /// An origin spelled as browsers send it (RFC 6454 §6.2): http or https, "://", a host,
    /// and a port only when it is not the scheme's default; lower case, nothing after. Any
    /// other spelling, a trailing slash say, would never equal an `Origin` header, and CORS
    /// would fail without a word. Nil when it is not an origin.
    static func origin(_ v: String) -> String? {
        let text = v.lowercased()
        guard let scheme = ["https", "http"].first(where: { text.hasPrefix($0 + "://") }) else { return nil }
        let authority = text.dropFirst(scheme.count + 3)
        var host = authority
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            host = authority[..<colon]
            let port = authority[authority.index(after: colon)...]
            guard port.first != "0", port.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let n = Int(port), (1...65535).contains(n),
                  n != (scheme == "https" ? 443 : 80) else { return nil }
        }
        var address = in6_addr()
        if host.hasPrefix("[") && host.hasSuffix("]") {
            return inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &address) == 1 ? text : nil
        }
        return !host.contains(":") && isListenAddress(String(host)) ? text : nil
    }

    /// A secret from a file, without a trailing newline (as `echo` or `kubectl` leave one).
    private static func secretFile(_ name: String, _ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw SettingsError(description: "\(name)=\(path) cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 {
                // A directory opens but does not read (EISDIR): say that, not "empty".
                if ferror(file) != 0 { throw SettingsError(description: "\(name)=\(path) cannot be read: \(String(cString: strerror(errno)))") }
                break
            }
            bytes += buffer[0..<n]
            guard bytes.count <= 64 * 1024 else { throw SettingsError(description: "\(name)=\(path) is larger than 64 KiB; is it the right file?") }
        }
        return withoutLineEnd(bytes)
    }

    /// Without a trailing newline, which a secret made from a file often ends with, as
    /// an environment variable or as a mounted file.
    private static func withoutLineEnd(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.reversed().drop { $0 == 0x0A || $0 == 0x0D }.reversed(), as: UTF8.self)
    }

    /// A token an `Authorization` field can carry: no control characters, no white space
    /// at either end (a field value loses that). Any other would make every admin call 401.
    private static func adminToken(_ name: String, _ token: String) throws -> String {
        let bytes = token.utf8
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }), bytes.first != 0x20, bytes.last != 0x20 else {
            throw SettingsError(description: "\(name) holds a control character or begins or ends with a space, which no Authorization "
                                + "header can carry, so every admin call would get 401: use printable characters (openssl rand -hex 32)")
        }
        return token
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }

}
