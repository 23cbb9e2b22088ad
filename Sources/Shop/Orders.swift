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
        guard Identifier.isWellFormed(id.utf8) else { throw Problems.notFound("order \(id)") }
        return id
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

    /// Orders with their lines in one statement, so a page of orders costs one round
    /// trip rather than two per order. `from` joins `orders o` to `order_items i` and
    /// sorts each order's rows together, by product.
    private static func fetch(_ c: MySQLConnection, from: String, _ parameters: [MySQLValue]) throws -> [JSONValue] {
        let rows = try c.query("""
            SELECT o.id, o.status, o.customer_email, o.customer_name, o.ship_line1, o.ship_line2, o.ship_city,
                   o.ship_postal_code, o.ship_country, o.item_count, o.total_cents, o.created_at, o.updated_at,
                   i.product_id, i.sku, i.name, i.unit_price_cents, i.quantity
            FROM \(from)
            """, parameters)
        var orders: [JSONValue] = []
        var first = 0
        while first < rows.count {
            let order = rows[first]
            var items: [JSONValue] = []
            var next = first
            while next < rows.count, rows[next][0] == order[0] {
                let line = rows[next]
                if !line[13].isNull {
                    items.append(Carts.lineJSON(productID: line[13].int ?? 0, sku: line[14].string, name: line[15].string,
                                                unitPrice: line[16].int ?? 0, quantity: line[17].int ?? 0))
                }
                next += 1
            }
            orders.append(json(id: order[0].string ?? "", status: order[1].string ?? "", email: order[2].string ?? "",
                               name: order[3].string ?? "", line1: order[4].string ?? "", line2: order[5].string,
                               city: order[6].string ?? "", postalCode: order[7].string ?? "", country: order[8].string ?? "",
                               itemCount: order[9].int ?? 0, total: order[10].int ?? 0, createdAt: order[11].date,
                               updatedAt: order[12].date, items: items))
            first = next
        }
        return orders
    }

    static func load(_ c: MySQLConnection, _ id: String) throws -> JSONValue {
        let from = "orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = ? ORDER BY i.product_id"
        guard let order = try fetch(c, from: from, [.string(id)]).first else {
            throw Problems.notFound("order \(id)")
        }
        return order
    }

    func get(_ id: String) throws -> JSONValue {
        try pool.withConnection(readOnly: true) { try Orders.load($0, id) }
    }

    /// pending or paid → cancelled, stock put back in ascending product order. The
    /// status check and the restock share one locked transaction, so a second
    /// cancel finds `cancelled` and restocks nothing.
    func cancel(_ id: String) throws -> JSONValue {
        try pool.withTransaction { c in
            guard let status = try c.query("SELECT status FROM orders WHERE id = ? FOR UPDATE", [.string(id)]).first?[0].string else {
                throw Problems.notFound("order \(id)")
            }
            guard Orders.cancellable(status) else { throw Orders.notCancellable(id, status) }
            for line in try c.query("SELECT product_id, quantity FROM order_items WHERE order_id = ? ORDER BY product_id", [.string(id)]) {
                try c.execute("UPDATE products SET stock = stock + ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [line[1], line[0]])
            }
            try c.execute("UPDATE orders SET status = 'cancelled', updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [.string(id)])
            return try Orders.load(c, id)
        }
    }

    static func cancellable(_ status: String) -> Bool { status == "pending" || status == "paid" }

    static func notCancellable(_ id: String, _ status: String) -> HTTPError {
        Problems.problem(.illegalStatusChange, "Order \(id) is \(status); only pending or paid orders can be cancelled.")
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
                throw Problems.problem(.illegalStatusChange, "Order \(id) is \(status) and can move \(allowed); cancel with POST /api/v1/orders/{id}/cancel.")
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
                guard !value.isEmpty, value.unicodeScalars.count <= 254 else { throw Problems.badParameter(name, "must be an email address of 1 to 254 characters") }
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
        // One transaction, so one snapshot: an order committed between the page and its
        // count would otherwise be counted and not listed.
        return try pool.withTransaction(readOnly: true) { c in
            let from = """
                (SELECT id FROM orders \(whereClause) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?) page
                JOIN orders o ON o.id = page.id LEFT JOIN order_items i ON i.order_id = o.id
                ORDER BY o.created_at DESC, o.id DESC, i.product_id
                """
            let orders = try Orders.fetch(c, from: from, parameters + [.int(Int64(limit)), .int(Int64(offset))])
            let total = try c.query("SELECT COUNT(*) FROM orders \(whereClause)", parameters).first?[0].int ?? 0
            return ["items": .array(orders), "total": .int(total), "limit": .int(limit), "offset": .int(offset)]
        }
    }
}
