import MySQL
import Synchronization

/// A short-lived cache of public catalog responses (product pages, listings,
/// categories). Catalog reads dominate a shop's traffic and tolerate a second
/// of staleness; carts and checkout never read from here. Any catalog or stock
/// change made by this process empties it at once, so only changes made by
/// other replicas can take up to `ttl` to show.
final class CatalogCache: Sendable {
    let ttl: Double
    /// What keys and bodies may hold in all. Bounded in bytes, not entries: every
    /// distinct query string is a key, and anyone may send them.
    let maxBytes: Int
    private let state = Mutex<(generation: Int, bytes: Int, entries: [String: (expires: Double, body: [UInt8])])>((0, 0, [:]))

    init(ttl: Double = 1.0, maxBytes: Int = 32 << 20) {
        self.ttl = ttl
        self.maxBytes = maxBytes
    }

    /// The cached body for `key`, or `load()`'s, stored for the next `ttl` seconds.
    func body(_ key: String, _ load: () throws -> [UInt8]) rethrows -> [UInt8] {
        let now = MySQLConnection.monotonicNow()
        let (hit, generation) = lookUp(key, now)
        if let hit { return hit }
        let body = try load()
        let cost = CatalogCache.cost(key, body)
        guard cost <= maxBytes / 4 else { return body }
        state.withLock { s in
            // A write during the load makes what was loaded suspect: do not keep it.
            guard s.generation == generation else { return }
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= CatalogCache.cost(key, old.body) }
            if s.bytes + cost > maxBytes {
                // Drop what has expired; if that is not enough, start afresh.
                s.entries = s.entries.filter { $0.value.expires > now }
                s.bytes = s.entries.reduce(0) { $0 + CatalogCache.cost($1.key, $1.value.body) }
                if s.bytes + cost > maxBytes {
                    s.entries.removeAll()
                    s.bytes = 0
                }
            }
            s.entries[key] = (now + ttl, body)
            s.bytes += cost
        }
        return body
    }

    /// Bytes held now (keys, bodies and a little for each entry).
    var bytesHeld: Int { state.withLock { $0.bytes } }

    private static func cost(_ key: String, _ body: [UInt8]) -> Int { key.utf8.count + body.count + 64 }

    /// The cached body for `key` if it is still fresh; never loads (never blocks long).
    func fresh(_ key: String) -> [UInt8]? { lookUp(key, MySQLConnection.monotonicNow()).body }

    private func lookUp(_ key: String, _ now: Double) -> (body: [UInt8]?, generation: Int) {
        state.withLock { s in
            if let entry = s.entries[key], entry.expires > now { return (entry.body, s.generation) }
            return (nil, s.generation)
        }
    }

    /// After any change to products or stock.
    func invalidate() {
        state.withLock { s in
            s.generation += 1
            s.entries.removeAll(keepingCapacity: true)
            s.bytes = 0
        }
    }
}
