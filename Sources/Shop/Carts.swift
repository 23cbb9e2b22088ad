import HTTPServer
import JSON
import MySQL

/// Carts: lines are checked against stock when set; nothing is reserved.
struct Carts {
    let pool: MySQLPool
    static let maxLines = 50

    static func cartID(_ request: HTTPRequest) throws(HTTPError) -> String {
        let id = request.pathParameters["cartId"] ?? ""
        guard Identifier.isWellFormed(id.utf8) else { throw Problems.notFound("cart \(id)") }
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
        try pool.withConnection(readOnly: true) { c in try load(c, id) }
    }

    /// The cart with totals from current prices.
    func load(_ c: MySQLConnection, _ id: String) throws -> JSONValue {
        guard let cart = try read(c, id) else { throw Problems.notFound("cart \(id)") }
        return Carts.json(id: id, status: cart.status, lines: cart.lines, createdAt: cart.createdAt, updatedAt: cart.updatedAt)
    }

    /// The cart and its lines in one statement; nil when there is no such cart.
    /// Lines hold product_id, sku, name, price_cents, quantity, added_at.
    private func read(_ c: MySQLConnection, _ id: String) throws
        -> (status: String, createdAt: MySQLDateTime?, updatedAt: MySQLDateTime?, lines: [MySQLRow])? {
        let rows = try c.query("""
            SELECT i.product_id, p.sku, p.name, p.price_cents, i.quantity, i.added_at, c.status, c.created_at, c.updated_at
            FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id LEFT JOIN products p ON p.id = i.product_id
            WHERE c.id = ?
            """, [.string(id)])
        guard let cart = rows.first else { return nil }
        return (cart[6].string ?? "", cart[7].date, cart[8].date, Carts.inCartOrder(rows.filter { !$0[0].isNull }))
    }

    /// Lines in the order they were added (then by product): sorted here rather than
    /// by the database, which would need a temporary table and a filesort for it.
    private static func inCartOrder(_ lines: [MySQLRow]) -> [MySQLRow] {
        lines.sorted { x, y in
            if let a = x[5].date, let b = y[5].date, a != b { return a < b }
            return (x[0].int ?? 0) < (y[0].int ?? 0)
        }
    }

    /// `lines` as `read` gives them.
    private static func json(id: String, status: String, lines: [MySQLRow], createdAt: MySQLDateTime?, updatedAt: MySQLDateTime?) -> JSONValue {
        var items: [JSONValue] = []
        var count = 0
        var subtotal = 0
        for line in lines {
            let (price, quantity) = (line[3].int ?? 0, line[4].int ?? 0)
            items.append(Carts.lineJSON(productID: line[0].int ?? 0, sku: line[1].string, name: line[2].string,
                                        unitPrice: price, quantity: quantity))
            count += quantity
            subtotal += price * quantity
        }
        return ["id": .string(id), "status": .string(status), "items": .array(items), "itemCount": .int(count),
                "subtotalCents": .int(subtotal), "currency": .string(Catalog.currency),
                "createdAt": .string(createdAt?.rfc3339), "updatedAt": .string(updatedAt?.rfc3339)]
    }

    /// Locks the cart by touching it, which also proves it open; otherwise says why not.
    /// The cart was created with this server's clock and is touched with the database's:
    /// GREATEST keeps updatedAt from going back when the two disagree.
    private func lockOpenCart(_ c: MySQLConnection, _ id: String) throws {
        let touched = try c.execute("UPDATE carts SET updated_at = GREATEST(updated_at, UTC_TIMESTAMP(3)) WHERE id = ? AND status = 'open'", [.string(id)])
        guard touched.affectedRows == 0 else { return }
        guard try c.query("SELECT status FROM carts WHERE id = ?", [.string(id)]).first != nil else {
            throw Problems.notFound("cart \(id)")
        }
        throw Carts.ordered(id)
    }

    /// Deletes open carts that nobody has changed for `days` days, with their lines
    /// (the foreign key cascades); returns how many (at most a batch). A line change
    /// racing this waits on the cart's row: it then finds the cart gone (404), or it
    /// touched the cart first, and the delete, which reads the row as it is after
    /// waiting, no longer matches it. A transaction of its own, so that when it is a
    /// deadlock's victim (the smaller side) it runs again.
    func pruneAbandoned(days: Int) throws -> UInt64 {
        try pool.withTransaction { try $0.execute(Carts.pruneStatement, [.int(Int64(days))]).affectedRows }
    }

    /// Reads the index on (status, updated_at), so it locks only the carts it deletes
    /// and the first one it keeps, which a line change may hold (hence the retry above).
    static let pruneStatement = "DELETE FROM carts WHERE status = 'open' AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? DAY LIMIT \(ShopAPI.pruneBatch)"

    static func ordered(_ id: String) -> HTTPError {
        Problems.problem(.cartOrdered, "Cart \(id) has been checked out and can no longer change.")
    }

    static func quantity(_ request: HTTPRequest) throws(HTTPError) -> Int {
        var body = try JSONBody.parse(request)
        let quantity = body.int("quantity", required: true, range: 0...100)
        try body.finish()
        return quantity!
    }

    /// Sets a line (0 removes it). Stock is checked, not reserved. Five statements on
    /// the common path: lock the cart, write the line only if the product is active
    /// and has the stock, read the cart back, and the transaction's own two.
    /// `precondition` is told, under the cart's lock, whether the line is there.
    func setLine(_ id: String, productID: Int64, quantity: Int, precondition: ((_ exists: Bool) throws -> Void)? = nil,
                 onConflict: () -> Void) throws -> JSONValue {
        try pool.withTransaction { c in
            try lockOpenCart(c, id)
            // Every change of a cart's lines locks the cart first, so a plain read (its
            // snapshot begins here, after the lock) sees the last one, and takes no gap
            // lock where other carts' lines would go.
            if let precondition {
                try precondition(try c.query("SELECT 1 FROM cart_items WHERE cart_id = ? AND product_id = ?",
                                             [.string(id), .int(productID)]).first != nil)
            }
            if quantity == 0 {
                try c.execute("DELETE FROM cart_items WHERE cart_id = ? AND product_id = ?", [.string(id), .int(productID)])
            } else {
                let written = try c.execute("""
                    INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
                    SELECT ?, id, ?, UTC_TIMESTAMP(3) FROM products WHERE id = ? AND active = 1 AND stock >= ?
                    ON DUPLICATE KEY UPDATE quantity = ?
                    """, [.string(id), .int(Int64(quantity)), .int(productID), .int(Int64(quantity)), .int(Int64(quantity))]).affectedRows
                // Nothing written: no such product, or not enough stock.
                if written == 0 {
                    guard let product = try c.query("SELECT stock FROM products WHERE id = ? AND active = 1", [.int(productID)]).first else {
                        throw Problems.notFound("product \(productID)")
                    }
                    let stock = product[0].int ?? 0
                    if quantity > stock {
                        onConflict()
                        throw Problems.problem(.insufficientStock, "Only \(stock) of product \(productID) in stock; \(quantity) requested.",
                                               extensions: [("items", [["productId": .int(Int(productID)), "requested": .int(quantity), "available": .int(stock)]])])
                    }
                }
            }
            guard let cart = try read(c, id) else { throw Problems.notFound("cart \(id)") }
            guard cart.lines.count <= Carts.maxLines else {
                throw Problems.validation([FieldError(field: "productId", message: "a cart holds at most \(Carts.maxLines) different products")])
            }
            return Carts.json(id: id, status: cart.status, lines: cart.lines, createdAt: cart.createdAt, updatedAt: cart.updatedAt)
        }
    }
}
