/// How a route's handler may run.
public enum HandlerKind: Sendable {
    /// Cheap and never blocks (health, metrics): runs on the event loop.
    case inline
    /// May block (database calls): runs on the worker pool.
    case blocking
    /// Tries the given answer first on the event loop (it must not block: a
    /// cache look-up, say); when that has none, runs the handler on the pool.
    /// It decides from the request's head alone: a client waiting for 100 Continue
    /// gets it instead, before the body (a refused upload is never sent).
    case blockingUnless(@Sendable (HTTPRequest) -> HTTPResponse?)
}

public typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

/// Method + path routing over a trie of path segments. `{name}` matches one
/// non-empty segment and hands it to the handler percent-decoded. A GET route
/// answers HEAD too; a path with no such method gets 405 with `Allow`.
public struct Router: Sendable {
    public struct Route: Sendable {
        public let pattern: String
        public let kind: HandlerKind
        public let handler: Handler
    }

    private final class Node: @unchecked Sendable {
        var literal: [String: Node] = [:]
        var parameter: (name: String, node: Node)?
        var routes: [HTTPMethod: Route] = [:]
    }

    public enum Match: Sendable {
        case found(Route, parameters: [String: String])
        /// `pattern`: the path's route, for metrics and logs.
        case methodNotAllowed(allow: [String], pattern: String)
        /// `OPTIONS *`: a question about the server as a whole (RFC 9110 9.3.7).
        case serverWide(allow: [String])
        case notFound
    }

    // Built once before the server starts, read-only afterwards.
    private let root = Node()

    public init() {}

    public func add(_ method: HTTPMethod, _ pattern: String, _ kind: HandlerKind = .blocking, _ handler: @escaping Handler) {
        var node = root
        for segment in pattern.split(separator: "/") {
            if segment.hasPrefix("{") && segment.hasSuffix("}") {
                let name = String(segment.dropFirst().dropLast())
                if node.parameter == nil { node.parameter = (name, Node()) }
                precondition(node.parameter!.name == name, "routes \(pattern) disagree on a parameter's name")
                node = node.parameter!.node
            } else {
                let key = String(segment)
                if node.literal[key] == nil { node.literal[key] = Node() }
                node = node.literal[key]!
            }
        }
        precondition(node.routes[method] == nil, "\(method) \(pattern) is routed twice")
        node.routes[method] = Route(pattern: pattern, kind: kind, handler: handler)
    }

    public func get(_ pattern: String, _ kind: HandlerKind = .blocking, _ handler: @escaping Handler) {
        add(.GET, pattern, kind, handler)
    }

    /// Finds the route for a raw (percent-encoded) path, comparing segments
    /// percent-decoded. Nil when a segment's percent-encoding is malformed.
    public func match(_ method: HTTPMethod, path: String) -> Match? {
        if path == "*" { return .serverWide(allow: Router.allow(Router.methods(under: root))) }
        var node = root
        var parameters: [String: String] = [:]
        // Walk the segments on UTF-8 indices: Character-level splitting is slow on the hot path.
        let utf8 = path.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            defer { start = end < utf8.endIndex ? utf8.index(after: end) : end }
            if start == end {
                // Only the leading slash may open an empty segment: `//a`, `/a//b` and
                // `/a/` name no resource, so each resource has exactly one path.
                if start != utf8.startIndex { return .notFound }
                continue
            }
            // Decoded before matching, so that `%70roducts` is `products` (RFC 3986 6.2.2.2)
            // for literal segments as it is for parameters.
            let raw = path[start..<end]
            guard let segment = raw.utf8.contains(UInt8(ascii: "%")) ? PercentDecoding.decode(raw, plusAsSpace: false) : String(raw) else {
                return nil
            }
            if let next = node.literal[segment] {
                node = next
            } else if let (name, next) = node.parameter {
                parameters[name] = segment
                node = next
            } else {
                return .notFound
            }
        }
        if node.routes.isEmpty || (utf8.count > 1 && utf8.last == UInt8(ascii: "/")) { return .notFound }
        if let route = node.routes[method] ?? (method == .HEAD ? node.routes[.GET] : nil) {
            return .found(route, parameters: parameters)
        }
        return .methodNotAllowed(allow: Router.allow(Set(node.routes.keys)), pattern: node.routes.first!.value.pattern)
    }

    private static func allow(_ methods: Set<HTTPMethod>) -> [String] {
        var allow = Set(methods.map(\.rawValue))
        if allow.contains("GET") { allow.insert("HEAD") }
        return allow.sorted()
    }

    private static func methods(under node: Node) -> Set<HTTPMethod> {
        var methods = Set(node.routes.keys)
        for child in node.literal.values { methods.formUnion(Router.methods(under: child)) }
        if let (_, child) = node.parameter { methods.formUnion(Router.methods(under: child)) }
        return methods
    }
}

extension Router {
    /// The server's own answer to a request no route takes, and its route label for
    /// metrics: 400 for a malformed escape (no match), 404, 405 with `Allow` (labelled with the
    /// path's route, so a client calling an endpoint the wrong way shows there), or `OPTIONS *`.
    static func answer(unrouted match: Match?, _ request: HTTPRequest) -> (HTTPResponse, route: String) {
        switch match {
        case nil:
            return (HTTPError(.badRequest, "The request path has a malformed percent-escape.").response, "invalid")
        case .notFound?:
            return (HTTPError(.notFound, "No resource at \(request.path).").response, "unmatched")
        case .methodNotAllowed(let allow, let pattern)?:
            var response = HTTPError(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; use \(allow.joined(separator: ", ")).").response
            response.headers.set("Allow", allow.joined(separator: ", "))
            return (response, pattern)
        case .serverWide(let allow)?:
            var response = HTTPResponse(status: .noContent)
            response.headers.set("Allow", allow.joined(separator: ", "))
            return (response, "*")
        case .found?:
            preconditionFailure("a routed request gets its route's answer")
        }
    }
}
