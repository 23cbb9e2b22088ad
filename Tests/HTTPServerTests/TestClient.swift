import Glibc
import XCTest
@testable import HTTPServer

/// A blocking loopback client that reads raw responses, for tests that need
/// control over every byte a real client would send.
final class TestClient: @unchecked Sendable {
    let fd: Int32

    init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(call: "socket", errno: errno) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw SystemCallError(call: "connect", errno: errno)
        }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    private var pending: [UInt8] = []

    /// Reads one response (head and Content-Length body). Nil on EOF or timeout.
    func readResponse() -> TestResponse? {
        while true {
            if let response = TestResponse.parse(&pending) { return response }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            pending += chunk[0..<n]
        }
    }

    /// The raw bytes received until `marker` appears in them (nil if the connection ends first).
    func readRaw(until marker: String) -> String? {
        var buffer = pending
        pending = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: buffer, as: UTF8.self).contains(marker) {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// True when the server has closed (EOF) within the timeout.
    func readEOF() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}

struct TestResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    static func parse(_ buffer: inout [UInt8]) -> TestResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = buffer.indices.dropLast(3).first(where: { Array(buffer[$0..<($0 + 4)]) == separator }) else { return nil }
        let head = String(decoding: buffer[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ")[1])!
        var headers: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        }
        let length = status == 100 || status == 204 || status == 304 ? 0 : Int(headers["content-length"] ?? "0")!
        guard buffer.count >= end + 4 + length else { return nil }
        let body = Array(buffer[(end + 4)..<(end + 4 + length)])
        buffer.removeFirst(end + 4 + length)
        return TestResponse(status: status, headers: headers, body: body)
    }
}

/// A server on an ephemeral port with routes that exercise the machinery.
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    private var thread: pthread_t?
    var port: Int { server.port }

    init(configure: (inout HTTPServer.Configuration) -> Void = { _ in },
         addHeaders: (@Sendable (HTTPHeaders, inout HTTPResponse) -> Void)? = nil,
         logger: @escaping @Sendable (HTTPServer.LogLevel, String) -> Void = { _, _ in }) throws {
        var configuration = HTTPServer.Configuration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.eventLoops = 2
        configuration.workerThreads = 4
        configure(&configuration)
        let router = Router()
        router.get("/healthz", .inline) { _ in .json(["status": "ok"]) }
        router.add(.POST, "/echo") { request in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/octet-stream")]), body: request.body)
        }
        router.get("/slow") { _ in
            usleep(800_000)
            return .json(["slow": "done"])
        }
        router.add(.POST, "/slow") { request in
            usleep(800_000)
            return .json(["received": .int(Int64(request.body.count))])
        }
        router.get("/stuck") { _ in
            usleep(4_000_000)  // a handler waiting on something that does not answer
            return .json(["stuck": "done"])
        }
        router.get("/cached", .blockingUnless({ $0.target.hasSuffix("?hit") ? .json(["from": "loop"]) : nil })) { _ in
            .json(["from": "worker"])
        }
        let big = [UInt8](repeating: UInt8(ascii: "b"), count: 64 * 1024)
        router.get("/big", .inline) { _ in HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: big) }
        router.get("/items/{id}") { request in .json(["id": .string(request.pathParameters["id"])]) }
        router.get("/tagged") { _ in .json(["version": 1], headers: HTTPHeaders([("ETag", #""v1""#), ("Cache-Control", "no-cache")])) }
        server = try HTTPServer(configuration: configuration, router: router, addHeaders: addHeaders, logger: logger)
        let server = self.server
        thread = startThread(name: "test-server") { server.run() }
    }

    /// Asks for a graceful shutdown and waits for `run` to return.
    func stop() {
        server.shutdown()
        join()
    }

    func join() {
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    deinit { if thread != nil { stop() } }
}
