import HTTPServer
import JSON
import MySQL

/// Checkout: one transaction that turns a cart into an order, all or nothing,
/// and the Idempotency-Key protocol around it.
struct CheckoutService {
    let pool: MySQLPool
    let metrics: ShopMetrics

    struct Request: Sendable {
        var cartID: String
        var email: String
        var name: String
        var line1: String
        var line2: String?
        var city: String
        var postalCode: String
        var country: String

        /// The validated request in a canonical form, so that whitespace and member
        /// order do not make a repeat look like a different request.
        var canonical: String {
            JSONValue.object([
                ("cartId", .string(cartID)), ("email", .string(email)), ("name", .string(name)), ("line1", .string(line1)),
                ("line2", .string(line2)), ("city", .string(city)), ("postalCode", .string(postalCode)), ("country", .string(country)),
            ]).text
        }
    }

    static func parse(_ request: HTTPRequest) throws(HTTPError) -> Request {
        var body = try JSONBody.parse(request)
        let cartID = body.string("cartId", required: true, length: 1...64)
        var customer = body.object("customer", required: true)
        var address = body.object("shippingAddress", required: true)
        let email = customer?.string("email", required: true, length: 3...254)
        if let email, !CheckoutService.isPlausibleEmail(email) { customer?.fail("email", "must be an email address such as ada@example.com") }
        let name = customer?.string("name", required: true, length: 1...200, nonBlank: true)
        let line1 = address?.string("line1", required: true, length: 1...200, nonBlank: true)
        let line2 = address?.string("line2", required: false, length: 0...200, nullable: true)
        let city = address?.string("city", required: true, length: 1...100, nonBlank: true)
        let postalCode = address?.string("postalCode", required: true, length: 1...20, nonBlank: true)
        let country = address?.string("country", required: true, length: 2...2)
        if let country, !Countries.alpha2.contains(country) {
            address?.fail("country", "must be an ISO 3166-1 alpha-2 code in capitals, such as US or DE")
        }
        if let customer { body.merge(customer) }
        if let address { body.merge(address) }
        try body.finish()
        return Request(cartID: cartID!, email: email!, name: name!, line1: line1!, line2: line2.flatMap { $0.isEmpty ? nil : $0 },
                       city: city!, postalCode: postalCode!, country: country!)
    }

