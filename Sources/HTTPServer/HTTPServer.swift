import CLinux
import Glibc
import Synchronization

/// An HTTP/1.1 server on POSIX sockets: event loops for I/O, a worker pool for
/// handlers that block, and a control thread (the caller of `run`) that
/// reacts to SIGTERM/SIGINT or `shutdown()` by draining gracefully.
public final class HTTPServer: @unchecked Sendable {
    public enum LogLevel: String, Sendable { case debug, info, warning, error }

    public let configuration: Configuration
    public let router: Router
    let pool: WorkerPool
    /// Called on an event loop after each response is queued; keep it cheap.
    public let onResponse: (@Sendable (Exchange) -> Void)?
    /// Called on an event loop with the request's header fields and every answer to a
    /// request whose head was read, before it is written: the handlers' and the server's
    /// own (404, 405, a busy 503, a refused body). Keep it cheap.
    public let addHeaders: (@Sendable (_ requestFields: HTTPHeaders, inout HTTPResponse) -> Void)?
    public let logger: @Sendable (LogLevel, String) -> Void

    private let listenFD: Int32
    /// The port actually bound (useful with port 0).
    public let port: Int
    private var loops: [EventLoop] = []
    private var threads: [pthread_t] = []
    private let controlFD: Int32

    private let openConnections = Atomic<Int>(0)
    private let refusedConnections = Atomic<Int>(0)
    private let requestMemory = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)
    private let loopsFinished = Atomic<Bool>(false)
    private let loopsStillAccepting: Atomic<Int>

    public init(
        configuration: Configuration, router: Router, workerHooks: WorkerPool.ThreadHooks = WorkerPool.ThreadHooks(),
        onResponse: (@Sendable (Exchange) -> Void)? = nil,
        addHeaders: (@Sendable (_ requestFields: HTTPHeaders, inout HTTPResponse) -> Void)? = nil,
        logger: @escaping @Sendable (LogLevel, String) -> Void = HTTPServer.standardErrorLogger
    ) throws(SystemCallError) {
        self.configuration = configuration
        self.router = router
        self.onResponse = onResponse
        self.addHeaders = addHeaders
        self.logger = logger
        // A peer that goes away mid-write must cost an EPIPE, not the process.
        signal(SIGPIPE, SIG_IGN)
        SystemCall.raiseFileLimit()
        (listenFD, port) = try SystemCall.listen(host: configuration.host, port: configuration.port)
        // A semaphore: each read takes one request, so two signals that come before
        // run() reads any still count as two (the second one stops at once).
        controlFD = try SystemCall.check("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_SEMAPHORE)) }
        loopsStillAccepting = Atomic(configuration.eventLoops)
        pool = WorkerPool(threads: configuration.workerThreads, queueCapacity: configuration.workerQueueCapacity, hooks: workerHooks)
        for index in 0..<configuration.eventLoops {
            loops.append(try EventLoop(server: self, index: index, listenFD: listenFD))
        }
    }

    deinit {
        // A signal from now on must not write into whatever takes the number next.
        _ = SignalRelay.target.compareExchange(expected: controlFD, desired: -1, ordering: .acquiringAndReleasing)
        Glibc.close(controlFD)
    }

    // MARK: - State others read

    /// True from the shutdown signal on: readiness should fail, responses close their connections.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    public var connectionsOpen: Int { openConnections.load(ordering: .relaxed) }
    /// Connections closed as soon as they were accepted, because `maxConnections` were open.
    public var connectionsRefused: Int { refusedConnections.load(ordering: .relaxed) }
    public var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }
    /// Bytes the connections hold for requests and unread answers (see `Configuration.maxRequestMemory`).
    public var requestMemoryHeld: Int { requestMemory.load(ordering: .relaxed) }

    // MARK: - Running

    /// Starts the loops and blocks until the server has shut down: after a
    /// signal (see `handleSignals`) or `shutdown()`, it drains as configured
    /// and returns once every connection is closed or the timeout has passed.
    public func run() {
        for loop in loops {
            threads.append(startThread(name: "event-loop-\(loop.index)") { loop.run() })
        }
        waitForControl(timeout: nil)
        draining.store(true, ordering: .relaxed)
        let deadline = SystemCall.monotonicSeconds() + configuration.shutdownTimeout
        logger(.info, "shutting down: draining for \(configuration.shutdownDelay) s, then finishing in-flight requests (at most \(configuration.shutdownTimeout) s in all)")
        var forced = false
        if configuration.shutdownDelay > 0 {
            // A second signal during the delay means "stop now".
            forced = waitForControl(timeout: min(configuration.shutdownDelay, configuration.shutdownTimeout))
        }
        for loop in loops { loop.requestStopAccepting() }
        if forced {
            for loop in loops { loop.requestForceClose() }
        } else {
            let watchdog = startThread(name: "shutdown-timer") { [self] in
                // Wake at the deadline (or on a second signal) and cut what is left.
                let remaining = deadline - SystemCall.monotonicSeconds()
                if remaining > 0 { _ = waitForControl(timeout: remaining) }
                if !loopsFinished.load(ordering: .acquiring) {
                    logger(.warning, "shutdown deadline reached with \(connectionsOpen) connections open; closing them")
                    for loop in loops { loop.requestForceClose() }
                }
            }
            for thread in threads { pthread_join(thread, nil) }
            loopsFinished.store(true, ordering: .releasing)
            var one: UInt64 = 1
            _ = Glibc.write(controlFD, &one, 8)
            pthread_join(watchdog, nil)
            threads.removeAll()
        }
        for thread in threads { pthread_join(thread, nil) }
        // Connections are closed by now; a handler still running past the deadline
        // (say, waiting on an unresponsive database) is not waited for.
        let stuck = pool.shutdown(deadline: forced ? SystemCall.monotonicSeconds() : deadline)
        if stuck > 0 {
            logger(.warning, "\(stuck) request handler(s) still running at the shutdown deadline (waiting on the database?); stopping without them")
        }
        logger(.info, "stopped")
    }

    /// Begins a graceful shutdown, as SIGTERM would.
    public func shutdown() {
        var one: UInt64 = 1
        _ = Glibc.write(controlFD, &one, 8)
    }

    /// Makes SIGTERM and SIGINT begin this server's graceful shutdown.
    public func handleSignals() {
        SignalRelay.target.store(controlFD, ordering: .releasing)
        // Only async-signal-safe work in the handler: one write(2) to an eventfd.
        let handler: @convention(c) (Int32) -> Void = { _ in
            let fd = SignalRelay.target.load(ordering: .acquiring)
            var one: UInt64 = 1
            if fd >= 0 { _ = Glibc.write(fd, &one, 8) }
        }
        clinux_install_signal_handler(SIGTERM, handler)
        clinux_install_signal_handler(SIGINT, handler)
    }

    /// Waits for a shutdown request; true if one arrived before the timeout.
    @discardableResult
    private func waitForControl(timeout: Double?) -> Bool {
        var pfd = pollfd(fd: controlFD, events: Int16(POLLIN), revents: 0)
        let start = SystemCall.monotonicSeconds()
        while true {
            var ms: Int32 = -1
            if let timeout {
                let left = timeout - (SystemCall.monotonicSeconds() - start)
                if left <= 0 { return false }
                ms = Int32(min(left * 1000 + 1, 1_000_000))
            }
            let rc = poll(&pfd, 1, ms)
            if rc > 0 {
                var value: UInt64 = 0
                _ = Glibc.read(controlFD, &value, 8)
                return true
            }
            if rc == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    // MARK: - Book-keeping from the loops

    func connectionOpened() -> Bool {
        let count = openConnections.wrappingAdd(1, ordering: .relaxed).newValue
        if count > configuration.maxConnections {
            openConnections.wrappingSubtract(1, ordering: .relaxed)
            refusedConnections.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func connectionClosed() { openConnections.wrappingSubtract(1, ordering: .relaxed) }
    var isOverMemoryLimit: Bool { requestMemory.load(ordering: .relaxed) > configuration.maxRequestMemory }

    /// Counts `delta` more (or fewer) bytes held for requests and unread answers. False when
    /// a growth takes the total past the limit: the connection that grew then refuses its request.
    func holdRequestMemory(_ delta: Int) -> Bool {
        let total = requestMemory.wrappingAdd(delta, ordering: .relaxed).newValue
        return delta <= 0 || total <= configuration.maxRequestMemory
    }

    func inFlightStarted() { inFlight.wrappingAdd(1, ordering: .relaxed) }
    func inFlightEnded() { inFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// The last loop to stop drains the accept queue once more, then closes the
    /// listener so that new connections are refused at once.
    func loopStoppedAccepting(drain: () -> Void) {
        if loopsStillAccepting.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            drain()
            Glibc.close(listenFD)
        }
    }

    func log(_ level: LogLevel, _ message: String) { logger(level, message) }

    func finished(
        method: String, route: String, target: String, status: Int, bodyBytes: Int, started: Double, now: Double,
        remoteAddress: String, requestID: String
    ) {
        guard let onResponse else { return }
        onResponse(Exchange(
            method: method, route: route, target: target, status: status, bodyBytes: bodyBytes,
            durationSeconds: max(0, SystemCall.monotonicSeconds() - started), remoteAddress: remoteAddress, requestID: requestID))
    }

    /// Runs a handler, turning what it throws into a problem document.
    static func run(_ handler: Handler, _ request: HTTPRequest) -> HTTPResponse {
        do {
            return try handler(request)
        } catch let error as HTTPError {
            return error.response
        } catch {
            return HTTPError(.internalServerError, "The server failed to handle this request; the request id is in the X-Request-Id header.").response
        }
    }

    /// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes unless told `keep-alive`.
    static func wantsKeepAlive(_ request: HTTPRequest) -> Bool {
        guard request.headers.contains(key: "connection") else { return request.minorVersion == 1 }
        let tokens = request.headers.tokens(key: "connection")
        return request.minorVersion == 1 ? !tokens.contains("close") : tokens.contains("keep-alive")
    }

    /// The client's request id when it is 1–128 letters, digits or `-._:`.
    static func saneRequestID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128 else { return nil }
        let ok = value.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: ":")
        }
        return ok ? value : nil
    }
}

/// Where the signal handler writes: a C signal handler cannot capture context.
enum SignalRelay {
    static let target = Atomic<Int32>(-1)
}

extension HTTPServer {
    /// Plain lines on stderr; the executable passes its own structured logger.
    public static let standardErrorLogger: @Sendable (LogLevel, String) -> Void = { level, message in
        var line = "[\(level.rawValue)] \(message)\n"
        line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
