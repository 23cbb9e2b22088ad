import HTTPServer
import JSON
import MySQL

/// Carts: lines are checked against stock when set; nothing is reserved.
struct Carts {
    let pool: MySQLPool
    static let maxLines = 50

    static func cartID(_ request: HTTPRequest) throws(HTTPError) -> String {
        let id = request.pathParameters["cartId"] ?? ""
        guard Identifier.isWellFormed(id) else { throw Problems.notFound("cart \(id)") }
        return id
    }

    static func lineJSON(productID: Int, sku: String?, name: String?, unitPrice: Int, quantity: Int) -> JSONValue {
        ["productId": .int(productID), "sku": .string(sku), "name": .string(name), "unitPriceCents": .int(unitPrice),
         "quantity": .int(quantity), "lineTotalCents": .int(unitPrice * quantity)]
    }

    func create() throws -> (id: String, json: JSONValue) {
        let id = Identifier.make()
        let now = MySQLValue.date(MySQLDateTime.now())
        try pool.withConnection { c in
            try c.execute("INSERT INTO carts (id, status, created_at, updated_at) VALUES (?, 'open', ?, ?)", [.string(id), now, now])
        }
        return (id, Carts.json(id: id, status: "open", lines: [], createdAt: now.date, updatedAt: now.date))
    }

    func get(_ id: String) throws -> JSONValue {
        try pool.withConnection { c in try load(c, id) }
    }

    /// The cart with totals from current prices.
    func load(_ c: MySQLConnection, _ id: String) throws -> JSONValue {
        guard let cart = try c.query("SELECT status, created_at, updated_at FROM carts WHERE id = ?", [.string(id)]).first else {
            throw Problems.notFound("cart \(id)")
        }
        return Carts.json(id: id, status: cart[0].string ?? "", lines: try lines(c, id), createdAt: cart[1].date, updatedAt: cart[2].date)
    }

    private func lines(_ c: MySQLConnection, _ id: String) throws -> [MySQLRow] {
        Carts.inCartOrder(try c.query("""
            SELECT i.product_id, p.sku, p.name, p.price_cents, i.quantity, i.added_at FROM cart_items i JOIN products p ON p.id = i.product_id
            WHERE i.cart_id = ?
            """, [.string(id)]), column: 0)
    }

    /// Lines in the order they were added (then by product): sorted here rather than
    /// by the database, which would need a temporary table and a filesort for it.
    /// `lines` hold product_id from `column` on and added_at at `column + 5`.
    static func inCartOrder(_ lines: [MySQLRow], column: Int) -> [MySQLRow] {
        lines.sorted { x, y in
            if let a = x[column + 5].date, let b = y[column + 5].date, a != b { return a < b }
            return (x[column].int ?? 0) < (y[column].int ?? 0)
        }
    }

    /// `lines` hold product_id, sku, name, price_cents, quantity from column `column` on.
    static func json(id: String, status: String, lines: [MySQLRow], column: Int = 0, createdAt: MySQLDateTime?, updatedAt: MySQLDateTime?) -> JSONValue {
        var items: [JSONValue] = []
        var count = 0
        var subtotal = 0
        for line in lines {
            let (price, quantity) = (line[column + 3].int ?? 0, line[column + 4].int ?? 0)
            items.append(Carts.lineJSON(productID: line[column].int ?? 0, sku: line[column + 1].string, name: line[column + 2].string,
                                        unitPrice: price, quantity: quantity))
            count += quantity
            subtotal += price * quantity
        }
        return ["id": .string(id), "status": .string(status), "items": .array(items), "itemCount": .int(count),
                "subtotalCents": .int(subtotal), "currency": .string(Catalog.currency),
                "createdAt": .string(createdAt?.rfc3339), "updatedAt": .string(updatedAt?.rfc3339)]
    }

    static func quantity(_ request: HTTPRequest) throws(HTTPError) -> Int {
        var body = try JSONBody.parse(request)
        let quantity = body.int("quantity", required: true, range: 0...100)
        try body.finish()
        return quantity!
    }

    /// Sets a line (0 removes it). Stock is checked, not reserved. One call of the
    /// cart_set_line procedure (Schema): it locks the cart, writes the line, and
    /// answers with the cart, or with why nothing changed.
    func setLine(_ id: String, productID: Int64, quantity: Int, onConflict: () -> Void) throws -> JSONValue {
        let rows = try pool.withRetries { c in
            try c.query("CALL cart_set_line(?, ?, ?, ?)", [.string(id), .int(productID), .int(Int64(quantity)), .int(Int64(Carts.maxLines))])
        }
        guard let first = rows.first, let outcome = first[0].string else {
            throw UnexpectedAnswer(description: "cart_set_line answered no outcome for cart \(id)")
        }
        switch outcome {
        case "ok":
            let lines = Carts.inCartOrder(rows.filter { !$0[3].isNull }, column: 3)
            return Carts.json(id: id, status: "open", lines: lines, column: 3, createdAt: first[1].date, updatedAt: first[2].date)
        case "cart-not-found":
            throw Problems.notFound("cart \(id)")
        case "cart-ordered":
            throw Problems.conflict("cart-ordered", "Cart already ordered", "Cart \(id) has been checked out and can no longer change.")
        case "product-not-found":
            throw Problems.notFound("product \(productID)")
        case "insufficient-stock":
            let stock = first[1].int ?? 0
            onConflict()
            throw Problems.conflict("insufficient-stock", "Not enough stock", "Only \(stock) of product \(productID) in stock; \(quantity) requested.",
                                    [("items", [["productId": .int(Int(productID)), "requested": .int(quantity), "available": .int(stock)]])])
        case "too-many-lines":
            throw Problems.validation([FieldError(field: "productId", message: "a cart holds at most \(Carts.maxLines) different products")])
        default:
            throw UnexpectedAnswer(description: "cart_set_line answered an unknown outcome '\(outcome)' for cart \(id)")
        }
    }

    /// The procedure answered something this code does not know (a schema newer or
    /// older than the binary): logged, 500.
    struct UnexpectedAnswer: Error, CustomStringConvertible {
        let description: String
    }
}
