import XCTest
@testable import HTTPServer

/// Feeds bytes to a parser the way a connection does: appended to a buffer in
/// chunks, consumed as the parser says.
private struct Feeder {
    var parser: HTTPRequestParser
    var buffer: [UInt8] = []
    var requests: [HTTPRequest] = []
    var sawContinue = false

    init(limits: HTTPParserLimits = HTTPParserLimits()) { parser = HTTPRequestParser(limits: limits) }

    mutating func feed(_ bytes: [UInt8]) throws(HTTPParseError) {
        buffer += bytes
        while true {
            let (consumed, request) = try buffer.withUnsafeBufferPointer { b throws(HTTPParseError) in try parser.parse(b) }
            buffer.removeFirst(consumed)
            if parser.awaitingContinue { sawContinue = true; parser.continueHandled() }
            guard let request else { return }
            requests.append(request)
        }
    }
}

/// Parses `text` whole and one byte at a time; both must agree.
private func parse(_ text: String, limits: HTTPParserLimits = HTTPParserLimits(), file: StaticString = #filePath, line: UInt = #line) throws(HTTPParseError) -> [HTTPRequest] {
    var whole = Feeder(limits: limits)
    var wholeError: HTTPParseError?
    do { try whole.feed(Array(text.utf8)) } catch { wholeError = error }

    var bytewise = Feeder(limits: limits)
    var bytewiseError: HTTPParseError?
    for byte in text.utf8 {
        do { try bytewise.feed([byte]) } catch { bytewiseError = error; break }
    }
    XCTAssertEqual(wholeError, bytewiseError, "whole and byte-at-a-time parsing disagree", file: file, line: line)
    XCTAssertEqual(whole.requests.count, bytewise.requests.count, file: file, line: line)
    for (a, b) in zip(whole.requests, bytewise.requests) {
        XCTAssertEqual(a.target, b.target, file: file, line: line)
        XCTAssertEqual(a.body, b.body, file: file, line: line)
    }
    if let wholeError { throw wholeError }
    return whole.requests
}

