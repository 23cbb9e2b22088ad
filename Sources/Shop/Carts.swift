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
        try c.query("""
            SELECT i.product_id, p.sku, p.name, p.price_cents, i.quantity FROM cart_items i JOIN products p ON p.id = i.product_id
            WHERE i.cart_id = ? ORDER BY i.added_at, i.product_id
            """, [.string(id)])
    }

    static func json(id: String, status: String, lines: [MySQLRow], createdAt: MySQLDateTime?, updatedAt: MySQLDateTime?) -> JSONValue {
        var items: [JSONValue] = []
        var count = 0
        var subtotal = 0
        for line in lines {
            let (price, quantity) = (line[3].int ?? 0, line[4].int ?? 0)
            items.append(Carts.lineJSON(productID: line[0].int ?? 0, sku: line[1].string, name: line[2].string, unitPrice: price, quantity: quantity))
            count += quantity
            subtotal += price * quantity
        }
        return ["id": .string(id), "status": .string(status), "items": .array(items), "itemCount": .int(count),
                "subtotalCents": .int(subtotal), "currency": .string(Catalog.currency),
                "createdAt": .string(createdAt?.rfc3339), "updatedAt": .string(updatedAt?.rfc3339)]
    }

    /// Locks the cart and checks that it can still change; returns its creation time,
    /// the database's clock now, and how many lines other than `productID` it has.
    private func lockOpenCart(_ c: MySQLConnection, _ id: String, productID: Int64) throws -> (createdAt: MySQLValue, now: MySQLValue, otherLines: Int) {
        guard let cart = try c.query("""
            SELECT status, created_at, UTC_TIMESTAMP(3), (SELECT COUNT(*) FROM cart_items WHERE cart_id = carts.id AND product_id <> ?)
            FROM carts WHERE id = ? FOR UPDATE
            """, [.int(productID), .string(id)]).first else {
            throw Problems.notFound("cart \(id)")
        }
        guard cart[0].string == "open" else {
            throw Problems.conflict("cart-ordered", "Cart already ordered", "Cart \(id) has been checked out and can no longer change.")
        }
        return (cart[1], cart[2], cart[3].int ?? 0)
    }

    static func quantity(_ request: HTTPRequest) throws(HTTPError) -> Int {
        var body = try JSONBody.parse(request)
        let quantity = body.int("quantity", required: true, range: 0...100)
        try body.finish()
        return quantity!
    }

    /// Sets a line (0 removes it). Stock is checked, not reserved.
    func setLine(_ id: String, productID: Int64, quantity: Int, onConflict: () -> Void) throws -> JSONValue {
        try pool.withTransaction { c in
            let cart = try lockOpenCart(c, id, productID: productID)
            if quantity == 0 {
                try c.execute("DELETE FROM cart_items WHERE cart_id = ? AND product_id = ?", [.string(id), .int(productID)])
            } else {
                guard let product = try c.query("SELECT stock FROM products WHERE id = ? AND active = 1", [.int(productID)]).first else {
                    throw Problems.notFound("product \(productID)")
                }
                let stock = product[0].int ?? 0
                guard quantity <= stock else {
                    onConflict()
                    throw Problems.conflict("insufficient-stock", "Not enough stock",
                                            "Only \(stock) of product \(productID) in stock; \(quantity) requested.",
                                            [("items", [["productId": .int(Int(productID)), "requested": .int(quantity), "available": .int(stock)]])])
                }
                guard cart.otherLines < Carts.maxLines else {
                    throw Problems.validation([FieldError(field: "productId", message: "a cart holds at most \(Carts.maxLines) different products")])
                }
                try c.execute("""
                    INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES (?, ?, ?, ?)
                    ON DUPLICATE KEY UPDATE quantity = ?
                    """, [.string(id), .int(productID), .int(Int64(quantity)), cart.now, .int(Int64(quantity))])
            }
            try c.execute("UPDATE carts SET updated_at = ? WHERE id = ?", [cart.now, .string(id)])
            return Carts.json(id: id, status: "open", lines: try lines(c, id), createdAt: cart.createdAt.date, updatedAt: cart.now.date)
        }
    }
}
