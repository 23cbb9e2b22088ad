import Glibc

/// A parameter or a column value. DECIMAL columns arrive as `.string` so
/// that no precision is lost on the way.
public enum MySQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case date(MySQLDateTime)

    public var int: Int? {
        switch self {
        case .int(let v): return Int(v)
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    public var string: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(validating: b, as: UTF8.self)
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bytes(let b): return b
        case .string(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var date: MySQLDateTime? {
        if case .date(let d) = self { return d }
        return nil
    }

    public var isNull: Bool { self == .null }
}

extension MySQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(_ value: Int) { self = .int(Int64(value)) }
    public init(_ value: String?) { self = value.map { .string($0) } ?? .null }
}

/// DATE, DATETIME and TIMESTAMP values; the session runs in UTC, so these are UTC.
public struct MySQLDateTime: Sendable, Equatable, Comparable {
    public var year, month, day, hour, minute, second, microsecond: Int

    public static func < (a: MySQLDateTime, b: MySQLDateTime) -> Bool {
        (a.year, a.month, a.day, a.hour, a.minute, a.second) != (b.year, b.month, b.day, b.hour, b.minute, b.second)
            ? (a.year, a.month, a.day, a.hour, a.minute, a.second) < (b.year, b.month, b.day, b.hour, b.minute, b.second)
            : a.microsecond < b.microsecond
    }

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, microsecond: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second, self.microsecond) =
            (year, month, day, hour, minute, second, microsecond)
    }

    /// The wall clock now, in UTC, to the millisecond.
    public static func now() -> MySQLDateTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var t = tm()
        gmtime_r(&seconds, &t)
        return MySQLDateTime(year: Int(t.tm_year) + 1900, month: Int(t.tm_mon) + 1, day: Int(t.tm_mday), hour: Int(t.tm_hour),
                             minute: Int(t.tm_min), second: Int(t.tm_sec), microsecond: ts.tv_nsec / 1_000_000 * 1000)
    }

    /// RFC 3339 in UTC, with milliseconds when there are any: `2026-11-26T15:04:05.123Z`.
    public var rfc3339: String {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
        if microsecond != 0 { text += "." + pad(microsecond / 1000, 3) }
        return text + "Z"
    }
}

/// One result row; columns by position or by name.
public struct MySQLRow: Sendable {
    public let columns: MySQLColumns
    public let values: [MySQLValue]

    public subscript(_ name: String) -> MySQLValue {
        guard let index = columns.index[name] else { preconditionFailure("no column \(name) in \(columns.names)") }
        return values[index]
    }

    public subscript(_ index: Int) -> MySQLValue { values[index] }
}

/// Column names of a result, shared by its rows.
public final class MySQLColumns: Sendable {
    public let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

/// What a statement produced.
public struct MySQLResult: Sendable {
    public var rows: [MySQLRow] = []
    /// Rows inserted, deleted or matched by an UPDATE (whether or not their values changed).
    public var affectedRows: UInt64 = 0
    public var lastInsertID: UInt64 = 0
}
