/// Request methods the server recognises (RFC 9110 §9 plus PATCH). Anything else
/// is answered 501, as RFC 9110 §9.1 asks of an unrecognised method.
public enum HTTPMethod: String, Sendable, Hashable, CaseIterable {
    case GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT
}
