import Synchronization

/// The shop's own counters, read by the /metrics endpoint.
public final class ShopMetrics: Sendable {
    public final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        public func add(_ n: Int) { value.wrappingAdd(n, ordering: .relaxed) }
        public var current: Int { value.load(ordering: .relaxed) }
    }

    public let ordersCreated = Counter()
    public let stockConflicts = Counter()
    public let cartsDeleted = Counter()
    public let idempotencyKeysDeleted = Counter()

    public init() {}
}
