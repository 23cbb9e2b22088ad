import HTTPServer
import JSON
import MySQL
import Synchronization

/// The shop's HTTP API (shared/API.md): routes, admin auth, CORS, readiness,
/// and the mapping of every failure to a problem document.
public final class ShopAPI: Sendable {
    public struct Options: Sendable {
        public var adminToken: String?
        /// Open carts not changed for this many days are deleted; 0 keeps them.
        public var cartRetentionDays = 30
        public init() {}
    }

    let pool: MySQLPool
    public let options: Options
    let metrics: ShopMetrics
    let isDraining: @Sendable () -> Bool
    public enum LogLevel: Sendable { case warning, error }
    let log: @Sendable (LogLevel, String) -> Void
    /// What the last readiness check found, and when the database last answered one
    /// (from start: one that never answers counts as silent since then).
    let readiness = Mutex<(answeredAt: Double, problem: String?, schema: Int)>(
        (MySQLConnection.monotonicNow(), "not checked yet", 0))
    /// The readiness check's own connection, used only by `checkReadiness`.
    let readinessConnection = Mutex<MySQLConnection?>(nil)
    private let unavailableLog = Mutex(LogThrottle())
    /// Why the last migration at start-up failed, for `/readyz` (nil once one succeeds).
    let migrationFailure = Mutex<String?>(nil)

    let catalog: Catalog
    let cache = CatalogCache()
    let carts: Carts
    let checkout: CheckoutService
    let orders: Orders

    public init(pool: MySQLPool, options: Options, metrics: ShopMetrics, isDraining: @escaping @Sendable () -> Bool,
                log: @escaping @Sendable (LogLevel, String) -> Void) {
        self.pool = pool
        self.options = options
        self.metrics = metrics
        self.isDraining = isDraining
        self.log = log
        catalog = Catalog(pool: pool)
        carts = Carts(pool: pool)
        checkout = CheckoutService(pool: pool, metrics: metrics)
        orders = Orders(pool: pool)
    }

    // MARK: - Routes

    /// What a change's target is now, for its preconditions (see `route` below).
    private typealias Target = @Sendable (HTTPRequest) throws -> (exists: Bool, etag: String?)