    /// One @, something before it, a dotted domain after it, no spaces: what a form can check.
    /// Works on code points (as the spec's pattern does): graphemes could hide an '@' behind a combining mark.
    static func isPlausibleEmail(_ email: String) -> Bool {
        let scalars = Array(email.unicodeScalars)
        guard !scalars.contains(where: { $0.properties.isWhitespace || "<>,;".unicodeScalars.contains($0) }) else { return false }
        let parts = scalars.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].count) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    // MARK: - The transaction

    /// One read locks the cart, its lines and their products. The plan is pinned
    /// (cart, then its lines in primary-key order, then each line's product), so
    /// products are locked in ascending id order: the one order all writers use,
    /// so two checkouts cannot deadlock on them. Rows are locked as they are read,
    /// so an ORDER BY would add nothing but a temporary table and a filesort.
    static let lockingRead = """
        SELECT STRAIGHT_JOIN c.status, UTC_TIMESTAMP(3), i.product_id, i.quantity, p.sku, p.name, p.price_cents, p.stock, p.active
        FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id LEFT JOIN products p ON p.id = i.product_id
        WHERE c.id = ? FOR UPDATE
        """

    /// Places the order; returns its id and JSON. Throws 404/409/422 problems
    /// (nothing changed) or a database error.
    func placeOrder(_ r: Request) throws -> (id: String, json: JSONValue) {
        let placed = try pool.withTransaction { c in try place(c, r) }
        metrics.ordersCreated.add(1)
        return placed
    }

    /// The checkout transaction's statements, on `c` inside a transaction.
    private func place(_ c: MySQLConnection, _ r: Request) throws -> (id: String, json: JSONValue) {
        guard Identifier.isWellFormed(r.cartID.utf8) else { throw Problems.notFound("cart \(r.cartID)") }
        let orderID = Identifier.make()
        let rows = try c.query(CheckoutService.lockingRead, [.string(r.cartID)])
        guard let cart = rows.first else { throw Problems.notFound("cart \(r.cartID)") }
        guard cart[0].string == "open" else {
            throw Problems.problem(.cartOrdered, "Cart \(r.cartID) has already been checked out.")
        }
        let now = cart[1]
        let lines = rows.filter { !$0[2].isNull }.sorted { $0[2].int! < $1[2].int! }
        guard !lines.isEmpty else {
            throw Problems.validation([FieldError(field: "cartId", message: "refers to an empty cart")])
        }
        var items: [(id: Int, sku: String, name: String, price: Int, quantity: Int)] = []
        var short: [JSONValue] = []
        for line in lines {
            let (productID, quantity) = (line[2].int!, line[3].int!)
            let available = line[8].int == 1 ? (line[7].int ?? 0) : 0
            if quantity > available {
                short.append(["productId": .int(productID), "requested": .int(quantity), "available": .int(available)])
            } else {
                items.append((productID, line[4].string ?? "", line[5].string ?? "", line[6].int ?? 0, quantity))
            }
        }
        guard short.isEmpty else {
            metrics.stockConflicts.add(1)
            throw Problems.problem(.insufficientStock, "\(short.count) line(s) of the cart exceed the stock on hand; nothing was ordered.",
                                   extensions: [("items", .array(short))])
        }
        let total = items.reduce(0) { $0 + $1.price * $1.quantity }
        let count = items.reduce(0) { $0 + $1.quantity }
        // Every product's stock and the cart's status in one statement (a multi-table
        // UPDATE changes each row once); the rows are locked above, so it must touch
        // exactly the cart and one product per line.
        let changed = try c.execute("""
            UPDATE carts c JOIN cart_items i ON i.cart_id = c.id JOIN products p ON p.id = i.product_id
            SET p.stock = p.stock - i.quantity, p.updated_at = ?, c.status = 'ordered', c.updated_at = GREATEST(c.updated_at, ?)
            WHERE c.id = ?
            """, [now, now, .string(r.cartID)]).affectedRows
        guard changed == UInt64(items.count + 1) else {
            throw Broken(description: "checkout of cart \(r.cartID) changed \(changed) rows, expected \(items.count + 1); rolled back")
        }
        try c.execute("""
            INSERT INTO orders (id, cart_id, status, customer_email, customer_name, ship_line1, ship_line2, ship_city, ship_postal_code,
                                ship_country, item_count, total_cents, currency, created_at, updated_at)
            VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.string(orderID), .string(r.cartID), .string(r.email), .string(r.name), .string(r.line1), MySQLValue(r.line2), .string(r.city),
             .string(r.postalCode), .string(r.country), .int(Int64(count)), .int(Int64(total)), .string(Catalog.currency), now, now])
        try c.execute(
            "INSERT INTO order_items (order_id, product_id, sku, name, unit_price_cents, quantity) VALUES "
                + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: items.count).joined(separator: ", "),
            items.flatMap { item -> [MySQLValue] in
                [.string(orderID), .int(Int64(item.id)), .string(item.sku), .string(item.name), .int(Int64(item.price)), .int(Int64(item.quantity))]
            })
        let json = Orders.json(
            id: orderID, status: "pending", email: r.email, name: r.name, line1: r.line1, line2: r.line2, city: r.city,
            postalCode: r.postalCode, country: r.country, itemCount: count, total: total, createdAt: now.date, updatedAt: now.date,
            items: items.map {
                Carts.lineJSON(productID: $0.id, sku: $0.sku, name: $0.name, unitPrice: $0.price, quantity: $0.quantity)
            })
        return (orderID, json)
    }

    /// A rule the locks above guarantee did not hold: rolled back, logged, 500.
    struct Broken: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: - Idempotency-Key

    enum Outcome {
        case created(id: String, json: JSONValue)
        /// An earlier request with the same key and body: answer with what it answered.
        case replay(status: Int, body: [UInt8])
    }

    /// Checkout under an Idempotency-Key. A named lock on the key turns a repeat
    /// that arrives while the first runs into a 409 at once; the database frees
    /// the lock when the session ends, so a request that dies with its process or
    /// its connection leaves nothing behind and a retry runs as soon as the
    /// database answers. The outcome is stored with the key before the lock is let
    /// go: a 201 in the order's own transaction, a 4xx just after the rollback.
    func placeOrder(_ r: Request, idempotencyKey key: String) throws -> Outcome {
        let canonical = r.canonical
        let outcome = try pool.withConnection { c in
            try c.withNamedLock("\(pool.configuration.database)/idempotency/\(key)", timeoutSeconds: 0) { () throws -> Outcome in
                if let row = try c.query("""
                    SELECT request_hash = UNHEX(SHA2(?, 256)), state, status_code, response_body FROM idempotency_keys WHERE idem_key = ?
                    """, [.string(canonical), .string(key)]).first {
                    guard row[0].int == 1 else {
                        throw Problems.validation([FieldError(field: "Idempotency-Key", message: "was already used with a different request body")])
                    }
                    if row[1].string == "done", let status = row[2].int {
                        return .replay(status: status, body: row[3].bytes ?? [])
                    }
                    // Left 'processing' by a version before the named lock: redo it (a cart is ordered at most once anyway).
                    try c.execute("DELETE FROM idempotency_keys WHERE idem_key = ?", [.string(key)])
                }
                do {
                    let (id, json) = try pool.transaction(on: c) { c in
                        let placed = try place(c, r)
                        try store(c, key, canonical, status: 201, body: placed.json.serialized())
                        return placed
                    }
                    metrics.ordersCreated.add(1)
                    return .created(id: id, json: json)
                } catch let problem as HTTPError where (400..<500).contains(problem.status.code) {
                    // Not stored if the database fails just now: a repeat is then processed again, which is safe.
                    try? store(c, key, canonical, status: problem.status.code, body: problem.response.body)
                    throw problem
                }
            }
        }
        guard let outcome else {
            throw Problems.problem(.requestInProgress, "A request with this Idempotency-Key is still being processed; retry in a moment.",
                                   headers: HTTPHeaders([("Retry-After", "1")]))
        }
        return outcome
    }

    private func store(_ c: MySQLConnection, _ key: String, _ canonical: String, status: Int, body: [UInt8]) throws {
        try c.execute("""
            INSERT INTO idempotency_keys (idem_key, request_hash, state, status_code, response_body, created_at, updated_at)
            VALUES (?, UNHEX(SHA2(?, 256)), 'done', ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))
            """, [.string(key), .string(canonical), .int(Int64(status)), .bytes(body)])
    }

    /// Deletes keys older than the 24 hours they are promised for (with an hour's margin), a batch at a time.
    func pruneKeys() throws -> UInt64 {
        try pool.withTransaction { c in  // retried after a deadlock, as the cart prune is
            try c.execute("DELETE FROM idempotency_keys WHERE created_at < UTC_TIMESTAMP(3) - INTERVAL 25 HOUR LIMIT \(ShopAPI.pruneBatch)").affectedRows
        }
    }

    static func validKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }
}
