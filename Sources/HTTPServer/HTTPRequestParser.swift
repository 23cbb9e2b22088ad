/// Why a request could not be read. After one of these the byte stream has no
/// trustworthy framing any more, so the server answers and closes.
public struct HTTPParseError: Error, Sendable, Equatable {
    public let status: HTTPStatus
    public let detail: String

    init(_ status: HTTPStatus, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    public static func == (a: HTTPParseError, b: HTTPParseError) -> Bool { a.status == b.status && a.detail == b.detail }
}

/// Size limits the parser enforces while it reads, before anything is buffered past them.
public struct HTTPParserLimits: Sendable {
    public var maxTargetBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderCount = 100
    public var maxBodyBytes = 1024 * 1024

    public init() {}
}

/// An incremental HTTP/1.1 request parser in the manner of nginx's: an explicit
/// state, one byte at a time, no backtracking, so it can stop at any byte and
/// go on when more arrive. It is strict where leniency lets requests be
/// smuggled or mis-framed (RFC 9112 §2.2, §5, §6, §7).
///
/// The caller keeps the unconsumed bytes; `parse` says how many it consumed.
/// While the head is incomplete nothing is consumed, so positions remembered
/// into the caller's bytes stay valid between calls.
public struct HTTPRequestParser {
    public let limits: HTTPParserLimits

    enum State {
        case start, startLF, method, target, version, requestLineLF
        case fieldStart, fieldName, valueStart, value, fieldLF, headEndLF
        case body
        case chunkSize, chunkSizeBWS, chunkExtension, chunkSizeLF, chunkData, chunkDataCR, chunkDataLF
        case trailerStart, trailerName, trailerField, trailerFieldLF, trailerEndLF
    }

    var state = State.start
    /// How far into the current request's bytes the head has been scanned.
    private var pos = 0
    private var leadingEmptyLines = 0
    private var methodEnd = 0
    private var targetStart = 0
    private var versionStart = 0
    private var fieldNameStart = 0
    private var fieldNameEnd = 0
    private var valueStart = 0
    private var valueEnd = 0
    private var fields: [(name: Range<Int>, value: Range<Int>)] = []
    private var headStart = 0
    /// Where the field lines begin; 0 while still in the request line.
    private var fieldsStart = 0

    var request: HTTPRequest?
    var bodyRemaining = 0
    var chunkRemaining = 0
    var chunkLineBytes = 0
    var trailerBytes = 0
    var trailerCount = 0

    /// True once the head of a request with a body still to come has been read
    /// and the client asked for `100 Continue` before sending that body.
    public internal(set) var awaitingContinue = false
    /// True between the first byte of a request and its last.
    public var inProgress: Bool { state != .start || pos > 0 }
    /// True once the head is read and only the body is outstanding.
    public var readingBody: Bool { request != nil }
    /// Room taken by the body being read (a Content-Length body's is taken at once).
    var bodyCapacity: Int { request?.body.capacity ?? 0 }
    /// The head's fields once it is read, so that a request refused for its framing
    /// or body is still answered under its own id and with the headers every answer gets.
    public private(set) var headFields: HTTPHeaders?

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// The caller sent `100 Continue` (or chose not to).
    public mutating func continueHandled() { awaitingContinue = false }

    /// Feeds the unconsumed bytes. Returns how many were consumed and, when the
    /// bytes complete one, the request; the rest stays for the next call.
    public mutating func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (consumed: Int, request: HTTPRequest?) {
        if request == nil {
            guard try parseHead(bytes) else { return (0, nil) }
            // The head is consumed; the body (if any) is read from where it ended.
            let headBytes = pos
            pos = 0
            if state == .body && bodyRemaining == 0 { return (headBytes, finish()) }
            let (bodyConsumed, done) = try parseBody(UnsafeBufferPointer(rebasing: bytes[headBytes...]))
            return (headBytes + bodyConsumed, done)
        }
        let (consumed, done) = try parseBody(bytes)
        return (consumed, done)
    }

    mutating func finish() -> HTTPRequest? {
        let done = request.take()
        // Back to the start, keeping the field array's storage for the next request
        // unless an unusually long head grew it (an idle connection stays small).
        var fields = self.fields
        self.fields = []
        fields.removeAll(keepingCapacity: fields.capacity <= 32)
        self = HTTPRequestParser(limits: limits)
        self.fields = fields
        return done
    }

    // MARK: - The head

    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// field-vchar / SP / HTAB: visible ASCII and obs-text; never NUL, CR, LF or another control.
    static func isValueChar(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }

    static let bad = HTTPStatus.badRequest
    static let bareLF = "A line ends in a bare LF; HTTP/1.1 lines end in CRLF."
    static let badVersion = "The request line must end with HTTP/1.1 or HTTP/1.0 and CRLF."

