import Foundation
import Glibc
import XCTest
@testable import HTTPServer

/// Draining and stopping on a signal, over real loopback sockets.
final class HTTPServerShutdownTests: XCTestCase {
    func testSigtermDrainsAnInFlightRequestThenStops() throws {
        let server = try TestServer()
        server.server.handleSignals()
        let client = try TestClient(port: server.port)
        client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(200_000)
        kill(getpid(), SIGTERM)
        let response = try XCTUnwrap(client.readResponse(), "the in-flight request was dropped")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, #"{"slow":"done"}"#)
        XCTAssertEqual(response.headers["connection"], "close")
        server.join()
        XCTAssertThrowsError(try TestClient(port: server.port), "the listener should be closed")
    }

    /// Once a server that took the signals is gone, a signal must not write into
    /// whichever socket has taken its control descriptor's number since.
    func testASignalAfterTheServerIsGoneWritesIntoNoSocket() throws {
        do {
            let server = try TestServer()
            server.server.handleSignals()
            server.stop()
        }
        // Descriptors are handed out lowest first, so one of these has the closed one's number.
        var pairs: [[Int32]] = []
        defer { for pair in pairs { close(pair[0]); close(pair[1]) } }
        for _ in 0..<32 {
            var pair: [Int32] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
            pairs.append(pair)
        }
        kill(getpid(), SIGTERM)
        usleep(100_000)
        var byte: UInt8 = 0
        for pair in pairs {
            for end in pair {
                XCTAssertEqual(recv(end, &byte, 1, Int32(MSG_DONTWAIT)), -1, "the signal wrote into descriptor \(end)'s socket")
            }
        }
    }

    func testIdleKeepAliveConnectionsAreClosedOnShutdown() throws {
        let server = try TestServer()
        let client = try TestClient(port: server.port)
        client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let start = Date()
        server.stop()
        XCTAssertTrue(client.readEOF())
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testShutdownDoesNotWaitPastItsTimeoutForAStuckHandler() throws {
        let server = try TestServer {
            $0.shutdownDelay = 0
            $0.shutdownTimeout = 0.5
        }
        let client = try TestClient(port: server.port)
        client.send("GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
        let start = Date()
        server.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "the stuck handler (4 s) held up the shutdown")
        XCTAssertTrue(client.readEOF(), "its connection is closed at the deadline")
    }
}
