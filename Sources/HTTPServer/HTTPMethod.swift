/// A request method: any token the client sends (RFC 9110 §9.1). A standard
/// method the server does not route gets 405 with `Allow` on a known path; any
/// other token gets 501, as §9.1 asks for methods a server does not recognize.
public struct HTTPMethod: RawRepresentable, Sendable, Hashable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let GET = HTTPMethod(rawValue: "GET")
    public static let HEAD = HTTPMethod(rawValue: "HEAD")
    public static let POST = HTTPMethod(rawValue: "POST")
    public static let PUT = HTTPMethod(rawValue: "PUT")
    public static let PATCH = HTTPMethod(rawValue: "PATCH")
    public static let DELETE = HTTPMethod(rawValue: "DELETE")
    public static let OPTIONS = HTTPMethod(rawValue: "OPTIONS")

    /// RFC 9110's methods and PATCH (RFC 5789): methods are case-sensitive, so `get` is not among them.
    public var isRecognized: Bool {
        ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"].contains(rawValue)
    }
}