    public func register(on router: Router) {
        var patterns: [String: [HTTPMethod]] = [:]
        var bodyFields: [String: [(String, String)]] = [:]  // what OPTIONS says the JSON bodies are
        /// `current` says what the target of a method other than GET is now, for its
        /// preconditions (`If-Match`, `If-None-Match`; RFC 9110 §13.2): whether it has a
        /// representation and that one's tag, or it throws the 404 the request would
        /// get without them. They are checked after auth, before the content is read:
        /// a 412 changes nothing. (A GET's are the HTTP server's, on its answer.)
        /// What the head alone refuses comes first, on the event loop and before
        /// `100 Continue`: an `admin` route's missing token (401), then a `json` route's
        /// wrong `Content-Type` (415). Both precede the preconditions, since without
        /// them the answer would not be 2xx (RFC 9110 §13.2.1).
        func route(_ method: HTTPMethod, _ pattern: String, admin: Bool = false, json: Bool = false,
                   current: Target? = nil,
                   _ body: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) {
            assert((method == .GET) == (current == nil), "every method but GET says what its target is now")
            patterns[pattern, default: []].append(method)
            if json, let field = JSONBody.acceptHeader(for: method) { bodyFields[pattern, default: []].append(field) }
            // Carts, orders and admin answers hold personal data behind a capability
            // or a token: no browser or shared cache may keep them.
            let refuse: @Sendable (HTTPRequest) -> HTTPResponse? = { [self] request in
                do {
                    if admin { try requireAdmin(request) }
                    if json { try JSONBody.requireJSONContentType(request) }
                    return nil
                } catch {
                    return respond(request) { throw error }.notStored()
                }
            }
            router.add(method, pattern, .blockingUnless(refuse)) { [self] request in
                respond(request) {
                    if let current, let check = ShopAPI.preconditions(request) {
                        let now = try current(request)
                        try check(now.exists, now.etag)
                    }
                    return try body(request)
                }.notStored()
            }
        }
        let v1 = "/api/v1"
        router.get("/readyz", .inline) { [self] _ in ready().notStored() }
        var spec = HTTPResponse.text(OpenAPIDocument.yaml, contentType: "application/yaml; charset=utf-8")
        spec.headers.add("ETag", EntityTag.of(spec.body))
        spec.headers.add("Cache-Control", "no-cache")
        router.get("\(v1)/openapi.yaml", .inline) { [spec] _ in spec }
        // A problem document's `type` resolves to a page that explains it (RFC 9457 §3.1.1).
        let pages = Dictionary(uniqueKeysWithValues: ProblemType.all.map { type in
            var page = HTTPResponse.text(type.page, contentType: "text/html; charset=utf-8")
            page.headers.add("ETag", EntityTag.of(page.body))
            page.headers.add("Cache-Control", "no-cache")
            page.headers.add("Content-Security-Policy", "default-src 'none'")
            return (type.slug, page)
        })
        router.get("/problems/{type}", .inline) { [pages] request in
            let slug = request.pathParameters["type"] ?? ""
            return pages[slug] ?? HTTPError(.notFound, "No problem type \(slug); \(v1)/openapi.yaml lists them all.").response
        }
        // A curl of the bare address learns where to go next, rather than meeting a 404.
        let index = HTTPResponse.json([
            "service": "storefront", "api": .string(v1), "openapi": .string("\(v1)/openapi.yaml"),
            "products": .string("\(v1)/products"), "health": "/healthz", "readiness": "/readyz", "metrics": "/metrics",
        ])
        router.get("/", .inline) { _ in index }

        // Public catalog reads: a fresh cached answer goes out from the event loop;
        // only a miss (or an error to report) takes a worker and the database.
        func cachedRoute(_ pattern: String, key: @escaping @Sendable (HTTPRequest) throws -> String,
                         load: @escaping @Sendable (HTTPRequest) throws -> JSONValue) {
            patterns[pattern, default: []].append(.GET)
            let fromCache: @Sendable (HTTPRequest) -> HTTPResponse? = { [self] request in
                guard let key = try? key(request), let entry = cache.fresh(key) else { return nil }
                return ShopAPI.catalogAnswer(entry)
            }
            router.add(.GET, pattern, .blockingUnless(fromCache)) { [self] request in
                respond(request) { ShopAPI.catalogAnswer(try cache.entry(try key(request)) { try load(request).serialized() }) }
            }
        }
        cachedRoute("\(v1)/categories", key: { _ in "categories" }, load: { [self] _ in try catalog.categories() })
        cachedRoute("\(v1)/products", key: { "list:\(try Catalog.listQuery($0).cacheKey)" },
                    load: { [self] in
                        try catalog.products(try Catalog.listQuery($0)) { key, run in
                            Int(String(decoding: try cache.entry("count:\(key)") { Array(String(try run()).utf8) }.body, as: UTF8.self)) ?? 0
                        }
                    })
        cachedRoute("\(v1)/products/{id}", key: { "product:\(try Catalog.productID($0))" },
                    load: { [self] in try catalog.product(try Catalog.productID($0)) })
        // A collection that POST adds to exists; its listing's tag is not looked up.
        let collection: Target = { _ in (true, nil) }
        // A cart line exists while it is in the cart; it has no tag of its own. What
        // the request would meet without preconditions, a 404 or a 409 that does not
        // depend on its content, comes first (RFC 9110 §13.2.1). The change checks
        // again under the cart's lock (`linePreconditions`).
        let line: Target = { [self] r in
            let id = try Carts.cartID(r)
            let json = try carts.get(id)
            if json["status"] != "open" { throw Carts.ordered(id) }
            let product = JSONValue.int(try Catalog.productID(r, "productId"))
            guard case .array(let items)? = json["items"] else { return (false, nil) }
            return (items.contains { $0["productId"] == product }, nil)
        }
        route(.POST, "\(v1)/products", admin: true, json: true, current: collection) { [self] r in
            let fields = try Catalog.productFields(r, creating: true)
            defer { cache.invalidate() }
            let (id, json) = try catalog.create(fields)
            return .json(json, status: .created, headers: HTTPHeaders([("Location", "\(v1)/products/\(id)")]))
        }
        // An admin changes inactive products too (PATCH reactivates), so one exists
        // for them; only an active one has GET's tag.
        let product: Target = { [self] r in
            let json = try catalog.product(try Catalog.productID(r), includeInactive: true)
            return (true, json["active"] == .bool(true) ? EntityTag.of(json.serialized()) : nil)
        }
        route(.PATCH, "\(v1)/products/{id}", admin: true, json: true, current: product) { [self] r in
            let id = try Catalog.productID(r)
            let fields = try Catalog.productFields(r, creating: false)
            defer { cache.invalidate() }
            return .json(try catalog.update(id, fields))
        }
        route(.DELETE, "\(v1)/products/{id}", admin: true, current: product) { [self] r in
            let id = try Catalog.productID(r)
            defer { cache.invalidate() }
            try catalog.deactivate(id)
            return HTTPResponse(status: .noContent)
        }

        route(.POST, "\(v1)/carts", current: { _ in (false, nil) }) { [self] _ in
            let (id, json) = try carts.create()
            return .json(json, status: .created, headers: HTTPHeaders([("Location", "\(v1)/carts/\(id)")]))
        }
        route(.GET, "\(v1)/carts/{cartId}") { [self] r in .json(try carts.get(try Carts.cartID(r))) }
        route(.PUT, "\(v1)/carts/{cartId}/items/{productId}", json: true, current: { [self] r in
            let now = try line(r)
            // A new line for a product the cart cannot hold: 404. A line already there
            // exists even if its product was deactivated since (a 0 still removes it).
            if !now.exists { _ = try catalog.product(try Catalog.productID(r, "productId")) }
            return now
        }) { [self] r in
            let id = try Carts.cartID(r)
            let product = try Catalog.productID(r, "productId")
            let quantity = try Carts.quantity(r)
            return .json(try carts.setLine(id, productID: product, quantity: quantity, precondition: ShopAPI.linePreconditions(r)) {
                metrics.stockConflicts.add(1)
            })
        }
        route(.DELETE, "\(v1)/carts/{cartId}/items/{productId}", current: line) { [self] r in
            let id = try Carts.cartID(r)
            return .json(try carts.setLine(id, productID: try Catalog.productID(r, "productId"), quantity: 0,
                                           precondition: ShopAPI.linePreconditions(r)) {})
        }

        route(.POST, "\(v1)/orders", json: true, current: collection) { [self] r in try placeOrder(r) }
        route(.GET, "\(v1)/orders", admin: true) { [self] r in .json(try orders.list(r)) }
        route(.GET, "\(v1)/orders/{orderId}") { [self] r in .json(try orders.get(try Orders.orderID(r))) }
        let order: @Sendable (HTTPRequest) throws -> JSONValue = { [self] r in try orders.get(try Orders.orderID(r)) }
        // A cancel has no representation of its own (no GET).
        route(.POST, "\(v1)/orders/{orderId}/cancel", current: { r in
            if case .string(let status)? = try order(r)["status"], !Orders.cancellable(status) {
                throw Orders.notCancellable(try Orders.orderID(r), status)
            }
            return (false, nil)
        }) { [self] r in
            let id = try Orders.orderID(r)
            defer { cache.invalidate() }
            return .json(try orders.cancel(id))
        }
        route(.PATCH, "\(v1)/orders/{orderId}", admin: true, json: true, current: { _ = try order($0); return (true, nil) }) { [self] r in
            let id = try Orders.orderID(r)
            return .json(try orders.setStatus(id, to: try Orders.status(r)))
        }

        // OPTIONS names the methods and the bodies they take; for a CORS preflight from an
        // allowed origin, `corsHeaders` adds the rest.
        for (pattern, methods) in patterns {
            let allow = (Set(methods.map(\.rawValue)).union(methods.contains(.GET) ? ["HEAD"] : []).union(["OPTIONS"])).sorted()
            let answer = HTTPResponse(status: .noContent, headers: HTTPHeaders([("Allow", allow.joined(separator: ", "))] + bodyFields[pattern, default: []]))
            router.add(.OPTIONS, pattern, .inline) { _ in answer }
        }
    }