private func expectError(_ status: HTTPStatus, _ text: String, saying words: String? = nil, limits: HTTPParserLimits = HTTPParserLimits(),
                         file: StaticString = #filePath, line: UInt = #line) {
    do {
        let requests = try parse(text, limits: limits, file: file, line: line)
        XCTFail("expected \(status.code), parsed \(requests.count) request(s)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.status.code, status.code, error.detail, file: file, line: line)
        if let words { XCTAssertTrue(error.detail.contains(words), "\"\(error.detail)\" does not say \"\(words)\"", file: file, line: line) }
    }
}

final class HTTPRequestParserTests: XCTestCase {
    func testSimpleGet() throws {
        let requests = try parse("GET /healthz?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n")
        XCTAssertEqual(requests.count, 1)
        let r = requests[0]
        XCTAssertEqual(r.method, .GET)
        XCTAssertEqual(r.path, "/healthz")
        XCTAssertEqual(r.query, "x=1")
        XCTAssertEqual(r.minorVersion, 1)
        XCTAssertEqual(r.headers["HOST"], "example.com")
        XCTAssertEqual(r.headers["accept"], "*/*")
        XCTAssertTrue(r.body.isEmpty)
    }

    func testValueWhitespaceIsTrimmed() throws {
        let r = try parse("GET / HTTP/1.1\r\nHost:   a  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n")[0]
        XCTAssertEqual(r.headers["host"], "a")
        XCTAssertEqual(r.headers["x-empty"], "")
        XCTAssertEqual(r.headers["x-tab"], "v")
    }

    func testPipelinedRequestsAllParse() throws {
        let one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        let two = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        let three = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
        let requests = try parse(one + two + three)
        XCTAssertEqual(requests.map(\.path), ["/a", "/b", "/c"])
        XCTAssertEqual(requests[1].body, Array("abc".utf8))
    }

    func testLeadingEmptyLineIsIgnored() throws {
        XCTAssertEqual(try parse("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").count, 1)
    }

    // MARK: Line endings and forbidden characters

    func testBareLFIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\n\n", saying: "bare LF")
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        expectError(.badRequest, chunked + "2\n{}\r\n0\r\n\r\n", saying: "bare LF")
        expectError(.badRequest, chunked + "2\r\n{}\r\n0\r\n\n", saying: "bare LF")
    }

    func testFieldLineWithoutColonIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", saying: "no colon")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nX-A\n\r\n", saying: "no colon")
    }

    func testBareCRIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\rHost: x\r\n\r\n")
    }

    func testNULInValueIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{0}b\r\n\r\n")
    }

    func testLFInValueIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n")
    }

    func testObsFoldIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")
    }

    func testWhitespaceBeforeColonIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 0\r\n\r\n")
    }

    func testInvalidFieldNameIsRejected() {
        expectError(.badRequest, "GET / HTTP/1.1\r\nHo(st: x\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\n: x\r\n\r\n")
    }

    func testMalformedRequestLines() {
        expectError(.badRequest, "GET  / HTTP/1.1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1 \r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET / http/1.1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET example.com HTTP/1.1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "G\u{1}T / HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    func testUnknownOrMissingVersion() {
        expectError(.versionNotSupported, "GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET /healthz\r\n\r\n", saying: "must end with HTTP/1.1")
        expectError(.badRequest, "GET /healthz\n\n", saying: "must end with HTTP/1.1")
    }

    func testAnyMethodTokenParses() throws {
        XCTAssertEqual(try parse("BREW / HTTP/1.1\r\nHost: x\r\n\r\n")[0].method.rawValue, "BREW")
        XCTAssertEqual(try parse(String(repeating: "X", count: 32) + " / HTTP/1.1\r\nHost: x\r\n\r\n")[0].method.rawValue.count, 32)
        expectError(.notImplemented, String(repeating: "X", count: 33) + " / HTTP/1.1\r\nHost: x\r\n\r\n")
        expectError(.notImplemented, String(repeating: "X", count: 5000))
    }

    func testHigherMinorVersionIsServedAsHTTP11() throws {
        XCTAssertEqual(try parse("GET / HTTP/1.7\r\nHost: x\r\n\r\n")[0].minorVersion, 1)
    }

    func testAbsoluteFormIsReducedToPath() throws {
        XCTAssertEqual(try parse("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n")[0].target, "/a/b?c=d")
        XCTAssertEqual(try parse("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")[0].target, "/")
        XCTAssertEqual(try parse("GET https://[::1]:8080?a HTTP/1.1\r\nHost: x\r\n\r\n")[0].target, "/?a")
    }

    func testAbsoluteFormAuthorityIsHeldToHostRules() {
        expectError(.badRequest, "GET http://user@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        expectError(.badRequest, "GET http:///healthz HTTP/1.1\r\nHost: example.com\r\n\r\n")
        expectError(.badRequest, "GET http://a:b/ HTTP/1.1\r\nHost: a\r\n\r\n")
    }

    // MARK: Host

    func testHTTP11NeedsExactlyOneHost() {
        expectError(.badRequest, "GET / HTTP/1.1\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
        expectError(.badRequest, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")
    }

    func testHostIsAHostAndAnOptionalPort() throws {
        for bad in ["a:b:c", "a:80x", "[::1", "[]:80", "[::1]x", "a]:80", "user@a"] {
            expectError(.badRequest, "GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n")
        }
        for good in ["", "a", "shop.example.com:8080", "127.0.0.1", "[::1]", "[::1]:8080", "a:", "xn--bcher-kva.example"] {
            XCTAssertEqual(try parse("GET / HTTP/1.1\r\nHost: \(good)\r\n\r\n").count, 1, good)
        }
    }

    func testHTTP10MayOmitHost() throws {
        XCTAssertEqual(try parse("GET / HTTP/1.0\r\n\r\n")[0].minorVersion, 0)
    }

    // MARK: Content-Length

    func testContentLengthBody() throws {
        let r = try parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")[0]
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "hello")
    }

    func testContentLengthWithLeadingZeros() throws {
        let r = try parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 000000000000000000000000005\r\n\r\nhello")[0]
        XCTAssertEqual(String(decoding: r.body, as: UTF8.self), "hello")
    }

    func testContentLengthMustBeDigits() {
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n")
    }

    func testContentLengthOverflowIsGuarded() {
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n")
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551617\r\n\r\n")
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0000000000000000000018446744073709551617\r\n\r\n")
    }

    func testDifferingDuplicateContentLengthsAreRejected() {
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!")
    }

    func testIdenticalDuplicateContentLengthsAreAccepted() throws {
        XCTAssertEqual(try parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")[0].body.count, 2)
    }

    func testBodyOverLimitIsRefusedBeforeReadingIt() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 10
        // No body bytes follow the head: the refusal must not wait for them.
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: limits)
    }

    // MARK: Transfer-Encoding

    func testChunkedBodyIsDecoded() throws {
        let text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
        XCTAssertEqual(String(decoding: try parse(text)[0].body, as: UTF8.self), "hello, world")
    }

    func testChunkedTrailersAreAcceptedAndDropped() throws {
        let text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
        let requests = try parse(text)
        XCTAssertEqual(requests.count, 2)
        XCTAssertNil(requests[0].headers["x-checksum"])
        XCTAssertEqual(requests[1].path, "/next")
    }

    func testChunkedUpperCaseHexAndCodingCase() throws {
        let text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"
        XCTAssertEqual(try parse(text)[0].body.count, 10)
    }

    func testContentLengthWithTransferEncodingIsRejected() {
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    }

    func testTransferEncodingNotEndingInChunkedIsRejected() {
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")
        expectError(.badRequest, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n")
    }

    func testUnsupportedCodingBeforeChunkedIsNotImplemented() {
        expectError(.notImplemented, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    }

    func testTransferEncodingInHTTP10IsRejected() {
        expectError(.badRequest, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    }

    /// RFC 9112 §7.1: chunk-size = 1*HEXDIG, so leading zeros are part of the number, not digits that make it larger.
    func testChunkSizeWithLeadingZeros() throws {
        let text = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "0", count: 30)
            + "5\r\nhello\r\n" + String(repeating: "0", count: 30) + "\r\n\r\n"
        XCTAssertEqual(String(decoding: try parse(text)[0].body, as: UTF8.self), "hello")
    }

    func testChunkSizeOverflowIsGuarded() {
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n")
    }

    func testChunkedBodyOverLimit() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 8
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n", limits: limits)
    }

    func testMalformedChunks() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        expectError(.badRequest, head + "g\r\n")
        expectError(.badRequest, head + "\r\n")
        expectError(.badRequest, head + "3\r\nabcX\r\n")
        expectError(.badRequest, head + "3\nabc\r\n")
        expectError(.badRequest, head + "3 \r\nabc\r\n")
        expectError(.badRequest, head + "0\r\nBad Trailer\u{0}\r\n\r\n")
    }

    /// Dropped, but parsed by the header rules: a proxy in front that reads a
    /// malformed trailer differently must not see a different message boundary.
    func testMalformedTrailerFieldsAreRejected() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        expectError(.badRequest, head + "Bad Trailer: 1\r\n\r\n")
        expectError(.badRequest, head + "X-Checksum : 1\r\n\r\n")
        expectError(.badRequest, head + "NoColon\r\n\r\n")
        expectError(.badRequest, head + " X-Checksum: 1\r\n\r\n")
        expectError(.badRequest, head + "X-Checksum: 1\nX: 2\r\n\r\n")
    }

    // MARK: Size limits

    func testAFragmentInTheTargetIs400() {
        expectError(.badRequest, "GET /healthz#top HTTP/1.1\r\nHost: x\r\n\r\n")
        expectError(.badRequest, "GET /api/v1/products?q=a#b HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    func testTargetOver8KiBIs414() {
        expectError(.uriTooLong, "GET /" + String(repeating: "a", count: 8 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    func testTargetOf8KiBIsAccepted() throws {
        XCTAssertEqual(try parse("GET /" + String(repeating: "a", count: 8 * 1024 - 1) + " HTTP/1.1\r\nHost: x\r\n\r\n").count, 1)
    }

    func testHeaderBlockOver16KiBIs431() {
        let big = String(repeating: "v", count: 16 * 1024)
        expectError(.headersTooLarge, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
    }

    func testHeaderSectionOf16KiBIsAcceptedAndOneByteMoreIs431() throws {
        // Field lines with their CRLFs, without the empty line that ends the head.
        let lines = { (size: Int) in "Host: x\r\nX-Big: " + String(repeating: "v", count: size - 18) + "\r\n" }
        XCTAssertEqual(lines(16 * 1024).utf8.count, 16 * 1024)
        XCTAssertEqual(try parse("GET / HTTP/1.1\r\n" + lines(16 * 1024) + "\r\n").count, 1)
        expectError(.headersTooLarge, "GET / HTTP/1.1\r\n" + lines(16 * 1024 + 1) + "\r\n")
    }

    func testMoreThan100FieldsIs431() throws {
        let hundred = (1...99).map { "X-\($0): v\r\n" }.joined()
        XCTAssertEqual(try parse("GET / HTTP/1.1\r\nHost: x\r\n\(hundred)\r\n").count, 1)
        expectError(.headersTooLarge, "GET / HTTP/1.1\r\nHost: x\r\n\(hundred)X-101: v\r\n\r\n")
    }

    // MARK: Expect

    func testExpectContinueIsSignalledOncePerBody() throws {
        var feeder = Feeder()
        try feeder.feed(Array("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        XCTAssertTrue(feeder.sawContinue)
        XCTAssertEqual(feeder.requests.count, 0)
        try feeder.feed(Array("ok".utf8))
        XCTAssertEqual(feeder.requests.count, 1)
    }

    func testExpectContinueWithBodyAlreadySentNeedsNoContinue() throws {
        var feeder = Feeder()
        try feeder.feed(Array("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok".utf8))
        XCTAssertFalse(feeder.sawContinue)
        XCTAssertEqual(feeder.requests.count, 1)
    }

    func testExpectContinueIgnoredInHTTP10() throws {
        var feeder = Feeder()
        try feeder.feed(Array("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        XCTAssertFalse(feeder.sawContinue)
    }

    func testUnknownExpectationIs417() {
        expectError(.expectationFailed, "POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\nok")
    }

    func testExpectContinueWithOversizeBodyIs413() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 1
        expectError(.contentTooLarge, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", limits: limits)
    }

    // MARK: State between requests

    func testInProgressTracksPartialRequests() throws {
        var feeder = Feeder()
        XCTAssertFalse(feeder.parser.inProgress)
        try feeder.feed(Array("GET / HT".utf8))
        XCTAssertTrue(feeder.parser.inProgress)
        try feeder.feed(Array("TP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(feeder.requests.count, 1)
        XCTAssertFalse(feeder.parser.inProgress)
    }
}
