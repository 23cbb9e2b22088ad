import CLinux
import Glibc

/// A fixed set of threads that run handlers which may block, fed from a
/// bounded queue. A full queue is refused rather than grown, so that overload
/// turns into prompt 503s instead of unbounded memory and latency.
public final class WorkerPool: @unchecked Sendable {
    public typealias Job = @Sendable () -> Void

    /// Called on each worker thread before its first job and after its last
    /// (for example a database client's per-thread set-up).
    public struct ThreadHooks: Sendable {
        public var start: @Sendable () -> Void
        public var end: @Sendable () -> Void
        public init(start: @escaping @Sendable () -> Void = {}, end: @escaping @Sendable () -> Void = {}) {
            self.start = start
            self.end = end
        }
    }

    private let lock = ConditionLock()
    private var queue: [Job?]
    private var head = 0
    private var count = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    public let threadCount: Int
    public let queueCapacity: Int

    public init(threads: Int, queueCapacity: Int, hooks: ThreadHooks = ThreadHooks()) {
        precondition(threads > 0 && queueCapacity > 0)
        threadCount = threads
        self.queueCapacity = queueCapacity
        queue = Array(repeating: nil, count: queueCapacity)
        for index in 0..<threads {
            let thread = startThread(name: "worker-\(index)") { [self] in
                hooks.start()
                run()
                hooks.end()
            }
            self.threads.append(thread)
        }
    }

    /// Queues a job; false when the queue is full or the pool is stopping.
    public func submit(_ job: @escaping Job) -> Bool {
        lock.lock()
        guard !stopping, count < queueCapacity else {
            lock.unlock()
            return false
        }
        queue[(head + count) % queueCapacity] = job
        count += 1
        lock.signal()
        lock.unlock()
        return true
    }

    private func run() {
        while true {
            lock.lock()
            while count == 0 && !stopping { lock.wait() }
            if count == 0 && stopping {
                lock.unlock()
                return
            }
            let job = queue[head]!
            queue[head] = nil
            head = (head + 1) % queueCapacity
            count -= 1
            lock.unlock()
            job()
        }
    }

    /// Runs what is queued, then stops the threads and waits for them, but not
    /// past `deadline` (monotonic seconds): a handler stuck in a call with no end
    /// in sight is left to the process's exit. Returns how many were left.
    @discardableResult
    public func shutdown(deadline: Double = .infinity) -> Int {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        // Idle workers need a moment to wake and exit, even once the deadline has
        // passed; without it they would be counted as stuck.
        let end = max(deadline, SystemCall.monotonicSeconds() + 0.1)
        var left = 0
        for thread in threads {
            guard end.isFinite else {
                pthread_join(thread, nil)
                continue
            }
            if clinux_join_thread(thread, end - SystemCall.monotonicSeconds()) != 0 { left += 1 }
        }
        threads.removeAll()
        return left
    }
}
