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
        try pool.withConnection { c in
            try c.execute("INSERT INTO carts (id, status, created_at, updated_at) VALUES (?, 'open', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))", [.string(id)])
        }
        return (id, try get(id))
    }

    func get(_ id: String) throws -> JSONValue {
        try pool.withConnection { c in try load(c, id) }
    }

    /// The cart with totals from current prices.
    func load(_ c: MySQLConnection, _ id: String) throws -> JSONValue {
        guard let cart = try c.query("SELECT status, created_at, updated_at FROM carts WHERE id = ?", [.string(id)]).first else {
            throw Problems.notFound("cart \(id)")
        }
        let lines = try c.query("""
            SELECT i.product_id, p.sku, p.name, p.price_cents, i.quantity FROM cart_items i JOIN products p ON p.id = i.product_id
            WHERE i.cart_id = ? ORDER BY i.added_at, i.product_id
            """, [.string(id)])
        var items: [JSONValue] = []
        var count = 0
        var subtotal = 0
        for line in lines {
            let (price, quantity) = (line[3].int ?? 0, line[4].int ?? 0)
            items.append(Carts.lineJSON(productID: line[0].int ?? 0, sku: line[1].string, name: line[2].string, unitPrice: price, quantity: quantity))
            count += quantity
            subtotal += price * quantity
        }
        return ["id": .string(id), "status": .string(cart[0].string), "items": .array(items), "itemCount": .int(count),
                "subtotalCents": .int(subtotal), "currency": .string(Catalog.currency),
                "createdAt": .string(cart[1].date?.rfc3339), "updatedAt": .string(cart[2].date?.rfc3339)]
    }

    /// Locks the cart and checks that it can still change.
    private func lockOpenCart(_ c: MySQLConnection, _ id: String) throws {
        guard let status = try c.query("SELECT status FROM carts WHERE id = ? FOR UPDATE", [.string(id)]).first?[0].string else {
            throw Problems.notFound("cart \(id)")
        }
        guard status == "open" else {
            throw Problems.conflict("cart-ordered", "Cart already ordered", "Cart \(id) has been checked out and can no longer change.")
        }
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
            try lockOpenCart(c, id)
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
                let lines = try c.query("SELECT COUNT(*) FROM cart_items WHERE cart_id = ? AND product_id <> ?", [.string(id), .int(productID)]).first?[0].int ?? 0
                guard lines < Carts.maxLines else {
                    throw Problems.validation([FieldError(field: "productId", message: "a cart holds at most \(Carts.maxLines) different products")])
                }
                try c.execute("""
                    INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))
                    ON DUPLICATE KEY UPDATE quantity = ?
                    """, [.string(id), .int(productID), .int(Int64(quantity)), .int(Int64(quantity))])
            }
            try c.execute("UPDATE carts SET updated_at = UTC_TIMESTAMP(3) WHERE id = ?", [.string(id)])
            return try load(c, id)
        }
    }
}
