import Glibc
import HTTPServer
import MySQL
import Shop
import Synchronization

/// A background thread for periodic chores: pruning expired idempotency keys.
final class Housekeeping: Sendable {
    private let api: ShopAPI
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    private let thread = Mutex<pthread_t?>(nil)
    let intervalSeconds = 600

    init(api: ShopAPI, logger: Logger) {
        self.api = api
        self.logger = logger
    }

    func start() {
        let handle = startThread(name: "housekeeping") { [self] in
            MySQLLibrary.threadStart()
            defer { MySQLLibrary.threadEnd() }
            while !sleepUnlessStopped(seconds: intervalSeconds) {
                do {
                    var pruned: UInt64 = 0
                    repeat {
                        let batch = try api.pruneIdempotencyKeys()
                        pruned += batch
                        if batch < 1000 { break }
                    } while !stopped.load(ordering: .relaxed)
                    if pruned > 0 { logger.log(.info, "pruned \(pruned) expired idempotency keys") }
                } catch {
                    logger.log(.warning, "could not prune idempotency keys: \(error)")
                }
            }
        }
        thread.withLock { $0 = handle }
    }

    /// True if asked to stop during the sleep.
    private func sleepUnlessStopped(seconds: Int) -> Bool {
        for _ in 0..<(seconds * 10) {
            if stopped.load(ordering: .relaxed) { return true }
            usleep(100_000)
        }
        return stopped.load(ordering: .relaxed)
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        if let handle = thread.withLock({ $0 }) { pthread_join(handle, nil) }
    }
}
