import CLinux
import Glibc

/// One client connection, owned by one event loop and touched only on its
/// thread. It reads, parses, hands requests to handlers one at a time (so
/// pipelined responses leave in order), writes, and enforces its deadlines.
final class Connection {
    let fd: Int32
    let id: UInt64
    let remoteAddress: String
    // The loop outlives its connections (it closes them all before it ends).
    unowned(unsafe) let loop: EventLoop

    private let input = InputBuffer()
    private var parser: HTTPRequestParser
    var output: [UInt8] = []
    var outputStart = 0

    /// A handler is running on the worker pool for this connection.
    private(set) var busy = false
    var closeAfterWrite = false
    /// The peer shut its sending side (read returned 0).
    var peerClosed = false
    /// epoll reported the peer's FIN (or a reset): reads go on to the end of input.
    private var hangUpReported = false
    /// Reading stopped at `readCap` with bytes perhaps left in the socket, which
    /// edge-triggered epoll will not report again: read on once input is consumed.
    private var readPaused = false
    /// Requests wait in `input` until the client reads the answers it was sent.
    var heldBack = false
    /// The response that ends the connection is out; draining what the client still sends.
    var lingering = false
    private(set) var closed = false

    /// When the current request's head began (or the connection was accepted).
    private var headStartedAt: Double
    let openedAt: Double
    /// Last time bytes moved for a body or a blocked write, or the connection went idle.
    var lastProgressAt: Double
    private var requestStartedAt = 0.0
    /// What this connection counts in the server's request memory for requests, the body
    /// of the request a handler is running (held until it is answered), and the output
    /// buffer while its client has not read all of it. One property: one access.
    private var memory = (counted: 0, bodyInFlight: 0, unsent: 0)

    init(fd: Int32, id: UInt64, remoteAddress: String, loop: EventLoop) {
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.loop = loop
        parser = HTTPRequestParser(limits: loop.server.configuration.limits)
        headStartedAt = loop.now
        lastProgressAt = loop.now
        openedAt = loop.now
    }

    /// Nothing in progress: no partial request, no handler running, nothing left to write.
    var isIdle: Bool { !busy && !parser.inProgress && input.isEmpty && outputStart == output.count && !lingering }

    // MARK: - Reading

    /// `peerHungUp`: epoll reported the peer's FIN (or a reset) with this wake-up.
    func onReadable(peerHungUp: Bool = false) {
        if peerHungUp { hangUpReported = true }
        repeat {
            if lingering {
                discardInput()
                return
            }
            guard readAvailable() else { return }
            process()
        } while readPaused && !busy && !closed && input.count < readCap
    }

    /// Reads what the socket holds, up to `readCap`; false if a read error closed the connection.
    private func readAvailable() -> Bool {
        let wasIdle = isIdle
        var sawBytes = false
        readPaused = false
        while !peerClosed {
            guard input.count < readCap else {
                readPaused = true
                break
            }
            let (n, offered) = input.read(from: fd)
            if n > 0 {
                sawBytes = true
                // A short read drained the socket; edge-triggered epoll reports the next
                // arrival. A FIN that came with these bytes is not another arrival: read on to it.
                if n < offered && !hangUpReported { break }
            } else if n == 0 {
                peerClosed = true
            } else {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                if errno == EINTR { continue }
                close()
                return false
            }
        }
        if sawBytes {
            if wasIdle { headStartedAt = loop.now }
            lastProgressAt = loop.now
        }
        return true
    }

    /// What one connection reads ahead: room for a whole head (a body moves on into the
    /// parser as it arrives). While it cannot take up its next request (a handler runs,
    /// or its client has answers to read first), only the first read's room. The rest
    /// waits in the socket, where TCP holds the client back, not in the server's memory.
    private var readCap: Int {
        if busy || heldBack { return InputBuffer.firstReadRoom }
        return parser.limits.maxHeaderBytes + parser.limits.maxTargetBytes
    }