    /// The request's preconditions as a check of what its target is now: nil when it
    /// has none, else a check that throws the 412.
    private static func preconditions(_ request: HTTPRequest) -> ((_ exists: Bool, _ etag: String?) throws(HTTPError) -> Void)? {
        guard request.headers["if-match"] != nil || request.headers["if-none-match"] != nil else { return nil }
        return { exists, etag throws(HTTPError) in
            let precondition = EntityTag.evaluate(request.headers, current: etag, exists: exists)
            if precondition != .holds { throw EntityTag.failed(precondition) }
        }
    }

    /// A line's preconditions once more, under the cart's lock: the route's look came
    /// first, as RFC 9110 §13.2.1 orders it, but a concurrent change of the same line
    /// could land between that look and this change.
    private static func linePreconditions(_ request: HTTPRequest) -> ((_ exists: Bool) throws -> Void)? {
        preconditions(request).map { check in { exists in try check(exists, nil) } }
    }

    private func placeOrder(_ request: HTTPRequest) throws -> HTTPResponse {
        // A malformed header is a 400, before the body's values (422), as for JSON that does not parse.
        let key = try singleHeader(request, "Idempotency-Key")
        if let key, !CheckoutService.validKey(key) { throw Problems.badHeader("Idempotency-Key", "must be 1-255 printable ASCII characters") }
        let order = try CheckoutService.parse(request)
        // Stock changes when an order is placed; stale pages would show it. (Harmless when nothing changed.)
        defer { cache.invalidate() }
        guard let key else {
            let (id, json) = try checkout.placeOrder(order)
            return .json(json, status: .created, headers: HTTPHeaders([("Location", "/api/v1/orders/\(id)")]))
        }
        switch try checkout.placeOrder(order, idempotencyKey: key) {
        case .created(let id, let json):
            return .json(json, status: .created, headers: HTTPHeaders([("Location", "/api/v1/orders/\(id)")]))
        case .replay(let status, let body):
            var headers = HTTPHeaders([("Idempotent-Replayed", "true")])
            let json = try? JSONParser.parse(body)
            headers.add("Content-Type", status < 300 ? "application/json" : "application/problem+json")
            if status == 201, case .string(let id)? = json?["id"] { headers.add("Location", "/api/v1/orders/\(id)") }
            return HTTPResponse(status: HTTPStatus(code: status), headers: headers, body: body)
        }
    }