    /// Scans the head from `pos`; true once the empty line that ends it has been read.
    private mutating func parseHead(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> Bool {
        let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, sp: UInt8 = 0x20, ht: UInt8 = 0x09
        while pos < bytes.count {
            let b = bytes[pos]
            switch state {
            case .start:
                // RFC 9112 §2.2: ignore at least one empty line before the request-line.
                if b == cr { state = .startLF; break }
                guard HTTPRequestParser.isTokenChar(b) else { throw HTTPParseError(Self.bad, "The request line must start with a method token.") }
                headStart = pos
                state = .method
            case .startLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A CR must be followed by LF.") }
                leadingEmptyLines += 1
                guard leadingEmptyLines <= 4 else { throw HTTPParseError(Self.bad, "Too many empty lines before the request line.") }
                state = .start
            case .method:
                if b == sp {
                    methodEnd = pos
                    targetStart = pos + 1
                    state = .target
                } else if !HTTPRequestParser.isTokenChar(b) {
                    throw HTTPParseError(Self.bad, "The method must be a token followed by a single space.")
                } else if pos - headStart >= 32 {
                    // RFC 9112 §3: longer than any method implemented is 501, not 400.
                    throw HTTPParseError(.notImplemented, "The request method is longer than 32 characters, longer than any this server implements.")
                }
            case .target:
                if b == sp {
                    guard pos > targetStart else { throw HTTPParseError(Self.bad, "The request target is empty.") }
                    versionStart = pos + 1
                    state = .version
                } else if b <= sp || b >= 0x7F {
                    // CR or LF here is an HTTP/0.9-style line ("GET /path"): no version follows the target.
                    throw HTTPParseError(Self.bad, b == cr || b == lf
                        ? Self.badVersion
                        : "The request target contains a character that must be percent-encoded.")
                } else if b == UInt8(ascii: "#") {
                    // A fragment stays with the client (RFC 9112 3.2); one sent is a malformed target, not part of the path.
                    throw HTTPParseError(Self.bad, "The request target must not contain a fragment ('#'); percent-encode it as %23.")
                } else if pos - targetStart >= limits.maxTargetBytes {
                    throw HTTPParseError(.uriTooLong, "The request target is longer than \(limits.maxTargetBytes) bytes.")
                }
            case .version:
                if b == cr {
                    try checkVersion(bytes)
                    state = .requestLineLF
                } else if pos - versionStart >= 8 {
                    throw HTTPParseError(Self.bad, Self.badVersion)
                }
            case .requestLineLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A CR must be followed by LF.") }
                fieldsStart = pos + 1
                state = .fieldStart
            case .fieldStart:
                if b == cr {
                    state = .headEndLF
                } else if b == sp || b == ht {
                    throw HTTPParseError(Self.bad, "Obsolete line folding (a field line starting with whitespace) is not accepted.")
                } else if HTTPRequestParser.isTokenChar(b) {
                    guard fields.count < limits.maxHeaderCount else {
                        throw HTTPParseError(.headersTooLarge, "More than \(limits.maxHeaderCount) header fields.")
                    }
                    fieldNameStart = pos
                    state = .fieldName
                } else if b == lf {
                    throw HTTPParseError(Self.bad, Self.bareLF)
                } else {
                    throw HTTPParseError(Self.bad, "A header field name contains an invalid character.")
                }
            case .fieldName:
                if b == UInt8(ascii: ":") {
                    fieldNameEnd = pos
                    valueStart = pos + 1
                    valueEnd = pos + 1
                    state = .valueStart
                } else if b == sp || b == ht {
                    throw HTTPParseError(Self.bad, "Whitespace between a header field name and its colon is not allowed.")
                } else if b == cr || b == lf {
                    throw HTTPParseError(Self.bad, "A header field line has no colon.")
                } else if !HTTPRequestParser.isTokenChar(b) {
                    throw HTTPParseError(Self.bad, "A header field name contains an invalid character.")
                }
            case .valueStart:
                if b == sp || b == ht {
                    valueStart = pos + 1
                    valueEnd = pos + 1
                } else if b == cr {
                    state = .fieldLF
                } else if HTTPRequestParser.isValueChar(b) {
                    valueEnd = pos + 1
                    state = .value
                } else {
                    throw HTTPParseError(Self.bad, "A header field value contains a control character (NUL, bare CR or LF).")
                }
            case .value:
                if b == cr {
                    state = .fieldLF
                } else if HTTPRequestParser.isValueChar(b) {
                    if b != sp && b != ht { valueEnd = pos + 1 }
                } else {
                    throw HTTPParseError(Self.bad, "A header field value contains a control character (NUL, bare CR or LF).")
                }
            case .fieldLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A bare CR in a header field is not allowed.") }
                fields.append((fieldNameStart..<fieldNameEnd, valueStart..<valueEnd))
                state = .fieldStart
            case .headEndLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A CR must be followed by LF.") }
                pos += 1
                try buildRequest(bytes)
                return true
            default:
                fatalError("head parser in body state \(state)")
            }
            pos += 1
            // The header section is its field lines (RFC 9112 §2.1), not the empty line that ends it.
            if fieldsStart > 0 && pos - fieldsStart > limits.maxHeaderBytes && state != .headEndLF {
                throw HTTPParseError(.headersTooLarge, "The header section is larger than \(limits.maxHeaderBytes) bytes.")
            }
        }
        return false
    }

    private var minorVersion = 1

    private mutating func checkVersion(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) {
        let v = bytes[versionStart..<pos]
        guard v.count == 8, v.starts(with: "HTTP/".utf8),
              case let major = v[versionStart + 5], case let dot = v[versionStart + 6], case let minor = v[versionStart + 7],
              dot == UInt8(ascii: "."),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(major), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(minor)
        else {
            throw HTTPParseError(Self.bad, Self.badVersion)
        }
        guard major == UInt8(ascii: "1") else {
            throw HTTPParseError(.versionNotSupported, "Only HTTP/1.0 and HTTP/1.1 are served here.")
        }
        // RFC 9110 §6.2: a higher 1.x minor version is answered as 1.1.
        minorVersion = minor == UInt8(ascii: "0") ? 0 : 1
    }

    private func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A field name (tchar only, so ASCII) lowercased while it is copied.
    private static func lowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(unsafeUninitializedCapacity: range.count) { out in
            for (i, b) in bytes[range].enumerated() {
                out[i] = b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b
            }
            return range.count
        }
    }

