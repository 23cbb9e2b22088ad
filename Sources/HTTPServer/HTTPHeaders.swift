/// Header fields in order. Each name is kept as given (for output) and
/// lowercased (HTTP field names are case-insensitive) for look-ups.
public struct HTTPHeaders: Sendable, Sequence {
    private var fields: [(key: String, name: String, value: String)] = []

    public init() {}

    public init(_ fields: [(String, String)]) {
        for (name, value) in fields { add(name, value) }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name.lowercased(), name, value))
    }

    /// Replaces every field of that name with one value.
    public mutating func set(_ name: String, _ value: String) {
        let lower = name.lowercased()
        fields.removeAll { $0.key == lower }
        fields.append((lower, name, value))
    }

    /// The first value of a field.
    public subscript(_ name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.key == lower }?.value
    }

    /// Every value of a field, in order.
    public func values(_ name: String) -> [String] { all(key: name.lowercased()) }

    /// (name as given, value) pairs in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.map { ($0.name, $0.value) }.makeIterator()
    }

    // Look-ups by an already-lowercased key, for the server's hot path.
    func contains(key: String) -> Bool { fields.contains { $0.key == key } }
    func first(key: String) -> String? { fields.first { $0.key == key }?.value }
    func all(key: String) -> [String] { fields.filter { $0.key == key }.map(\.value) }
    /// Comma-separated list members across every field with that key, lowercased and trimmed.
    func tokens(key: String) -> [String] {
        all(key: key).flatMap { $0.split(separator: ",") }.map { $0.trimmingOWS().lowercased() }.filter { !$0.isEmpty }
    }

    /// Drops every field with that (lowercased) key.
    mutating func remove(key: String) { fields.removeAll { $0.key == key } }

    /// Appends a field whose name is already lowercase (the parser lowercases as it copies).
    mutating func append(key: String, value: String) { fields.append((key, key, value)) }

    /// Calls `body` with each (lowercased key, name as given, value).
    func forEachField(_ body: (String, String, String) -> Void) {
        for field in fields { body(field.key, field.name, field.value) }
    }
}

extension StringProtocol {
    /// Trims optional whitespace (SP and HTAB) as RFC 9110 defines it.
    public func trimmingOWS() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