    /// Rows a prune deletes in one statement: few enough that it holds its row locks briefly.
    public static let pruneBatch = 1000

    /// Deletes idempotency keys past their 24 hours; returns how many (at most a batch).
    public func pruneIdempotencyKeys() throws -> UInt64 {
        let deleted = try checkout.pruneKeys()
        metrics.idempotencyKeysDeleted.add(Int(deleted))
        return deleted
    }

    /// Deletes open carts past `cartRetentionDays` without a change; returns how many (at most a batch).
    public func pruneAbandonedCarts() throws -> UInt64 {
        guard options.cartRetentionDays > 0 else { return 0 }
        let deleted = try carts.pruneAbandoned(days: options.cartRetentionDays)
        metrics.cartsDeleted.add(Int(deleted))
        return deleted
    }

    /// A catalog read: any cache may keep it but must ask again before reusing it,
    /// and the server answers 304 to a client that already holds this ETag.
    static func catalogAnswer(_ entry: CatalogCache.Entry) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/json"), ("ETag", entry.etag), ("Cache-Control", "no-cache")]),
                     body: entry.body)
    }

    // MARK: - Cross-cutting

    /// Runs a handler; maps database errors to 503/500.
    private func respond(_ request: HTTPRequest, _ body: () throws -> HTTPResponse) -> HTTPResponse {
        do {
            return try body()
        } catch let error as HTTPError {
            return error.response
        } catch let error as MySQLError {
            if error.kind == .other {
                log(.error, "database error on \(request.method.rawValue) \(request.route): \(error)")
            } else {
                logUnavailable(request, error)
            }
            return Problems.database(error).response
        } catch {
            log(.error, "unexpected error on \(request.method.rawValue) \(request.route): \(error)")
            return HTTPError(.internalServerError, "The server failed to handle this request; the request id is in the X-Request-Id header.").response
        }
    }

    /// An outage answers every request 503; the log says why once every 10 s, not
    /// once per request, and how many such answers the last line stood for.
    private func logUnavailable(_ request: HTTPRequest, _ error: MySQLError) {
        let now = MySQLConnection.monotonicNow()
        let line = unavailableLog.withLock {
            $0.line("answering 503 on \(request.method.rawValue) \(request.route): \(error)", heldBack: "503s for the database", at: now)
        }
        if let line { log(.warning, line) }
    }

    /// The request target as logs may show it. Cart and order ids are capabilities
    /// (whoever reads one from a log can see the customer's address or cancel the
    /// order) and an email is personal data, so a path segment shaped like an id or
    /// following `carts` or `orders`, and the value of an `email` parameter, are
    /// masked, whether a route matched or not.
    public static func loggableTarget(_ target: String) -> String {
        // On bytes, not Strings: it runs for every request the access log shows.
        let bytes = Array(target.utf8), slash = UInt8(ascii: "/"), stars = Array("***".utf8)
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var previous: ArraySlice<UInt8> = []
        for (n, segment) in bytes[..<queryStart].split(separator: slash, omittingEmptySubsequences: false).enumerated() {
            if n > 0 { out.append(slash) }
            let follows = previous.elementsEqual("carts".utf8) || previous.elementsEqual("orders".utf8)
            out += !segment.isEmpty && (follows || Identifier.isWellFormed(segment)) ? stars[...] : segment
            previous = segment
        }
        if queryStart < bytes.endIndex {
            for (n, parameter) in bytes[(queryStart + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false).enumerated() {
                out.append(n == 0 ? UInt8(ascii: "?") : UInt8(ascii: "&"))
                out += parameter.starts(with: "email=".utf8) ? Array("email=***".utf8)[...] : parameter
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The CORS headers for every answer (nil when no origin is allowed): errors
    /// from routing, a busy server and a refused body included, so that a page on
    /// an allowed origin can read each problem document rather than see a network
    /// error. A preflight (an OPTIONS answer, 204 with `Allow`, to a request that
    /// names `Access-Control-Request-Method`) also learns the methods and headers
    /// it may use. All of CORS is here, fed by the one setting.
    public static func corsHeaders(allowing origins: [String]) -> (@Sendable (HTTPHeaders, inout HTTPResponse) -> Void)? {
        guard !origins.isEmpty else { return nil }
        return { fields, response in
            response.headers.add("Vary", "Origin")
            guard let origin = fields["origin"], origins.contains("*") || origins.contains(origin) else { return }
            response.headers.set("Access-Control-Allow-Origin", origins.contains("*") ? "*" : origin)
            response.headers.set("Access-Control-Expose-Headers", "Location, X-Request-Id, Retry-After, Idempotent-Replayed, ETag")
            if fields["access-control-request-method"] != nil, response.status == .noContent, let allow = response.headers["allow"] {
                response.headers.set("Access-Control-Allow-Methods", allow)
                response.headers.set("Access-Control-Allow-Headers", "Content-Type, Authorization, Idempotency-Key, X-Request-Id, If-None-Match, If-Match")
                response.headers.set("Access-Control-Max-Age", "600")
            }
        }
    }

    /// Bearer token, compared in constant time; 401 when missing, wrong, or none is configured.
    private func requireAdmin(_ request: HTTPRequest) throws {
        let realm = "Bearer realm=\"storefront-admin\""
        let challenge = HTTPHeaders([("WWW-Authenticate", realm)])
        guard let token = options.adminToken else {
            throw HTTPError(.unauthorized, "Admin calls are disabled: the server has no ADMIN_TOKEN configured.", headers: challenge)
        }
        // credentials = auth-scheme 1*SP token68 (RFC 9110 §11.4, RFC 6750 §2.1); the scheme is case-insensitive.
        // Two differing fields are no credential: which one counts would be a guess.
        let given = request.headers.values("authorization")
        let header = Array((Set(given).count == 1 ? given[0] : "").utf8)
        let scheme = Array("bearer".utf8), space = UInt8(ascii: " ")
        guard header.count > scheme.count + 1, header[scheme.count] == space, header.prefix(scheme.count).map({ $0 | 0x20 }) == scheme else {
            throw HTTPError(.unauthorized, "This call needs Authorization: Bearer <admin token>.", headers: challenge)
        }
        guard ShopAPI.constantTimeEquals(Array(header.dropFirst(scheme.count).drop { $0 == space }), Array(token.utf8)) else {
            // A token was sent and is not this server's: RFC 6750 §3.1 names that error, where a missing one gets none.
            throw HTTPError(.unauthorized, "The bearer token sent is not this server's admin token (ADMIN_TOKEN).",
                            headers: HTTPHeaders([("WWW-Authenticate", realm + ", error=\"invalid_token\"")]))
        }
    }

    static func constantTimeEquals(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        guard !expected.isEmpty else { return false }
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for (i, byte) in given.enumerated() { difference |= byte ^ expected[i % expected.count] }
        return difference == 0
    }
}
