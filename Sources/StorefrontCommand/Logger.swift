import Glibc
import HTTPServer
import JSON
import Synchronization

/// Log lines on stdout: one JSON object per line (for collectors) or plain
/// text (for a terminal). Secrets never reach it: nothing logs settings or
/// request headers other than the request id.
final class Logger: Sendable {
    enum Level: Int, Comparable, Sendable {
        case debug, info, warning, error
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        init(_ name: String) {
            switch name {
            case "debug": self = .debug
            case "warning": self = .warning
            case "error": self = .error
            default: self = .info
            }
        }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    let minimum: Level
    let json: Bool
    private let lock = Mutex(())

    init(level: String, format: String) {
        minimum = Level(level)
        json = format == "json"
    }

    func enabled(_ level: Level) -> Bool { level >= minimum }

    func log(_ level: Level, _ message: String, _ fields: [(String, JSONValue)] = []) {
        guard level >= minimum else { return }
        var line: [UInt8]
        if json {
            let object: JSONValue = .object([("time", .string(Logger.timestamp())), ("level", .string(level.name)), ("message", .string(message))] + fields)
            line = object.serialized()
        } else {
            var text = "\(Logger.timestamp()) \(level.name.uppercased().padding(7))\(message)"
            for (name, value) in fields {
                if case .string(let s) = value { text += " \(name)=\(s)" } else { text += " \(name)=\(value.text)" }
            }
            line = Array(text.utf8)
        }
        line.append(0x0A)
        lock.withLock { _ in
            var written = 0
            while written < line.count {
                let n = line.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + written, line.count - written) }
                if n <= 0 { if errno == EINTR { continue }; break }
                written += n
            }
        }
    }

    /// The server's own messages, mapped onto these levels.
    var serverLogger: @Sendable (HTTPServer.LogLevel, String) -> Void {
        { [self] level, message in
            switch level {
            case .debug: log(.debug, message)
            case .info: log(.info, message)
            case .warning: log(.warning, message)
            case .error: log(.error, message)
            }
        }
    }

    func access(_ exchange: HTTPServer.Exchange) {
        guard enabled(.info) else { return }
        log(.info, "request", [
            ("method", .string(exchange.method)), ("route", .string(exchange.route)), ("path", .string(exchange.target)),
            ("status", .int(exchange.status)), ("durationMs", .double((exchange.durationSeconds * 1e5).rounded() / 100)),
            ("bytes", .int(exchange.bodyBytes)), ("remote", .string(exchange.remoteAddress)), ("requestId", .string(exchange.requestID)),
        ])
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var t = tm()
        gmtime_r(&seconds, &t)
        func pad(_ n: Int32, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(t.tm_year + 1900)-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
