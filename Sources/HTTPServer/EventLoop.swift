import CLinux
import Glibc
import Synchronization

/// What a worker hands back to the loop that owns the connection.
struct Completion: Sendable {
    let fd: Int32
    let connectionID: UInt64
    let request: HTTPRequest
    let response: HTTPResponse
    let keepAlive: Bool
}

/// One thread, one epoll instance. It accepts from the shared listening socket
/// (registered with EPOLLEXCLUSIVE so that only one loop wakes per
/// connection), owns the connections it accepted, and is woken through an
/// eventfd when a worker finishes or the server starts to stop.
final class EventLoop: @unchecked Sendable {
    // The server outlives its loops (run() joins them).
    unowned(unsafe) let server: HTTPServer
    let index: Int
    private let epfd: Int32
    private let wakeFD: Int32
    private var listenFD: Int32 = -1
    private var connections: [Int32: Connection] = [:]
    private var nextConnectionID: UInt64 = 0
    private let mailbox = Mutex<[Completion]>([])
    private var acceptPausedUntil = 0.0
    /// Out of descriptors, accepts pause every 100 ms: the log says so once per 10 s, with a count.
    private var acceptWarnings = LogThrottle()
    /// At the connection limit, each new connection is closed: the log says so once per 10 s, with a count.
    private var limitWarnings = LogThrottle()
    /// The same for the 503s the server gives itself (a full worker queue, the request memory bound).
    private var overloadWarnings = LogThrottle()

    /// The loop's clock, read once per wake-up.
    private(set) var now = SystemCall.monotonicSeconds()
    private(set) var date = DateCache()
    private var lastSweep = 0.0
    private var requestIDPrefix: String
    private var requestCounter: UInt64 = 0

    /// Messages from other threads, read after each wake-up.
    private let stopAccepting = Atomic<Bool>(false)
    private let forceClose = Atomic<Bool>(false)
    private var accepting = true

