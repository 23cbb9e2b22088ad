import HTTPServer
import JSON
import MySQL

/// Categories and products: public browsing and admin changes.
struct Catalog {
    let pool: MySQLPool
    /// How long the database may spend on a listing's page or count. Text searches and
    /// deep pages grow with the catalog; past this the database stops the statement
    /// itself, instead of running on after the client's 30 s read timeout gave up on it.
    var listingTimeLimitSeconds = 10.0
    static let currency = "USD"

    static let productColumns = """
        p.id, p.sku, p.name, p.description, c.slug, p.price_cents, p.currency, p.stock, p.image_url, p.active, p.created_at, p.updated_at
        """
    // STRAIGHT_JOIN keeps products the driving table, read by primary key, with its
    // category looked up per row.
    static let productFrom = "FROM products p STRAIGHT_JOIN categories c ON c.id = p.category_id"

    static func productJSON(_ row: MySQLRow) -> JSONValue {
        [
            "id": .int(row[0].int ?? 0), "sku": .string(row[1].string), "name": .string(row[2].string),
            "description": .string(row[3].string ?? ""), "category": .string(row[4].string),
            "priceCents": .int(row[5].int ?? 0), "currency": .string(row[6].string), "stock": .int(row[7].int ?? 0),
            "imageUrl": .string(row[8].string), "active": .bool(row[9].int == 1),
            "createdAt": .string(row[10].date?.rfc3339), "updatedAt": .string(row[11].date?.rfc3339),
        ]
    }

    // MARK: - Public

    func categories() throws -> JSONValue {
        let rows = try pool.withConnection(readOnly: true) { c in
            try c.query("""
                SELECT c.slug, c.name, COUNT(p.id) FROM categories c
                LEFT JOIN products p ON p.category_id = c.id AND p.active = 1
                GROUP BY c.id, c.slug, c.name ORDER BY c.name, c.id
                """)
        }
        return ["items": .array(rows.map { ["slug": .string($0[0].string), "name": .string($0[1].string), "productCount": .int($0[2].int ?? 0)] })]
    }

    struct ListQuery {
        var category: String?
        var text: String?
        var minPrice: Int?
        var maxPrice: Int?
        var sort = "id"
        var limit = 20
        var offset = 0

        /// Everything that shapes the page, for the cache.
        var cacheKey: String { JSONValue.array(filter + [.string(sort), .int(limit), .int(offset)]).text }
        /// What decides `total`: every page and sort of one filter shares its count.
        var countKey: String { JSONValue.array(filter).text }
        private var filter: [JSONValue] {
            [.string(category), .string(text), minPrice.map { .int($0) } ?? .null, maxPrice.map { .int($0) } ?? .null]
        }
    }

    static let sortOrders = [
        "id": "p.id", "name": "p.name, p.id", "price": "p.price_cents, p.id",
        "-price": "p.price_cents DESC, p.id DESC", "newest": "p.created_at DESC, p.id DESC",
    ]

