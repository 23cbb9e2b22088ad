import HTTPServer
import MySQL
import Synchronization

/// A short-lived cache of public catalog responses (product pages, listings,
/// categories). Catalog reads dominate a shop's traffic and tolerate a second
/// of staleness; carts and checkout never read from here. Any catalog or stock
/// change made by this process empties it at once, so only changes made by
/// other replicas can take up to `ttl` to show.
final class CatalogCache: Sendable {
    /// A body and its entity tag, hashed once when it is loaded rather than on every answer.
    struct Entry: Sendable {
        let body: [UInt8]
        let etag: String
        init(_ body: [UInt8]) {
            self.body = body
            etag = EntityTag.of(body)
        }
    }

    let ttl: Double
    /// What keys and bodies may hold in all. Bounded in bytes, not entries: every
    /// distinct query string is a key, and anyone may send them.
    let maxBytes: Int
    private let state = Mutex<(generation: Int, bytes: Int, entries: [String: (expires: Double, entry: Entry)])>((0, 0, [:]))

    init(ttl: Double = 1.0, maxBytes: Int = 32 << 20) {
        self.ttl = ttl
        self.maxBytes = maxBytes
    }

    /// The cached entry for `key`, or one of `load()`'s body, stored for the next `ttl` seconds.
    func entry(_ key: String, _ load: () throws -> [UInt8]) rethrows -> Entry {
        let now = MySQLConnection.monotonicNow()
        let (hit, generation) = lookUp(key, now)
        if let hit { return hit }
        let entry = Entry(try load())
        let cost = CatalogCache.cost(key, entry.body)
        guard cost <= maxBytes / 4 else { return entry }
        state.withLock { s in
            // A write during the load makes what was loaded suspect: do not keep it.
            guard s.generation == generation else { return }
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= CatalogCache.cost(key, old.entry.body) }
            if s.bytes + cost > maxBytes {
                // Drop what has expired; if that is not enough, start afresh.
                s.entries = s.entries.filter { $0.value.expires > now }
                s.bytes = s.entries.reduce(0) { $0 + CatalogCache.cost($1.key, $1.value.entry.body) }
                if s.bytes + cost > maxBytes {
                    s.entries.removeAll()
                    s.bytes = 0
                }
            }
            s.entries[key] = (now + ttl, entry)
            s.bytes += cost
        }
        return entry
    }

    /// Bytes held now (keys, bodies and a little for each entry).
    var bytesHeld: Int { state.withLock { $0.bytes } }

    private static func cost(_ key: String, _ body: [UInt8]) -> Int { key.utf8.count + body.count + 64 }

    /// The cached entry for `key` if it is still fresh; never loads (never blocks long).
    func fresh(_ key: String) -> Entry? { lookUp(key, MySQLConnection.monotonicNow()).entry }

    private func lookUp(_ key: String, _ now: Double) -> (entry: Entry?, generation: Int) {
        state.withLock { s in
            if let held = s.entries[key], held.expires > now { return (held.entry, s.generation) }
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
