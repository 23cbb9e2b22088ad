import Foundation
import Glibc
import XCTest
@testable import HTTPServer

/// The server over real loopback sockets.
final class HTTPServerTests: XCTestCase {
    func testHealthAndCommonHeaders() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, #"{"status":"ok"}"#)
        XCTAssertEqual(response.headers["content-length"], "15")
        XCTAssertEqual(response.headers["x-request-id"], "abc-123")
        XCTAssertNotNil(response.headers["date"])
        XCTAssertTrue(response.headers["date"]!.hasSuffix(" GMT"))
    }

    func testInsaneRequestIdIsReplaced() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: has spaces\r\n\r\n")
        let id = try XCTUnwrap(client.readResponse()?.headers["x-request-id"])
        XCTAssertNotEqual(id, "has spaces")
        XCTAssertFalse(id.isEmpty)
    }

    func testARequestRefusedAfterItsHeadKeepsItsRequestId() throws {
        let server = try TestServer()
        defer { server.stop() }
        let tooLarge = try TestClient(port: server.port)
        tooLarge.send("POST /echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: big-1\r\nContent-Length: 99999999\r\n\r\n")
        let refused = try XCTUnwrap(tooLarge.readResponse())
        XCTAssertEqual(refused.status, 413)
        XCTAssertEqual(refused.headers["x-request-id"], "big-1")
        // The id belongs to the request that sent it, not to the next one on the connection.
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: first\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.headers["x-request-id"], "first")
        let malformed = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(malformed.status, 400)
        XCTAssertNotEqual(malformed.headers["x-request-id"], "first")
    }

    func testThreePipelinedRequestsInOneWrite() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send(
            "GET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo"
                + "GET /items/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, #"{"id":"1"}"#)
        XCTAssertEqual(client.readResponse()?.text, "two")
        XCTAssertEqual(client.readResponse()?.text, #"{"id":"3"}"#)
    }

    func testRequestInOneByteWrites() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        var on: Int32 = 1
        setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        for byte in "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbyte\r\n0\r\n\r\n".utf8 {
            client.send([byte])
            usleep(200)
        }
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "byte")
    }

    func testNotFoundAndMethodNotAllowedAreProblemDocuments() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /nope HTTP/1.1\r\nHost: t\r\n\r\nDELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\nQUERY /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        let notFound = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual(notFound.headers["content-type"], "application/problem+json")
        let json = try JSONSerialization.jsonObject(with: Data(notFound.body)) as! [String: Any]
        XCTAssertEqual(json["status"] as? Int, 404)
        let notAllowed = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(notAllowed.status, 405)
        XCTAssertEqual(notAllowed.headers["allow"], "GET, HEAD")
        // 405 rather than 501: schemathesis (and the contract's "405 wrong method") expect it for QUERY and the like.
        XCTAssertEqual(client.readResponse()?.status, 405, "an unknown method on a known path is 405 too")
    }

    func testOptionsAsteriskDescribesTheServerAndOtherMethodsMayNotUseIt() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        let options = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(options.status, 204)
        XCTAssertEqual(options.headers["allow"], "GET, HEAD, POST", "every method some route answers")
        client.send("GET * HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 400)
    }

    func testHeadHasLengthButNoBody() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        // If HEAD carried a body, the second response would be misread from its bytes.
        client.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = try XCTUnwrap(client.readRaw(until: #"{"id":"2"}"#), "connection ended early")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertTrue(text.contains("Content-Length: 15\r\n"))
        XCTAssertFalse(text.contains(#"{"status":"ok"}"#))
    }

    func testIfNoneMatchWithTheCurrentTagGets304WithoutContent() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        for (condition, status) in [(#""v1""#, 304), (#"W/"v1""#, 304), (#""v0", "v1""#, 304), ("*", 304),
                                    (#""v2""#, 200), ("v1", 200), (#""v0" "v1""#, 200)] {
            client.send("GET /tagged HTTP/1.1\r\nHost: t\r\nIf-None-Match: \(condition)\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse(), condition)
            XCTAssertEqual(response.status, status, condition)
            XCTAssertEqual(response.headers["etag"], #""v1""#, condition)
            XCTAssertEqual(response.headers["cache-control"], "no-cache", "kept on a 304 too (RFC 9110 §15.4.5)")
            if status == 304 {
                XCTAssertEqual(response.headers["content-length"], "13", "the held content's length (RFC 9110 §8.6), none of it sent")
                XCTAssertNil(response.headers["content-type"])
            }
        }
        // No content follows a 304: the next answer on the connection starts right after its head.
        client.send("GET /tagged HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\nGET /items/7 HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = try XCTUnwrap(client.readRaw(until: #"{"id":"7"}"#), "connection ended early")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 304 Not Modified\r\n"), text)
        XCTAssertTrue(text.contains("\r\n\r\nHTTP/1.1 200 OK\r\n"), text)
        // Only a GET or HEAD answered 200 becomes a 304.
        client.send("HEAD /tagged HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 304)
        client.send("GET /items/7 HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200, "no ETag, no 304")
    }

    func testHTTP10ClosesUnlessKeepAliveAsked() throws {
        let server = try TestServer()
        defer { server.stop() }
        let closing = try TestClient(port: server.port)
        closing.send("GET /healthz HTTP/1.0\r\n\r\n")
        XCTAssertEqual(closing.readResponse()?.headers["connection"], "close")
        XCTAssertTrue(closing.readEOF())

        let keeping = try TestClient(port: server.port)
        keeping.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(keeping.readResponse()?.headers["connection"], "keep-alive")
        keeping.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(keeping.readResponse()?.status, 200)
    }

    func testConnectionCloseIsHonoured() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.headers["connection"], "close")
        XCTAssertTrue(client.readEOF())
    }

    func testMalformedRequestGets400AndClose() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(response.headers["content-type"], "application/problem+json")
        XCTAssertEqual(response.headers["connection"], "close")
        XCTAssertTrue(client.readEOF())
    }

    func testExpectContinueWithCurlIsPrompt() throws {
        let server = try TestServer()
        defer { server.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        let body = String(repeating: "x", count: 2000)
        // curl sends Expect: 100-continue for bodies over 1 KiB (with -H to be sure) and waits 1 s without a 100.
        process.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue", "--data-binary", body,
                             "http://127.0.0.1:\(server.port)/echo"]
        let pipe = Pipe()
        process.standardOutput = pipe
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "200")
        XCTAssertLessThan(elapsed, 0.9, "curl waited for a 100 Continue that never came")
    }

    func testExpectContinueSeenOnTheWire() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 100)
        client.send("body")
        XCTAssertEqual(client.readResponse()?.text, "body")
    }

    func testExpectContinueGetsTheFinalAnswerInsteadWhenTheHeadAloneDecidesIt() throws {
        let server = try TestServer()
        defer { server.stop() }
        // No route takes it, or its route answers from the head on the event loop.
        for (head, status) in [("POST /nowhere", 404), ("PUT /echo", 405), ("POST /items/%zz", 400), ("GET /cached?hit", 200)] {
            let client = try TestClient(port: server.port)
            client.send("\(head) HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse(), head)
            XCTAssertEqual(response.status, status, head)
            XCTAssertEqual(response.headers["connection"], "close", head)
            if status == 405 { XCTAssertEqual(response.headers["allow"], "POST") }
            // A client that stopped waiting sends its body anyway: drained, never taken for a request.
            client.send("body")
            XCTAssertTrue(client.readEOF(), head)
        }
        // Chunked, too.
        let chunked = try TestClient(port: server.port)
        chunked.send("POST /nowhere HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertEqual(chunked.readResponse()?.status, 404)
        // A route that has no answer from the head wants the body.
        let wanted = try TestClient(port: server.port)
        wanted.send("GET /cached HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(wanted.readResponse()?.status, 100)
        wanted.send("body")
        XCTAssertEqual(wanted.readResponse()?.body, Array(#"{"from":"worker"}"#.utf8))
    }

    func testAddedHeadersReachEveryAnswerToARequestWhoseHeadWasRead() throws {
        let server = try TestServer(configure: {
            $0.workerThreads = 1
            $0.workerQueueCapacity = 1
        }, addHeaders: { fields, response in response.headers.set("X-Added", fields["x-probe"] ?? "none") })
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        for (request, status) in [("GET /healthz", 200), ("GET /nowhere", 404), ("DELETE /healthz", 405), ("GET /cached?hit", 200),
                                  ("GET /items/7", 200)] {
            client.send("\(request) HTTP/1.1\r\nHost: t\r\nX-Probe: \(request)\r\n\r\n")
            let response = client.readResponse()
            XCTAssertEqual(response?.status, status, request)
            XCTAssertEqual(response?.headers["x-added"], request, request)
        }
        // The server's own 503 when no worker can take the request.
        let clients = try (0..<3).map { _ in try TestClient(port: server.port) }
        for (n, client) in clients.enumerated() {
            client.send("GET /slow HTTP/1.1\r\nHost: t\r\nX-Probe: slow \(n)\r\n\r\n")
            usleep(50_000)
        }
        let busy = clients.map { $0.readResponse() }[2]
        XCTAssertEqual(busy?.status, 503)
        XCTAssertEqual(busy?.headers["x-added"], "slow 2")
        // Refused after the head was read (the body), and before (the request line).
        for (request, status, added) in [("POST /healthz HTTP/1.1\r\nHost: t\r\nX-Probe: big\r\nContent-Length: 99999999\r\n\r\n", 413, "big"),
                                         ("POST /healthz HTTP/1.1\r\nHost: t\r\nX-Probe: te\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "te"),
                                         ("GET /a#b HTTP/1.1\r\nHost: t\r\nX-Probe: fragment\r\n\r\n", 400, nil)] {
            let client = try TestClient(port: server.port)
            client.send(request)
            let response = client.readResponse()
            XCTAssertEqual(response?.status, status, request)
            XCTAssertEqual(response?.headers["x-added"], added, request)
        }
    }

    func testAHeaderValueCannotSplitTheHead() throws {
        let server = try TestServer(addHeaders: { _, response in response.headers.set("X-Added", "a\r\nInjected: yes\u{0}\nb") })
        defer { server.stop() }
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = client.readResponse()
        XCTAssertEqual(response?.headers["x-added"], "aInjected: yesb")
        XCTAssertNil(response?.headers["injected"])
        XCTAssertEqual(response?.body, Array(#"{"status":"ok"}"#.utf8))
    }

    func testAnswerFromTheLoopNeedsNoWorkerAndAMissGoesToOne() throws {
        let server = try TestServer { $0.workerThreads = 1 }
        defer { server.stop() }
        let busy = try TestClient(port: server.port)
        busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")  // the only worker, for 0.8 s
        usleep(100_000)
        let client = try TestClient(port: server.port)
        let start = Date()
        client.send("GET /cached?hit HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, #"{"from":"loop"}"#)
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.5, "a hit waited for the busy worker")
        client.send("GET /cached HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, #"{"from":"worker"}"#)
        XCTAssertEqual(busy.readResponse()?.status, 200)
    }

    /// Event loops follow a container's CPU limit: cgroup v2's cpu.max (what current
    /// Kubernetes nodes have) or v1's CFS files, rounded up, never above the affinity.
    func testUsableCoresFollowTheCgroupCPULimit() throws {
        let files = FileManager.default
        let root = files.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)")
        try files.createDirectory(at: root.appendingPathComponent("cpu"), withIntermediateDirectories: true)
        defer { try? files.removeItem(at: root) }
        func cores(_ contents: [String: String]) throws -> Int {
            for name in ["cpu.max", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"] {
                try? files.removeItem(at: root.appendingPathComponent(name))
            }
            for (name, text) in contents { try text.write(to: root.appendingPathComponent(name), atomically: true, encoding: .utf8) }
            return HTTPServer.Configuration.usableCores(cgroupRoot: root.path)
        }
        let affinity = try cores([:])
        XCTAssertGreaterThanOrEqual(affinity, 1)
        XCTAssertEqual(try cores(["cpu.max": "max 100000\n"]), affinity)
        XCTAssertEqual(try cores(["cpu.max": "50000 100000\n"]), 1)
        XCTAssertEqual(try cores(["cpu.max": "150000 100000\n"]), min(affinity, 2))
        XCTAssertEqual(try cores(["cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"]), affinity)
        XCTAssertEqual(try cores(["cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"]), min(affinity, 3))
        XCTAssertEqual(try cores(["cpu.max": "100000 100000\n", "cpu/cpu.cfs_quota_us": "250000\n",
                                  "cpu/cpu.cfs_period_us": "100000\n"]), 1)
    }
}
