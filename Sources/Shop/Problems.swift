import HTTPServer
import JSON
import MySQL

/// The problem documents the shop API answers with. Types are `ProblemType`s,
/// relative URIs under /problems/; plain HTTP errors use about:blank.
enum Problems {
    static func problem(_ type: ProblemType, _ detail: String, extensions: [(String, JSONValue)] = [],
                        headers: HTTPHeaders = HTTPHeaders()) -> HTTPError {
        HTTPError(type.status, detail, type: type.uri, title: type.title, extensions: extensions, headers: headers)
    }

    static func notFound(_ what: String) -> HTTPError {
        problem(.notFound, "No \(what).")
    }

    static func badParameter(_ name: String, _ message: String) -> HTTPError {
        problem(.invalidParameter, "Query parameter \(name) \(message).",
                extensions: [("errors", [["field": .string(name), "message": .string(message)]])])
    }

    static func badHeader(_ name: String, _ message: String) -> HTTPError {
        problem(.invalidHeader, "\(name) \(message).", extensions: [("errors", [["field": .string(name), "message": .string(message)]])])
    }

    static func validation(_ errors: [FieldError]) -> HTTPError {
        let summary = errors.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
        return problem(.validation, "The request has invalid values: \(summary).",
                       extensions: [("errors", .array(errors.map { ["field": .string($0.field), "message": .string($0.message)] }))])
    }

    static func unavailable(_ detail: String) -> HTTPError {
        problem(.unavailable, detail, headers: HTTPHeaders([("Retry-After", "1")]))
    }

    /// Its own type: the same listing again is stopped again, unlike a passing outage.
    static func timeLimit(_ detail: String) -> HTTPError {
        problem(.timeLimit, detail, headers: HTTPHeaders([("Retry-After", "1")]))
    }

    /// What a database failure means to a client: 503 when it may pass, 500 otherwise.
    static func database(_ error: MySQLError) -> HTTPError {
        switch error.kind {
        case .connectionLost: return unavailable("The database is unreachable; retry shortly.")
        case .poolExhausted: return unavailable("The database is busy; retry shortly.")
        case .retryTransaction: return unavailable("The database is congested (lock contention); retry shortly.")
        case .unavailable: return unavailable("The database cannot take this request now; retry shortly.")
        case .other:
            return HTTPError(.internalServerError, "The server failed to handle this request; the request id is in the X-Request-Id header.")
        }
    }
}

/// A request's query parameters, each name at most once; malformed escapes and
/// repeated names are 400s (a repeat would leave it unclear which one counts).
func uniqueQueryItems(_ request: HTTPRequest) throws(HTTPError) -> [(name: String, value: String)] {
    guard let items = request.queryItems() else {
        throw Problems.problem(.invalidParameter,
                               "The query string has a malformed percent-escape: % must start %XX (two hex digits), and the decoded text must be UTF-8.")
    }
    var seen = Set<String>()
    for (name, _) in items where !seen.insert(name).inserted {
        throw Problems.badParameter(name, "is given more than once")
    }
    return items
}

/// The value of a header field that is not a list (RFC 9110 §5.3), or nil without one;
/// a 400 when it comes more than once with different values, since which one counts
/// would be a guess (the first for this server, perhaps the last for a proxy before it).
func singleHeader(_ request: HTTPRequest, _ name: String) throws(HTTPError) -> String? {
    let values = request.headers.values(name)
    guard let first = values.first else { return nil }
    guard values.allSatisfy({ $0 == first }) else { throw Problems.badHeader(name, "is given more than once, with different values") }
    return first
}

struct FieldError: Sendable {
    let field: String
    let message: String
}
