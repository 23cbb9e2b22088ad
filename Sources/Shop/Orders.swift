import HTTPServer
import JSON
import MySQL

/// Orders after checkout: look-up, cancel (restoring stock exactly once), and the admin's view.
struct Orders {
    let pool: MySQLPool

    static let statuses = ["pending", "paid", "shipped", "delivered", "cancelled"]
    /// The only moves PATCH allows: one step forward.
    static let nextStatus = ["pending": "paid", "paid": "shipped", "shipped": "delivered"]

    static func orderID(_ request: HTTPRequest) throws(HTTPError) -> String {
        let id = request.pathParameters["orderId"] ?? ""
        guard Identifier.isWellFormed(id) else { throw Problems.notFound("order \(id)") }
        return id
    }

    static let columns = """
        id, status, customer_email, customer_name, ship_line1, ship_line2, ship_city, ship_postal_code, ship_country,
        item_count, total_cents, currency, created_at, updated_at
        """

    static func json(_ row: MySQLRow, items: [JSONValue]) -> JSONValue {
        json(id: row[0].string ?? "", status: row[1].string ?? "", email: row[2].string ?? "", name: row[3].string ?? "",
             line1: row[4].string ?? "", line2: row[5].string, city: row[6].string ?? "", postalCode: row[7].string ?? "",
             country: row[8].string ?? "", itemCount: row[9].int ?? 0, total: row[10].int ?? 0, createdAt: row[12].date,
             updatedAt: row[13].date, items: items)
    }

    static func json(id: String, status: String, email: String, name: String, line1: String, line2: String?, city: String,
                     postalCode: String, country: String, itemCount: Int, total: Int, createdAt: MySQLDateTime?,
                     updatedAt: MySQLDateTime?, items: [JSONValue]) -> JSONValue {
        [
            "id": .string(id), "status": .string(status),
            "customer": ["email": .string(email), "name": .string(name)],
            "shippingAddress": ["line1": .string(line1), "line2": .string(line2), "city": .string(city),
                                "postalCode": .string(postalCode), "country": .string(country)],
            "items": .array(items), "itemCount": .int(itemCount), "totalCents": .int(total),
            "currency": .string(Catalog.currency), "createdAt": .string(createdAt?.rfc3339), "updatedAt": .string(updatedAt?.rfc3339),
        ]
    }

    static func load(_ c: MySQLConnection, _ id: String, lock: Bool = false) throws -> JSONValue {
        guard let row = try c.query("SELECT \(columns) FROM orders WHERE id = ?\(lock ? " FOR UPDATE" : "")", [.string(id)]).first else {
            throw Problems.notFound("order \(id)")
        }
        let items = try c.query("""
            SELECT product_id, sku, name, unit_price_cents, quantity FROM order_items WHERE order_id = ? ORDER BY product_id
            """, [.string(id)]).map {
            Carts.lineJSON(productID: $0[0].int ?? 0, sku: $0[1].string, name: $0[2].string, unitPrice: $0[3].int ?? 0, quantity: $0[4].int ?? 0)
        }
        return json(row, items: items)
    }

    func get(_ id: String) throws -> JSONValue {
        try pool.withConnection { try Orders.load($0, id) }
    }

    /// pending or paid → cancelled, stock put back in ascending product order. The
    /// status check and the restock share one locked transaction, so a second
    /// cancel finds `cancelled` and restocks nothing.
    func cancel(_ id: String) throws -> JSONValue {
        try pool.withTransaction { c in
            guard let status = try c.query("SELECT status FROM orders WHERE id = ? FOR UPDATE", [.string(id)]).first?[0].string else {
                throw Problems.notFound("order \(id)")
            }
            guard status == "pending" || status == "paid" else {
                throw Problems.conflict("illegal-status-change", "Order cannot be cancelled", "Order \(id) is \(status); only pending or paid orders can be cancelled.")
            }
            for line in try c.query("SELECT product_id, quantity FROM order_items WHERE order_id = ? ORDER BY product_id", [.string(id)]) {
                try c.execute("UPDATE products SET stock = stock + ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [line[1], line[0]])
            }
            try c.execute("UPDATE orders SET status = 'cancelled', updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [.string(id)])
            return try Orders.load(c, id)
        }
    }

    static func status(_ request: HTTPRequest) throws(HTTPError) -> String {
        var body = try JSONBody.parse(request)
        let status = body.string("status", required: true, length: 1...20)
        if let status, !statuses.contains(status) { body.fail("status", "must be one of \(statuses.joined(separator: ", "))") }
        try body.finish()
        return status!
    }

    func setStatus(_ id: String, to target: String) throws -> JSONValue {
        try pool.withTransaction { c in
            guard let status = try c.query("SELECT status FROM orders WHERE id = ? FOR UPDATE", [.string(id)]).first?[0].string else {
                throw Problems.notFound("order \(id)")
            }
            guard Orders.nextStatus[status] == target else {
                let allowed = Orders.nextStatus[status].map { "only to \($0)" } ?? "no further (it is final)"
                throw Problems.conflict("illegal-status-change", "Illegal status change",
                                        "Order \(id) is \(status) and can move \(allowed); cancel with POST /api/v1/orders/{id}/cancel.")
            }
            try c.execute("UPDATE orders SET status = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [.string(target), .string(id)])
            return try Orders.load(c, id)
        }
    }

    /// The admin's list, newest first, filtered by email and status.
    func list(_ request: HTTPRequest) throws -> JSONValue {
        var email: String?
        var status: String?
        var limit = 20
        var offset = 0
        for (name, value) in try uniqueQueryItems(request) {
            switch name {
            case "email":
                guard !value.isEmpty, value.unicodeScalars.count <= 254 else { throw Problems.badParameter(name, "must be an email address") }
                email = value
            case "status":
                guard Orders.statuses.contains(value) else { throw Problems.badParameter(name, "must be one of \(Orders.statuses.joined(separator: ", "))") }
                status = value
            case "limit": limit = try Catalog.integer(name, value, 1...100)
            case "offset": offset = try Catalog.integer(name, value, 0...10_000_000)
            default: break
            }
        }
        var conditions: [String] = []
        var parameters: [MySQLValue] = []
        if let email { conditions.append("customer_email = ?"); parameters.append(.string(email)) }
        if let status { conditions.append("status = ?"); parameters.append(.string(status)) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try pool.withConnection { c in
            let ids = try c.query("SELECT id FROM orders \(whereClause) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                                  parameters + [.int(Int64(limit)), .int(Int64(offset))])
            let total = try c.query("SELECT COUNT(*) FROM orders \(whereClause)", parameters).first?[0].int ?? 0
            let orders = try ids.map { try Orders.load(c, $0[0].string!) }
            return ["items": .array(orders), "total": .int(total), "limit": .int(limit), "offset": .int(offset)]
        }
    }
}
