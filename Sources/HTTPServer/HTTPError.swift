import JSON

/// An error that becomes an RFC 9457 problem document. Handlers throw it for
/// anything the client should hear about; anything else thrown becomes a 500
/// whose detail reveals nothing.
public struct HTTPError: Error, Sendable {
    public var status: HTTPStatus
    public var detail: String
    /// A URI naming the kind of problem; `about:blank` means "see the status".
    public var type: String
    public var title: String
    /// Extra members, such as `errors` for validation or `items` for stock conflicts.
    public var extensions: [(String, JSONValue)]
    public var headers: HTTPHeaders

    public init(
        _ status: HTTPStatus, _ detail: String, type: String = "about:blank", title: String? = nil,
        extensions: [(String, JSONValue)] = [], headers: HTTPHeaders = HTTPHeaders()
    ) {
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title ?? status.reason
        self.extensions = extensions
        self.headers = headers
    }

    public var response: HTTPResponse {
        var members: [(String, JSONValue)] = [
            ("type", .string(type)), ("title", .string(title)), ("status", .int(status.code)), ("detail", .string(detail)),
        ]
        members.append(contentsOf: extensions)
        var headers = self.headers
        headers.set("Content-Type", "application/problem+json")
        return HTTPResponse(status: status, headers: headers, body: JSONValue.object(members).serialized())
    }
}