    init(server: HTTPServer, index: Int, listenFD: Int32) throws(SystemCallError) {
        self.server = server
        self.index = index
        epfd = try SystemCall.check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeFD = try SystemCall.check("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
        var random: UInt64 = 0
        _ = getrandom(&random, 8, 0)
        requestIDPrefix = String(random, radix: 16) + "-" + String(index, radix: 16)
        self.listenFD = listenFD
        try register(wakeFD, events: EPOLLIN.rawValue)
        try register(listenFD, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue)
    }

    deinit {
        Glibc.close(epfd)
        Glibc.close(wakeFD)
    }

    private func register(_ fd: Int32, events: UInt32) throws(SystemCallError) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        try SystemCall.check("epoll_ctl(ADD)") { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) }
    }

    // MARK: - Cross-thread messages

    func deliver(_ completion: Completion) {
        let wasEmpty = mailbox.withLock { box in
            box.append(completion)
            return box.count == 1
        }
        if wasEmpty { wake() }
    }

    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    func requestStopAccepting() {
        stopAccepting.store(true, ordering: .releasing)
        wake()
    }

    func requestForceClose() {
        forceClose.store(true, ordering: .releasing)
        wake()
    }

    // MARK: - The loop

    func run() {
        let maxEvents = 512
        var events = [epoll_event](repeating: epoll_event(), count: maxEvents)
        while true {
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epfd, $0.baseAddress, Int32(maxEvents), 1000) }
            now = SystemCall.monotonicSeconds()
            date.refresh()
            if n < 0 && errno != EINTR { fatalError("epoll_wait: \(String(cString: strerror(errno)))") }
            for i in 0..<max(Int(n), 0) {
                let fd = events[i].data.fd
                let flags = events[i].events
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, 8)
                    drainMailbox()
                } else if fd == listenFD {
                    acceptConnections()
                } else if let connection = connections[fd] {
                    let hungUp = flags & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
                    if hungUp || flags & EPOLLIN.rawValue != 0 {
                        connection.onReadable(peerHungUp: hungUp)
                    }
                    if flags & EPOLLOUT.rawValue != 0 && !connection.closed {
                        connection.onWritable()
                    }
                }
            }
            if stopAccepting.load(ordering: .acquiring) && accepting { stopAcceptingNow() }
            if forceClose.load(ordering: .acquiring) {
                for connection in Array(connections.values) { connection.close() }
            }
            if now - lastSweep >= 1 { sweep() }
            if !accepting && connections.isEmpty { break }
        }
    }

    private func drainMailbox() {
        let completions = mailbox.withLock { box in
            let taken = box
            box.removeAll(keepingCapacity: true)
            return taken
        }
        for completion in completions {
            // The connection may have closed and its fd been reused meanwhile.
            guard let connection = connections[completion.fd], connection.id == completion.connectionID else {
                server.inFlightEnded()
                // The connection counted a body in the request memory until now (Connection.close).
                if !completion.request.body.isEmpty { _ = server.holdRequestMemory(-completion.request.body.capacity) }
                continue
            }
            server.inFlightEnded()
            connection.handlerFinished(completion)
        }
    }

    private func acceptConnections(evenWhenStopped: Bool = false) {
        guard accepting || evenWhenStopped, now >= acceptPausedUntil else { return }
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    clinux_accept4(listenFD, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop for a moment instead of spinning on the ready listener.
                    let reason = String(cString: strerror(errno))
                    if let line = acceptWarnings.line("accept failed: \(reason); pausing accepts for 100 ms", heldBack: "pauses", at: now) {
                        server.log(.warning, line)
                    }
                    acceptPausedUntil = now + 0.1
                    pauseListener()
                    return
                default: return  // EAGAIN: the queue is empty, or another loop took it
                }
            }
            guard server.connectionOpened() else {
                // Over the limit: close at once rather than starve the connections already served.
                Glibc.close(fd)
                let limit = server.configuration.maxConnections
                if let line = limitWarnings.line("connection limit of \(limit) reached: a new connection was closed at once",
                                                 heldBack: "closed connections", at: now) {
                    server.log(.warning, line)
                }
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            nextConnectionID += 1
            let connection = Connection(
                fd: fd, id: nextConnectionID, remoteAddress: SystemCall.addressAndPort(storage).address, loop: self)
            connections[fd] = connection
            do {
                try register(fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue)
            } catch {
                connection.close()
                continue
            }
            // Data often arrives with the handshake; read it now rather than wait for the edge.
            connection.onReadable()
        }
    }

    /// Says, at most once per 10 s, that a request got 503 from the server itself, and why.
    func warnOverloaded(_ reason: @autoclosure () -> String) {
        if let line = overloadWarnings.line("answering 503: \(reason())", heldBack: "such 503s", at: now) { server.log(.warning, line) }
    }

    private var listenerPaused = false

    private func pauseListener() {
        listenerPaused = true
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, listenFD, nil)
    }

    private func stopAcceptingNow() {
        // Take what the kernel already queued: closing the listener would reset
        // those connections, and their clients believe they were accepted.
        acceptConnections()
        accepting = false
        _ = epoll_ctl(epfd, EPOLL_CTL_DEL, listenFD, nil)
        server.loopStoppedAccepting { self.acceptConnections(evenWhenStopped: true) }
        closeIdleWhileStopping()
    }

    /// Keep-alive connections between requests go now; a connection that has
    /// not sent its first request yet gets a moment to send it.
    private func closeIdleWhileStopping() {
        for connection in Array(connections.values) where connection.isIdle && (connection.hasServed || now - connection.openedAt > 1) {
            connection.close()
        }
    }

    private func sweep() {
        lastSweep = now
        if listenerPaused && accepting && now >= acceptPausedUntil {
            listenerPaused = false
            try? register(listenFD, events: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue)
        }
        for connection in Array(connections.values) { connection.checkDeadlines(now: now) }
        if !accepting { closeIdleWhileStopping() }
    }

    func removeConnection(_ connection: Connection) {
        connections[connection.fd] = nil
        server.connectionClosed()
    }

    /// A request id unique to this process run: a random per-loop prefix and a hex counter.
    func makeRequestID() -> String {
        requestCounter &+= 1
        let prefix = requestIDPrefix.utf8
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        let digits = max(1, (64 - requestCounter.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: prefix.count + 1 + digits) { out in
            var i = 0
            for b in prefix { out[i] = b; i += 1 }
            out[i] = UInt8(ascii: "-")
            for d in 0..<digits {
                out[i + digits - d] = hex[Int((requestCounter >> (4 * UInt64(d))) & 0xF)]
            }
            return prefix.count + 1 + digits
        }
    }
}
