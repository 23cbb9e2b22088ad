import HTTPServer
import JSON
import MySQL

/// The problem documents the shop API answers with. Types are relative URIs
/// under /problems/ that name the kind of problem; plain HTTP errors use about:blank.
enum Problems {
    static func notFound(_ what: String) -> HTTPError {
        HTTPError(.notFound, "No \(what).", type: "/problems/not-found", title: "Not found")
    }

    static func badParameter(_ name: String, _ message: String) -> HTTPError {
        HTTPError(.badRequest, "Query parameter \(name) \(message).", type: "/problems/invalid-parameter", title: "Invalid query parameter",
                  extensions: [("errors", [["field": .string(name), "message": .string(message)]])])
    }

    static func badHeader(_ name: String, _ message: String) -> HTTPError {
        HTTPError(.badRequest, "\(name) \(message).", type: "/problems/invalid-header", title: "Invalid header",
                  extensions: [("errors", [["field": .string(name), "message": .string(message)]])])
    }

    static func validation(_ errors: [FieldError]) -> HTTPError {
        let summary = errors.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
        return HTTPError(.unprocessableContent, "The request has invalid values: \(summary).", type: "/problems/validation",
                         title: "Invalid request",
                         extensions: [("errors", .array(errors.map { ["field": .string($0.field), "message": .string($0.message)] }))])
    }

    static func conflict(_ type: String, _ title: String, _ detail: String, _ extensions: [(String, JSONValue)] = []) -> HTTPError {
        HTTPError(.conflict, detail, type: "/problems/\(type)", title: title, extensions: extensions)
    }

    static func unavailable(_ detail: String) -> HTTPError {
        HTTPError(.serviceUnavailable, detail, type: "/problems/unavailable", title: "Service unavailable",
                  headers: HTTPHeaders([("Retry-After", "1")]))
    }

    /// Its own type: the same listing again is stopped again, unlike a passing outage.
    static func timeLimit(_ detail: String) -> HTTPError {
        HTTPError(.serviceUnavailable, detail, type: "/problems/time-limit", title: "Stopped at the time limit",
                  headers: HTTPHeaders([("Retry-After", "1")]))
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
        throw HTTPError(.badRequest, "The query string has a malformed percent-escape: % must start %XX (two hex digits), and the decoded text must be UTF-8.",
                        type: "/problems/invalid-parameter", title: "Invalid query parameter")
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