    func discardInput() {
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            close()
            return
        }
    }

    // MARK: - Requests

    /// Answers a client may leave unread before no more of its requests are taken
    /// up: a client that pipelines requests and never reads cannot grow memory.
    static let maxUnsentBytes = 256 * 1024

    /// No more of this client's requests are taken up until it reads what it was sent:
    /// it left too much unread, or it left some while the server holds all the memory
    /// it may (many such clients together cannot grow memory either).
    var holdsBack: Bool {
        let unsent = output.count - outputStart
        return unsent >= Connection.maxUnsentBytes || (unsent > 0 && loop.server.isOverMemoryLimit)
    }

    /// Parses and dispatches buffered requests until one must wait for a handler,
    /// for more bytes, or for the client to read what it was sent.
    func process() {
        heldBack = false
        var readPartly = false
        while !busy && !closeAfterWrite && !closed {
            if holdsBack {
                flush()
                if closed { return }
                // Still not taken: wait for EPOLLOUT (onWritable).
                if holdsBack {
                    heldBack = true
                    break
                }
            }
            let result: (consumed: Int, request: HTTPRequest?)
            do {
                result = try parser.parse(input.unconsumed)
            } catch {
                respondToParseError(error)
                break
            }
            input.consume(result.consumed)
            if result.consumed > 0 { lastProgressAt = loop.now }
            guard let request = result.request else {
                readPartly = result.consumed > 0
                break
            }
            dispatch(request)
            if !input.isEmpty { headStartedAt = loop.now }
        }
        input.shrinkIfIdle()
        // Counts what this connection holds when that may have changed (not after a request
        // without a body). A request still being read that takes the server past its memory
        // limit is refused, before 100 Continue could ask for its body.
        let mayHold = readPartly || !input.isEmpty || memory.counted != 0
        if mayHold && !holdRequestMemory() && !busy && !closeAfterWrite && !closed && parser.inProgress {
            loop.warnOverloaded(memoryFull)
            respondToParseError(HTTPParseError(.serviceUnavailable, Connection.tooMuchMemory))
        } else if parser.awaitingContinue, let head = parser.request {
            if !answerBeforeBody(head) {
                output.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
                parser.continueHandled()
            }
        }
        if peerClosed && !busy && !closeAfterWrite && !heldBack {
            // Nothing more will arrive: finish what was answered and close.
            closeAfterWrite = true
            if parser.inProgress && outputStart == output.count {
                close()
                return
            }
        }
        flush()
    }

    private func respondToParseError(_ error: HTTPParseError) {
        let fields = parser.headFields
        let requestID = HTTPServer.saneRequestID(fields?.first(key: "x-request-id")) ?? loop.makeRequestID()
        var response = HTTPError(error.status, error.detail).response
        if let fields { loop.server.addHeaders?(fields, &response) }
        if error.status == .requestTimeout || error.status == .contentTooLarge { response.headers.set("Connection", "close") }
        if error.status == .serviceUnavailable { response.headers.set("Retry-After", String(loop.server.configuration.retryAfterSeconds)) }
        requestStartedAt = loop.now
        write(response, requestID: requestID, keepAlive: false, isHead: false)
        loop.server.finished(
            method: "-", route: "invalid", target: "-", status: error.status.code, bodyBytes: response.body.count,
            started: requestStartedAt, now: loop.now, remoteAddress: remoteAddress, requestID: requestID)
        stopReading()
    }

    /// A request that waits for 100 Continue gets its final answer instead when its
    /// head alone decides it: no route takes it (404, 405, ...) or its route's
    /// `blockingUnless` answer refuses it (401, 415), so its body is never sent
    /// (RFC 9110 §10.1.1). The answer says close: the body it may still send is
    /// drained, not parsed. False when the body is wanted.
    private func answerBeforeBody(_ head: HTTPRequest) -> Bool {
        var head = head
        let match = loop.server.router.match(head.method, path: head.path)
        let answer: (HTTPResponse, route: String)
        if case .found(let route, let parameters)? = match {
            guard case .blockingUnless(let early) = route.kind else { return false }
            head.pathParameters = parameters
            head.route = route.pattern
            guard let response = early(head) else { return false }
            answer = (response, route.pattern)
        } else {
            answer = Router.answer(unrouted: match, head)
        }
        requestStartedAt = loop.now
        head.remoteAddress = remoteAddress
        head.requestID = HTTPServer.saneRequestID(head.headers.first(key: "x-request-id")) ?? loop.makeRequestID()
        complete(head, answer.0, route: answer.route, keepAlive: false, isHead: head.method == .HEAD)
        stopReading()
        return true
    }

    /// No more is read from this connection: what its request held goes back now, not when it closes.
    private func stopReading() {
        parser = HTTPRequestParser(limits: parser.limits)
        input.consume(input.count)
        input.shrinkIfIdle()
        _ = holdRequestMemory()
    }

    private func dispatch(_ request: consuming HTTPRequest) {
        var request = request
        request.remoteAddress = remoteAddress
        requestStartedAt = loop.now
        request.requestID = HTTPServer.saneRequestID(request.headers.first(key: "x-request-id")) ?? loop.makeRequestID()
        let keepAlive = HTTPServer.wantsKeepAlive(request) && !loop.server.isDraining
        let isHead = request.method == .HEAD

        let match = loop.server.router.match(request.method, path: request.path)
        guard case .found(let route, let parameters)? = match else {
            let (response, route) = Router.answer(unrouted: match, request)
            complete(request, response, route: route, keepAlive: keepAlive, isHead: isHead)
            return
        }
        request.pathParameters = parameters
        request.route = route.pattern
        if !request.body.isEmpty {
            input.shrinkIfIdle()  // the body's bytes have moved out of it
            memory.bodyInFlight = request.body.capacity
            guard holdRequestMemory() else {
                complete(request, overloaded(Connection.tooMuchMemory, because: memoryFull), route: route.pattern, keepAlive: keepAlive, isHead: isHead)
                return
            }
        }
        if case .blockingUnless(let answer) = route.kind, let response = answer(request) {
            complete(request, response, route: route.pattern, keepAlive: keepAlive, isHead: isHead)
            return
        }
        switch route.kind {
        case .inline:
            complete(request, HTTPServer.run(route.handler, request), route: route.pattern, keepAlive: keepAlive, isHead: isHead)
        case .blocking, .blockingUnless:
            busy = true
            let loop = self.loop
            let (fd, id) = (self.fd, self.id)
            let request = request
            let accepted = loop.server.pool.submit {
                let response = HTTPServer.run(route.handler, request)
                loop.deliver(Completion(fd: fd, connectionID: id, request: request, response: response, keepAlive: keepAlive))
            }
            if accepted {
                loop.server.inFlightStarted()
            } else {
                busy = false
                let c = loop.server.configuration
                let response = overloaded("The server is busy; retry shortly.",
                                          because: "all \(c.workerThreads) workers are busy and \(c.workerQueueCapacity) requests wait for them")
                complete(request, response, route: route.pattern, keepAlive: keepAlive, isHead: isHead)
            }
        }
    }

    static let tooMuchMemory = "The server holds as much for requests and unread answers as it may; retry shortly."
    /// The same, for the log.
    private var memoryFull: String { "requests and unread answers hold the most allowed (\(loop.server.configuration.maxRequestMemory) bytes)" }

    /// A 503 of the server's own; `reason` is for the log.
    private func overloaded(_ detail: String, because reason: @autoclosure () -> String) -> HTTPResponse {
        loop.warnOverloaded(reason())
        var response = HTTPError(.serviceUnavailable, detail).response
        response.headers.set("Retry-After", String(loop.server.configuration.retryAfterSeconds))
        return response
    }

    /// Counts what this connection now holds for requests (its input's growth, the body
    /// being read, the body being run); false when that growth is more than the server may hold.
    private func holdRequestMemory() -> Bool {
        let counted = memory
        let held = input.grownBytes + parser.bodyCapacity + counted.bodyInFlight
        guard held != counted.counted else { return true }
        memory.counted = held
        return loop.server.holdRequestMemory(held - counted.counted)
    }

    /// The output buffer counts in the server's request memory while its client has
    /// not read all of it (after each flush): a blocked write is where answers pile up.
    func countUnsent() {
        let unsent = outputStart < output.count ? output.capacity : 0
        guard unsent != memory.unsent else { return }
        _ = loop.server.holdRequestMemory(unsent - memory.unsent)
        memory.unsent = unsent
    }

    /// A worker finished this connection's request.
    func handlerFinished(_ completion: Completion) {
        busy = false
        complete(completion.request, completion.response, route: completion.request.route,
                 keepAlive: completion.keepAlive && !loop.server.isDraining, isHead: completion.request.method == .HEAD)
        process()
        if readPaused && !busy && !closed { onReadable() }
    }

    private func complete(_ request: HTTPRequest, _ response: HTTPResponse, route: String, keepAlive: Bool, isHead: Bool) {
        var response = response
        if !request.body.isEmpty { memory.bodyInFlight = 0 }
        // A read's preconditions (RFC 9110 §13.2) are evaluated against the answer it
        // produced, as producing it changed nothing; the shop evaluates them for other
        // methods before it acts. Only a 2xx is conditional (§13.2.1).
        let read = (request.method == .GET || isHead) && (200..<300).contains(response.status.code)
        let etag = response.headers.first(key: "etag")
        // Without a tag only If-Match can change the answer: an untagged read (a probe's) skips the rest.
        let conditional = read && (etag != nil || request.headers.contains(key: "if-match"))
        let precondition = conditional ? EntityTag.evaluate(request.headers, current: etag, exists: true) : .holds
        if precondition == .ifMatchFails { response = EntityTag.failed(precondition).response }
        loop.server.addHeaders?(request.headers, &response)
        if precondition == .ifNoneMatchFails && response.status.code == 200 && etag != nil {
            // RFC 9110 §15.4.5: the validator and caching fields stay, the content and its
            // type go. The body stays in `response` only for its length (as after a HEAD).
            response.status = .notModified
            response.headers.remove(key: "content-type")
        }
        // Requests the client sent before its FIN are still answered; the last one says close.
        let keep = keepAlive && !(peerClosed && input.isEmpty)
        write(response, requestID: request.requestID, keepAlive: keep, isHead: isHead, http10: request.minorVersion == 0)
        loop.server.finished(
            method: request.method.rawValue, route: route, target: request.target, status: response.status.code,
            bodyBytes: isHead || response.status.code == 304 ? 0 : response.body.count, started: requestStartedAt, now: loop.now,
            remoteAddress: remoteAddress, requestID: request.requestID)
    }

    // MARK: - Deadlines

    /// Called about once a second by the loop.
    func checkDeadlines(now: Double) {
        let config = loop.server.configuration
        if lingering {
            if now - lastProgressAt > 2 { close() }
        } else if outputStart < output.count {
            if now - lastProgressAt > config.bodyTimeout { close() }
        } else if busy {
            return
        } else if parser.readingBody {
            if now - lastProgressAt > config.bodyTimeout { timeOut("The request body stopped arriving.") }
        } else if parser.inProgress || !hasServed {
            if now - headStartedAt > config.headerTimeout { timeOut("The request head did not arrive within \(Int(config.headerTimeout)) s.") }
        } else if now - lastProgressAt > config.idleTimeout {
            close()
        }
    }

    /// At least one request has been answered on this connection.
    var hasServed: Bool { requestStartedAt > 0 }

    private func timeOut(_ detail: String) {
        closeAfterWrite = false
        respondToParseError(HTTPParseError(.requestTimeout, detail))
        flush()
    }

    func close() {
        guard !closed else { return }
        closed = true
        // A body a worker still holds is given back when its answer comes (EventLoop.drainMailbox).
        _ = loop.server.holdRequestMemory(-(memory.counted + memory.unsent - (busy ? memory.bodyInFlight : 0)))
        memory = (0, 0, 0)
        Glibc.close(fd)
        loop.removeConnection(self)
    }
}