    /// Reads the listing's query parameters; anything malformed or out of range is a 400.
    static func listQuery(_ request: HTTPRequest) throws(HTTPError) -> ListQuery {
        var query = ListQuery()
        for (name, value) in try uniqueQueryItems(request) {
            switch name {
            case "category":
                guard !value.isEmpty, value.unicodeScalars.count <= 64 else { throw Problems.badParameter(name, "must be a category slug of 1 to 64 characters") }
                query.category = value
            case "q":
                guard value.unicodeScalars.count <= 100 else { throw Problems.badParameter(name, "must be at most 100 characters") }
                let trimmed = String(value.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
                query.text = trimmed.isEmpty ? nil : trimmed
            case "minPrice": query.minPrice = try integer(name, value, 0...Int(Int32.max) * 1000)
            case "maxPrice": query.maxPrice = try integer(name, value, 0...Int(Int32.max) * 1000)
            case "limit": query.limit = try integer(name, value, 1...100)
            case "offset": query.offset = try integer(name, value, 0...10_000_000)
            case "sort":
                guard sortOrders[value] != nil, value != "id" else { throw Problems.badParameter(name, "must be one of name, price, -price, newest") }
                query.sort = value
            default: break  // unknown parameters are ignored, like unknown JSON members
            }
        }
        return query
    }

    static func integer(_ name: String, _ value: String, _ range: ClosedRange<Int>) throws(HTTPError) -> Int {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), value.utf8.count <= 18, let n = Int(value), range.contains(n) else {
            throw Problems.badParameter(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `%`, `_` and `\` in a search are ordinary characters.
    static func likePattern(_ text: String) -> String {
        var escaped = ""
        for ch in text {
            if ch == "\\" || ch == "%" || ch == "_" { escaped.append("\\") }
            escaped.append(ch)
        }
        return "%" + escaped + "%"
    }

    /// A page of a listing. `count` runs the counting query, or answers from a cache
    /// keyed by the filter alone (a count can cost a scan of an index at a million
    /// products; paging and re-sorting should not repeat it).
    func products(_ q: ListQuery, count: (_ key: String, _ run: () throws -> Int) throws -> Int = { try $1() }) throws -> JSONValue {
        // Slugs are ASCII; anything else names no category (and would not compare with an ASCII column).
        if let category = q.category, !category.utf8.allSatisfy({ Catalog.slugCharacters.contains($0) }) {
            return ["items": [], "total": 0, "limit": .int(q.limit), "offset": .int(q.offset)]
        }
        let listing = Catalog.listing(q)
        let limit = listingTimeLimitSeconds
        // One transaction, so one snapshot: a price or an active flag changed between the
        // page's ids and their rows would otherwise show a page out of its own order.
        let (rows, total) = try pool.withTransaction(readOnly: true) { c in
            do {
                let ids = try c.query(c.timeLimited(listing.page, seconds: limit), listing.pageParameters).map { $0[0] }
                let rows = try Catalog.rows(c, ids)
                // A short, non-empty page (or an empty first page) is the last one: no need to count.
                if (!ids.isEmpty && ids.count < q.limit) || (ids.isEmpty && q.offset == 0) {
                    return (rows, q.offset + ids.count)
                }
                return (rows, try count(q.countKey) {
                    try c.query(c.timeLimited(listing.count, seconds: limit), listing.countParameters).first?[0].int ?? 0
                })
            } catch let error as MySQLError where error.isTimeLimit {
                throw Problems.timeLimit("The database stopped this listing at its time limit (\(limit) s). A text search "
                    + "reads every product it could match: narrow it (a category, a price range, a longer q) or page less deep.")
            }
        }
        return ["items": .array(rows.map(Catalog.productJSON)), "total": .int(total), "limit": .int(q.limit), "offset": .int(q.offset)]
    }

    /// The products with these ids, in that order, by primary key.
    static func rows(_ c: MySQLConnection, _ ids: [MySQLValue]) throws -> [MySQLRow] {
        guard !ids.isEmpty else { return [] }
        // Padded with repeats to a power of two: pages of any length share eight prepared
        // statements rather than taking up to a hundred places in the connection's cache.
        var padded = ids
        while padded.count & (padded.count - 1) != 0 { padded.append(ids[0]) }
        let placeholders = Array(repeating: "?", count: padded.count).joined(separator: ", ")
        let found = try c.query("SELECT \(productColumns) \(productFrom) WHERE p.id IN (\(placeholders))", padded)
        let byID = Dictionary(found.map { ($0[0].int ?? 0, $0) }, uniquingKeysWith: { first, _ in first })
        return ids.compactMap { byID[$0.int ?? 0] }
    }

    /// The page and count statements for a listing, with their parameters. Fixed SQL
    /// fragments only; every value from the request is a bound parameter. The page
    /// gives ids alone, which its index holds: skipping `offset` entries then reads
    /// the index only, where reading each skipped row took tens of seconds at a deep
    /// offset into a million products (`rows` fetches the page's own rows after).
    static func listing(_ q: ListQuery) -> (page: String, pageParameters: [MySQLValue], count: String, countParameters: [MySQLValue]) {
        var conditions = ["p.active = 1"]
        var parameters: [MySQLValue] = []
        if let category = q.category {
            conditions.append("p.category_id = (SELECT id FROM categories WHERE slug = ?)")
            parameters.append(.string(category))
        }
        if let text = q.text {
            conditions.append("(p.name LIKE ? OR p.description LIKE ?)")
            let pattern = likePattern(text)
            parameters += [.string(pattern), .string(pattern)]
        }
        if let min = q.minPrice {
            conditions.append("p.price_cents >= ?")
            parameters.append(.int(Int64(min)))
        }
        if let max = q.maxPrice {
            conditions.append("p.price_cents <= ?")
            parameters.append(.int(Int64(max)))
        }
        let whereClause = conditions.joined(separator: " AND ")
        // The index made for this filter and sort, named outright: the optimizer's own choice
        // depends on statistics and can fall back to a full scan (seen right after a bulk load).
        let key = ["id": "id", "name": "name", "price": "price", "-price": "price", "newest": "created"][q.sort]!
        let index = q.category != nil ? "ix_products_category_\(key)" : (key == "id" ? "ix_products_active" : "ix_products_\(key)")
        return ("SELECT p.id FROM products p FORCE INDEX (\(index)) WHERE \(whereClause) ORDER BY \(sortOrders[q.sort]!) LIMIT ? OFFSET ?",
                parameters + [.int(Int64(q.limit)), .int(Int64(q.offset))],
                "SELECT COUNT(*) FROM products p FORCE INDEX (\(q.category != nil ? "ix_products_category_id" : "ix_products_price")) WHERE \(whereClause)",
                parameters)
    }

    /// Parses a product id from a path; anything that is not one is simply unknown.
    /// Only the canonical spelling names a product (`01` does not), so each has one URL.
    static func productID(_ request: HTTPRequest, _ name: String = "id") throws(HTTPError) -> Int64 {
        let text = request.pathParameters[name] ?? ""
        guard text.utf8.first != UInt8(ascii: "0"), text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let id = Int64(text), id > 0 else {
            throw Problems.notFound("product \(text)")
        }
        return id
    }

    func product(_ id: Int64, includeInactive: Bool = false) throws -> JSONValue {
        try pool.withConnection(readOnly: true) { c in try Catalog.product(c, id, includeInactive: includeInactive) }
    }

    private static func product(_ c: MySQLConnection, _ id: Int64, includeInactive: Bool) throws -> JSONValue {
        guard let row = try c.query("SELECT \(productColumns) \(productFrom) WHERE p.id = ?\(includeInactive ? "" : " AND p.active = 1")", [.int(id)]).first
        else { throw Problems.notFound("product \(id)") }
        return productJSON(row)
    }

    // MARK: - Admin

    static let slugCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-".utf8)
    static let skuCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".utf8)

    /// Lowercase letters and digits in words joined by single hyphens: `trail-shoes`.
    static func isSlug(_ text: String) -> Bool {
        let words = text.split(separator: "-", omittingEmptySubsequences: false)
        return !text.isEmpty && words.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { slugCharacters.contains($0) && $0 != UInt8(ascii: "-") } }
    }

    /// An absolute path (not `//`, which would name another host) or an http(s) URL
    /// whose authority is a plain host name or IPv4 address with an optional port;
    /// no whitespace. The same rule as the spec's pattern for `imageUrl`.
    /// Byte-wise: String.hasPrefix compares graphemes, and a combining mark can fuse with the '/'.
    static func isImageURL(_ url: String) -> Bool {
        guard !url.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else { return false }
        let bytes = Array(url.utf8)
        if bytes.first == UInt8(ascii: "/") { return bytes.count == 1 || bytes[1] != UInt8(ascii: "/") }
        guard let scheme = ["https://", "http://"].first(where: { bytes.starts(with: $0.utf8) }) else { return false }
        let rest = bytes.dropFirst(scheme.utf8.count)
        let authority = rest.prefix { !"/?#".utf8.contains($0) }
        let parts = authority.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
        let hostCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-".utf8)
        guard !parts[0].isEmpty, parts[0].allSatisfy({ hostCharacters.contains($0) }) else { return false }
        return parts.count == 1 || ((1...5).contains(parts[1].count) && parts[1].allSatisfy { (0x30...0x39).contains($0) })
    }

    struct ProductFields {
        var sku: String?
        var name: String?
        var description: String?
        var category: String?
        var priceCents: Int?
        var stock: Int?
        var imageUrl: String??
        var active: Bool?
    }

    /// Reads product fields; on create the required ones must be there.
    static func productFields(_ request: HTTPRequest, creating: Bool) throws(HTTPError) -> ProductFields {
        var body = try JSONBody.parse(request)
        var f = ProductFields()
        // On a change, `sku` may only repeat the product's own (`update` checks), so a
        // product read with GET can be sent back with its changes.
        f.sku = body.string("sku", required: creating, length: 1...64)
        if creating, let sku = f.sku, !sku.utf8.allSatisfy({ skuCharacters.contains($0) }) {
            body.fail("sku", "may contain only letters, digits, '-', '_' and '.'")
        }
        if let currency = body.string("currency", required: false, length: 3...3), currency != Catalog.currency {
            body.fail("currency", "must be \(Catalog.currency): this store sells in one currency")
        }
        f.name = body.string("name", required: creating, length: 1...200, nonBlank: true)
        f.description = body.string("description", required: false, length: 0...5000, allowNewlines: true)
        f.category = body.string("category", required: creating, length: 1...64)
        if let slug = f.category, !isSlug(slug) {
            body.fail("category", "must be a slug of lowercase letters, digits and '-', such as trail-shoes")
        }
        f.priceCents = body.int("priceCents", required: creating, range: 0...100_000_000)
        f.stock = body.int("stock", required: creating, range: 0...1_000_000_000)
        if body.has("imageUrl") {
            let url = body.string("imageUrl", required: false, length: 1...2048, nullable: true)
            if let url, !Catalog.isImageURL(url) {
                body.fail("imageUrl", "must be an absolute path such as /images/shoe.svg or an http(s) URL such as https://cdn.example.com/shoe.png")
            }
            f.imageUrl = .some(url)
        }
        f.active = body.bool("active")
        try body.finish()
        return f
    }

    /// The category's id, creating it (named after its slug) if it is new.
    private func categoryID(_ c: MySQLConnection, _ slug: String) throws -> Int64 {
        if let id = try c.query("SELECT id FROM categories WHERE slug = ?", [.string(slug)]).first?[0].int { return Int64(id) }
        let name = slug.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
        try c.execute("INSERT IGNORE INTO categories (slug, name) VALUES (?, ?)", [.string(slug), .string(name)])
        return Int64(try c.query("SELECT id FROM categories WHERE slug = ?", [.string(slug)]).first![0].int!)
    }

    func create(_ f: ProductFields) throws -> (id: Int64, json: JSONValue) {
        do {
            return try pool.withTransaction { c in
                let category = try categoryID(c, f.category!)
                let result = try c.execute("""
                    INSERT INTO products (sku, name, description, category_id, price_cents, currency, stock, image_url, active, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))
                    """,
                    [.string(f.sku!), .string(f.name!), .string(f.description ?? ""), .int(category), .int(Int64(f.priceCents!)),
                     .string(Catalog.currency), .int(Int64(f.stock!)), MySQLValue(f.imageUrl ?? nil), .int(f.active == false ? 0 : 1)])
                let id = Int64(result.lastInsertID)
                return (id, try Catalog.product(c, id, includeInactive: true))
            }
        } catch let error as MySQLError where error.number == 1062 {
            throw Problems.problem(.duplicateSKU, "A product with SKU \(f.sku!) already exists.")
        }
    }

    /// Answers with the product as this change left it: read back under the row's lock,
    /// before another change can commit over it.
    func update(_ id: Int64, _ f: ProductFields) throws -> JSONValue {
        try pool.withTransaction { c in
            guard let row = try c.query("SELECT sku FROM products WHERE id = ? FOR UPDATE", [.int(id)]).first else {
                throw Problems.notFound("product \(id)")
            }
            if let sku = f.sku, let current = row[0].string, sku != current {
                throw Problems.validation([FieldError(field: "sku", message: "cannot be changed (it is \(current)); a new SKU is a new product")])
            }
            var sets: [String] = []
            var values: [MySQLValue] = []
            if let name = f.name { sets.append("name = ?"); values.append(.string(name)) }
            if let description = f.description { sets.append("description = ?"); values.append(.string(description)) }
            if let slug = f.category { sets.append("category_id = ?"); values.append(.int(try categoryID(c, slug))) }
            if let price = f.priceCents { sets.append("price_cents = ?"); values.append(.int(Int64(price))) }
            if let stock = f.stock { sets.append("stock = ?"); values.append(.int(Int64(stock))) }
            if let url = f.imageUrl { sets.append("image_url = ?"); values.append(MySQLValue(url)) }
            if let active = f.active { sets.append("active = ?"); values.append(.int(active ? 1 : 0)) }
            if !sets.isEmpty {
                try c.execute("UPDATE products SET \(sets.joined(separator: ", ")), updated_at = UTC_TIMESTAMP(3) WHERE id = ?", values + [.int(id)])
            }
            return try Catalog.product(c, id, includeInactive: true)
        }
    }

    /// Deactivates; orders keep their snapshot of the product.
    func deactivate(_ id: Int64) throws {
        let found = try pool.withConnection { c -> Bool in
            guard try c.query("SELECT id FROM products WHERE id = ?", [.int(id)]).first != nil else { return false }
            try c.execute("UPDATE products SET active = 0, updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND active = 1", [.int(id)])
            return true
        }
        guard found else { throw Problems.notFound("product \(id)") }
    }
}