    /// The head is complete: check framing and host, then decide how the body is read.
    private mutating func buildRequest(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) {
        let method = HTTPMethod(rawValue: string(bytes, headStart..<methodEnd))
        var target = string(bytes, targetStart..<(versionStart - 1))
        var headers = HTTPHeaders()
        for field in fields {
            headers.append(key: HTTPRequestParser.lowercased(bytes, field.name), value: string(bytes, field.value))
        }
        headFields = headers

        // One pass over the fields for everything framing depends on.
        var hostCount = 0
        var host = ""
        var lengths: [String] = []
        var hasTransferEncoding = false
        var expect: String?
        headers.forEachField { key, _, value in
            switch key {
            case "host": hostCount += 1; host = value
            case "content-length": lengths.append(value)
            case "transfer-encoding": hasTransferEncoding = true
            case "expect": expect = value
            default: break
            }
        }

        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one.
        if hostCount > 1 { throw HTTPParseError(Self.bad, "More than one Host header field.") }
        if minorVersion == 1 && hostCount == 0 { throw HTTPParseError(Self.bad, "An HTTP/1.1 request must have a Host header field.") }
        if hostCount == 1 && !HTTPRequestParser.isValidHost(host) {
            throw HTTPParseError(Self.bad, "The Host header field is not a valid host[:port].")
        }
        target = try HTTPRequestParser.originForm(of: target, method: method)

        var request = HTTPRequest(method: method, target: target, minorVersion: minorVersion, headers: headers)

        if hasTransferEncoding {
            let codings = headers.tokens(key: "transfer-encoding")
            // RFC 9112 §6.1 and §6.3: these are the framings that let requests be smuggled.
            if minorVersion == 0 { throw HTTPParseError(Self.bad, "Transfer-Encoding is not allowed in an HTTP/1.0 request.") }
            if !lengths.isEmpty { throw HTTPParseError(Self.bad, "A request must not have both Content-Length and Transfer-Encoding.") }
            guard codings.last == "chunked" else {
                throw HTTPParseError(Self.bad, "The final transfer coding must be chunked.")
            }
            guard codings.count == 1 else {
                if codings.dropLast().contains("chunked") { throw HTTPParseError(Self.bad, "chunked may be applied only once.") }
                throw HTTPParseError(.notImplemented, "Only the chunked transfer coding is supported.")
            }
            state = .chunkSize
        } else if !lengths.isEmpty {
            var length: Int?
            for member in lengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
                let text = member.trimmingOWS()
                guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw HTTPParseError(Self.bad, "Content-Length must be a decimal number.")
                }
                // More than 18 digits after the leading zeros cannot fit; it is over any limit anyway.
                let value = text.utf8.drop(while: { $0 == UInt8(ascii: "0") }).count > 18 ? Int.max : Int(text)!
                if let previous = length, previous != value {
                    throw HTTPParseError(Self.bad, "Content-Length values differ.")
                }
                length = value
            }
            bodyRemaining = length ?? 0
            guard bodyRemaining <= limits.maxBodyBytes else {
                throw HTTPParseError(.contentTooLarge, "The request body is larger than the limit of \(limits.maxBodyBytes) bytes.")
            }
            request.body.reserveCapacity(bodyRemaining)
            state = .body
        } else {
            state = .body
            bodyRemaining = 0
        }

        if let expect {
            guard expect.trimmingOWS().lowercased() == "100-continue" else {
                throw HTTPParseError(.expectationFailed, "Only the 100-continue expectation is supported.")
            }
            // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
            awaitingContinue = minorVersion == 1 && (state != .body || bodyRemaining > 0)
        }
        self.request = request
    }
}
