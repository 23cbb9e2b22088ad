import JSON

/// What a handler returns. The server adds `Date`, `Content-Length`,
/// `Connection` and `X-Request-Id`; a handler sets the rest.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSONValue, status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = headers
        headers.set("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: value.serialized())
    }

    public static func text(_ text: String, contentType: String, status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: Array(text.utf8))
    }

    /// The same answer with `Cache-Control: no-store`, for what no cache may keep:
    /// live state (probes, metrics) and personal data. Without it a 200 is
    /// heuristically cacheable (RFC 9111 §4.2.2), so a proxy could replay a stale one.
    public func notStored() -> HTTPResponse {
        var response = self
        response.headers.add("Cache-Control", "no-store")
        return response
    }
}
