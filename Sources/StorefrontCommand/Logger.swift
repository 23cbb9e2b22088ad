import Dispatch
import Glibc
import HTTPServer
import JSON
import Synchronization

/// Log lines on stdout: one JSON object per line (for collectors) or plain
/// text (for a terminal). Secrets never reach it: nothing logs settings or
/// request headers other than the request id.
///
/// Lines are handed to a writer thread through a bounded buffer, so a slow
/// reader of stdout never stalls the event loops; past the bound, lines are
/// dropped and the drop is reported once the writer catches up.
final class Logger: Sendable {
    static let maxBufferedBytes = 8 * 1024 * 1024
    static let linger: useconds_t = 1000

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
    /// Lines waiting for the writer; `queued` counts lines taken in, `written` those out.
    private let pending = Mutex<(bytes: [UInt8], dropped: Int, queued: Int, written: Int)>(([], 0, 0, 0))
    private let wake = DispatchSemaphore(value: 0)

    init(level: String, format: String) {
        minimum = Level(level)
        json = format == "json"
        _ = startThread(name: "log-writer") { [self] in writeForever() }
    }

    private func writeForever() {
        while true {
            wake.wait()
            // Linger a moment so a busy server's lines go out in one write: waking
            // this thread for every line would cost more than the line itself.
            usleep(Logger.linger)
            let (bytes, dropped, upTo) = pending.withLock { state -> ([UInt8], Int, Int) in
                defer { state.bytes = []; state.dropped = 0 }
                return (state.bytes, state.dropped, state.queued)
            }
            if dropped > 0 { Logger.writeAll(format(.warning, "dropped \(dropped) log lines: stdout was not read fast enough")) }
            Logger.writeAll(bytes)
            pending.withLock { $0.written = upTo }
        }
    }

    private static func writeAll(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + written, bytes.count - written) }
            if n <= 0 {
                if errno == EINTR { continue }
                return
            }
            written += n
        }
    }

    /// Waits until everything logged so far is written (before the process exits).
    func flush() {
        let target = pending.withLock { $0.queued }
        wake.signal()
        for _ in 0..<5000 where pending.withLock({ $0.written < target }) { usleep(1000) }
    }

    func enabled(_ level: Level) -> Bool { level >= minimum }

    func log(_ level: Level, _ message: String, _ fields: [(String, JSONValue)] = []) {
        guard level >= minimum else { return }
        let line = format(level, message, fields)
        let wasEmpty = pending.withLock { state -> Bool in
            guard state.bytes.count + line.count <= Logger.maxBufferedBytes else {
                state.dropped += 1
                return false
            }
            let wasEmpty = state.bytes.isEmpty && state.dropped == 0
            state.bytes.append(contentsOf: line)
            state.queued += 1
            return wasEmpty
        }
        if wasEmpty { wake.signal() }
    }

    /// One line in the configured format, with its line end.
    private func format(_ level: Level, _ message: String, _ fields: [(String, JSONValue)] = []) -> [UInt8] {
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
        return line
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

    /// One line per request; `path` is the target with what logs must not hold masked.
    func access(_ exchange: HTTPServer.Exchange, path: String) {
        guard enabled(.info) else { return }
        log(.info, "request", [
            ("method", .string(exchange.method)), ("route", .string(exchange.route)), ("path", .string(path)),
            ("status", .int(exchange.status)), ("durationMs", .double((exchange.durationSeconds * 1e5).rounded() / 100)),
            ("bytes", .int(exchange.bodyBytes)), ("remote", .string(exchange.remoteAddress)), ("requestId", .string(exchange.requestID)),
        ])
    }

    /// RFC 3339 UTC with milliseconds, written digit by digit: it is on every log line.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var t = tm()
        gmtime_r(&seconds, &t)
        var text = Array("0000-00-00T00:00:00.000Z".utf8)
        func put(_ value: Int, endingAt end: Int, width: Int) {
            var value = value
            for i in stride(from: end, to: end - width, by: -1) {
                text[i] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(Int(t.tm_year) + 1900, endingAt: 3, width: 4)
        put(Int(t.tm_mon) + 1, endingAt: 6, width: 2)
        put(Int(t.tm_mday), endingAt: 9, width: 2)
        put(Int(t.tm_hour), endingAt: 12, width: 2)
        put(Int(t.tm_min), endingAt: 15, width: 2)
        put(Int(t.tm_sec), endingAt: 18, width: 2)
        put(ts.tv_nsec / 1_000_000, endingAt: 22, width: 3)
        return String(decoding: text, as: UTF8.self)
    }
}
