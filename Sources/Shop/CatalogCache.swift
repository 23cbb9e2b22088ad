import MySQL
import Synchronization

/// A short-lived cache of public catalog responses (product pages, listings,
/// categories). Catalog reads dominate a shop's traffic and tolerate a second
/// of staleness; carts and checkout never read from here. Any catalog or stock
/// change made by this process empties it at once, so only changes made by
/// other replicas can take up to `ttl` to show.
final class CatalogCache: Sendable {
    let ttl: Double
    let maxEntries: Int
    private let state = Mutex<(generation: Int, entries: [String: (expires: Double, body: [UInt8])])>((0, [:]))

    init(ttl: Double = 1.0, maxEntries: Int = 10_000) {
        self.ttl = ttl
        self.maxEntries = maxEntries
    }

    /// The cached body for `key`, or `load()`'s, stored for the next `ttl` seconds.
    func body(_ key: String, _ load: () throws -> [UInt8]) rethrows -> [UInt8] {
        let now = MySQLConnection.monotonicNow()
        let (hit, generation) = lookUp(key, now)
        if let hit { return hit }
        let body = try load()
        state.withLock { s in
            // A write during the load makes what was loaded suspect: do not keep it.
            guard s.generation == generation else { return }
            if s.entries.count >= maxEntries { s.entries.removeAll(keepingCapacity: true) }
            s.entries[key] = (now + ttl, body)
        }
        return body
    }

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
        }
    }
}
