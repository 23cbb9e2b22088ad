import Foundation
import Glibc
import Synchronization
import XCTest
@testable import HTTPServer

/// The server's limits over real loopback sockets: sizes, deadlines, connections, workers and request memory.
final class HTTPServerLimitTests: XCTestCase {
    func testOversizeBodyIsRefusedWithoutBeingRead() throws {
        let server = try TestServer { $0.limits.maxBodyBytes = 1024 }
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        // Announce 100 MB and send none of it: the 413 must come anyway, at once.
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n")
        let start = Date()
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.headers["connection"], "close")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)

        let continuing = try TestClient(port: server.port)
        continuing.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n")
        XCTAssertEqual(continuing.readResponse()?.status, 413, "a refused body must get 413, never 100 Continue")
    }

    func testSlowlorisIsCutAtTheHeaderDeadlineWhileOthersAreServed() throws {
        let server = try TestServer { $0.headerTimeout = 1 }
        defer { server.stop() }
        let slow = try TestClient(port: server.port)
        let start = Date()
        slow.send("GET /healthz HTTP/1.1\r\n")
        var cut: TestResponse?
        let dripper = Thread {
            for _ in 0..<40 {
                slow.send("X-Drip: 1\r\n")
                usleep(100_000)
            }
        }
        dripper.start()
        // Meanwhile another client is served promptly.
        let fast = try TestClient(port: server.port)
        let fastStart = Date()
        fast.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(fast.readResponse()?.status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(fastStart), 0.5)
        cut = slow.readResponse()
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(cut?.status, 408)
        XCTAssertEqual(cut?.headers["connection"], "close")
        XCTAssertGreaterThanOrEqual(elapsed, 0.9)
        XCTAssertLessThan(elapsed, 3.5)
    }

    func testIdleConnectionWithoutRequestIsCut() throws {
        let server = try TestServer { $0.headerTimeout = 1 }
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        XCTAssertEqual(client.readResponse()?.status, 408)
    }

    func testKeepAliveIdleTimeoutClosesQuietly() throws {
        let server = try TestServer { $0.idleTimeout = 1 }
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let start = Date()
        XCTAssertTrue(client.readEOF())
        XCTAssertLessThan(Date().timeIntervalSince(start), 3.5)
    }

    func testThousandConcurrentKeepAliveConnections() throws {
        let server = try TestServer()
        defer { server.stop() }
        var clients: [TestClient] = []
        for _ in 0..<1000 { clients.append(try TestClient(port: server.port, timeout: 10)) }
        for round in 0..<2 {
            for client in clients { client.send("GET /items/\(round) HTTP/1.1\r\nHost: t\r\n\r\n") }
            for client in clients { XCTAssertEqual(client.readResponse()?.text, #"{"id":"\#(round)"}"#) }
        }
        XCTAssertEqual(server.server.connectionsOpen, 1000)
    }

    func testConnectionsBeyondTheMaximumAreClosedAtOnce() throws {
        let server = try TestServer { $0.maxConnections = 2 }
        defer { server.stop() }
        let a = try TestClient(port: server.port)
        let b = try TestClient(port: server.port)
        a.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        b.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(a.readResponse()?.status, 200)
        XCTAssertEqual(b.readResponse()?.status, 200)
        XCTAssertEqual(server.server.connectionsRefused, 0)
        let c = try TestClient(port: server.port, timeout: 2)
        XCTAssertTrue(c.readEOF())
        XCTAssertEqual(server.server.connectionsRefused, 1, "the closed one is counted")
        a.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(a.readResponse()?.status, 200, "existing connections keep being served")
    }

    func testFullWorkerQueueAnswers503() throws {
        let logs = Mutex<[String]>([])
        let server = try TestServer(configure: {
            $0.workerThreads = 1
            $0.workerQueueCapacity = 1
            $0.eventLoops = 1
        }, logger: { level, message in logs.withLock { $0.append("\(level) \(message)") } })
        defer { server.stop() }
        // One running, one queued, the third and fourth refused.
        let clients = try (0..<4).map { _ in try TestClient(port: server.port) }
        for client in clients {
            client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            usleep(50_000)
        }
        let statuses = clients.map { $0.readResponse() }
        XCTAssertEqual(statuses.map { $0?.status }, [200, 200, 503, 503])
        XCTAssertEqual(statuses[2]?.headers["retry-after"], "1")
        // Said once, why: the next such line (10 s on) would count the other.
        XCTAssertEqual(logs.withLock { $0 }, ["warning answering 503: all 1 workers are busy and 1 requests wait for them"])
    }

    func testRequestMemoryIsBoundedAcrossConnections() throws {
        let megabyte = 1024 * 1024
        let server = try TestServer {
            $0.limits.maxBodyBytes = megabyte
            $0.maxRequestMemory = 2 * megabyte + megabyte / 2
        }
        defer { server.stop() }
        func held(atLeast low: Int, atMost high: Int) -> Bool {
            for _ in 0..<250 {
                if (low...high).contains(server.server.requestMemoryHeld) { return true }
                usleep(20_000)
            }
            return false
        }
        // Two uploads of a megabyte, stalled a kilobyte in: both are held.
        var uploads = try (0..<2).map { _ in try TestClient(port: server.port) }
        for upload in uploads {
            upload.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(megabyte)\r\n\r\n" + String(repeating: "x", count: 1000))
        }
        XCTAssertTrue(held(atLeast: 2 * megabyte, atMost: 2 * megabyte + 64 * 1024), "held \(server.server.requestMemoryHeld)")

        // A third would pass the limit: refused before its body is sent, instead of 100 Continue.
        let third = try TestClient(port: server.port)
        third.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: \(megabyte)\r\n\r\n")
        let refused = try XCTUnwrap(third.readResponse())
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertEqual(refused.headers["connection"], "close")
        // A chunked body is counted as it grows, and refused once it no longer fits.
        let chunked = try TestClient(port: server.port)
        chunked.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        var refusedChunked: TestResponse?
        for _ in 0..<16 where refusedChunked == nil {
            chunked.send("10000\r\n" + String(repeating: "c", count: 0x10000) + "\r\n")
            usleep(20_000)
            var pending = 0
            _ = ioctl(chunked.fd, UInt(FIONREAD), &pending)
            if pending > 0 { refusedChunked = chunked.readResponse() }
        }
        XCTAssertEqual(refusedChunked?.status, 503, "a chunked body past the limit must be refused")
        // Requests without a body still go through.
        let probe = try TestClient(port: server.port)
        probe.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(probe.readResponse()?.status, 200)

        // A finished upload gives its memory back, and the next upload is taken.
        uploads[0].send(String(repeating: "y", count: megabyte - 1000))
        XCTAssertEqual(uploads[0].readResponse()?.body.count, megabyte)
        let next = try TestClient(port: server.port)
        next.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(next.readResponse()?.status, 100)
        next.send("body")
        XCTAssertEqual(next.readResponse()?.text, "body")
        // Closed connections give back the rest.
        uploads.removeAll()
        XCTAssertTrue(held(atLeast: 0, atMost: 0), "held \(server.server.requestMemoryHeld) after every upload ended")
    }

    func testAnswersAClientHasNotReadCountInTheRequestMemoryAndHoldItBack() throws {
        let limit = 1024 * 1024
        let server = try TestServer { $0.maxRequestMemory = limit }
        defer { server.stop() }
        // Eight clients pipeline 400 requests for a 64 KiB answer each and read none.
        var clients = try (0..<8).map { _ in try TestClient(port: server.port) }
        for client in clients { client.send(String(repeating: "GET /big HTTP/1.1\r\nHost: t\r\n\r\n", count: 400)) }
        for _ in 0..<250 where server.server.requestMemoryHeld <= limit { usleep(20_000) }
        XCTAssertGreaterThan(server.server.requestMemoryHeld, limit, "unread answers must count")
        usleep(300_000)
        // Past the limit, each holds no more than a head's room and about one answer.
        XCTAssertLessThan(server.server.requestMemoryHeld, limit + 8 * (32 + 2 * 64) * 1024)
        let probe = try TestClient(port: server.port)
        probe.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(probe.readResponse()?.status, 200, "a client that reads is served")
        // Held back, not dropped: a client that reads gets every answer.
        for i in 0..<400 {
            guard let answer = clients[0].readResponse() else { return XCTFail("answer \(i) missing") }
            XCTAssertEqual(answer.body.count, 64 * 1024)
        }
        clients.removeAll()
        for _ in 0..<250 where server.server.requestMemoryHeld != 0 { usleep(20_000) }
        XCTAssertEqual(server.server.requestMemoryHeld, 0, "closed connections give it all back")
    }

    func testABodyAWorkerStillHoldsStaysCountedAfterItsClientLeaves() throws {
        let server = try TestServer()
        defer { server.stop() }
        var client: TestClient? = try TestClient(port: server.port)
        client!.send("POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 100_000))
        usleep(200_000)
        XCTAssertGreaterThanOrEqual(server.server.requestMemoryHeld, 100_000)
        // Gone with a reset while the handler runs: the body is still in memory until it ends.
        var linger = linger(l_onoff: 1, l_linger: 0)
        setsockopt(client!.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        client = nil
        usleep(200_000)
        XCTAssertEqual(server.server.connectionsOpen, 0)
        XCTAssertGreaterThanOrEqual(server.server.requestMemoryHeld, 100_000, "a body a worker holds must stay counted")
        for _ in 0..<100 where server.server.requestMemoryHeld != 0 { usleep(20_000) }
        XCTAssertEqual(server.server.requestMemoryHeld, 0, "given back once the handler has finished")
    }
}
