import MySQL

/// `storefront seed`: a demo catalog, or N generated products for benchmarks.
public enum Seeder {
    /// Slugs the benchmark scenarios rotate through (shared/bench/scenarios), in id order 1...8.
    static let categories: [(slug: String, name: String, skuPrefix: String, nouns: [String])] = [
        ("shoes", "Shoes", "SHOE", ["Trail Runner", "Road Racer", "Hiking Boot", "Court Sneaker", "Sandal"]),
        ("apparel", "Apparel", "APRL", ["Rain Jacket", "Merino Tee", "Fleece Hoodie", "Chino Pants", "Wool Socks"]),
        ("accessories", "Accessories", "ACCS", ["Leather Belt", "Canvas Cap", "Sunglasses", "Watch Strap", "Wallet"]),
        ("outdoor", "Outdoor", "OUTD", ["Dome Tent", "Sleeping Bag", "Daypack", "Headlamp", "Water Filter"]),
        ("electronics", "Electronics", "ELEC", ["Headphones", "Power Bank", "Smart Speaker", "USB-C Hub", "E-Reader"]),
        ("home", "Home", "HOME", ["Chef Knife", "Cast Iron Pan", "Linen Throw", "Desk Lamp", "Coffee Grinder"]),
        ("books", "Books", "BOOK", ["Field Guide", "Cookbook", "Travel Atlas", "Novel", "Notebook"]),
        ("toys", "Toys", "TOYS", ["Puzzle", "Building Set", "Kite", "Board Game", "Plush Bear"]),
    ]

    /// The demo catalog: (category index, name, description, price in cents, stock).
    static let demo: [(Int, String, String, Int, Int)] = [
        (0, "Ridgeline Trail Runner", "Grippy lugs, a rock plate and a roomy toe box for long days on rough trails.", 12999, 17),
        (0, "Tempo Road Racer", "A light, springy racer for 5K to half marathon. Breathable knit upper.", 14999, 9),
        (0, "Summit Hiking Boot", "Waterproof full-grain leather with a Vibram sole. Built for multi-day treks.", 18999, 2),
        (0, "Baseline Court Sneaker", "A clean leather sneaker that goes with everything.", 8999, 40),
        (0, "Harbor Slide Sandal", "Cushioned recycled-foam slide for the beach and the locker room.", 3499, 0),
        (1, "Stormshell Rain Jacket", "Three-layer waterproof shell with pit zips and a helmet-ready hood.", 22900, 12),
        (1, "Merino Crew Tee", "Soft 150 gsm merino that stays fresh for days of travel.", 5900, 55),
        (1, "Campfire Fleece Hoodie", "Heavyweight fleece with a kangaroo pocket.", 7900, 23),
        (1, "Everyday Chino Pants", "Stretch cotton chinos with a tapered fit.", 6900, 31),
        (1, "Alpine Wool Socks (3 pack)", "Cushioned merino socks for hiking and everyday wear.", 2400, 120),
        (2, "Heritage Leather Belt", "Vegetable-tanned leather with a solid brass buckle.", 4900, 18),
        (2, "Waxed Canvas Cap", "Six-panel cap in waxed canvas that shrugs off drizzle.", 2900, 44),
        (2, "Polarized Sunglasses", "Lightweight frames with polarized lenses and a lifetime hinge warranty.", 8900, 15),
        (2, "Nylon Watch Strap", "Quick-release 20 mm strap in a dozen colours.", 1900, 80),
        (2, "Slim Card Wallet", "Holds six cards and folded notes; RFID-blocking lining.", 3900, 27),
        (3, "Two-Person Dome Tent", "Freestanding, 2.1 kg, sets up in five minutes.", 24900, 6),
        (3, "Three-Season Sleeping Bag", "Rated to -5 °C with a water-resistant down fill.", 19900, 8),
        (3, "20 L Daypack", "A light pack with a hydration sleeve and hip belt pockets.", 6900, 25),
        (3, "Rechargeable Headlamp", "400 lumens, red night mode, USB-C charging.", 3900, 60),
        (3, "Squeeze Water Filter", "Removes 99.9999 % of bacteria; filters 1,000 litres.", 3400, 33),
        (4, "Noise-Cancelling Headphones", "Over-ear, 30-hour battery, multipoint Bluetooth.", 24900, 14),
        (4, "20,000 mAh Power Bank", "Charges a laptop over 65 W USB-C.", 5900, 37),
        (4, "Smart Speaker Mini", "Room-filling sound in a palm-sized speaker.", 4900, 22),
        (4, "7-in-1 USB-C Hub", "HDMI 4K60, SD, two USB-A, Ethernet and 100 W pass-through.", 4500, 41),
        (4, "Glare-Free E-Reader", "Six-inch 300 ppi screen with a warm light and weeks of battery.", 12900, 11),
        (5, "Chef's Knife 20 cm", "Forged stainless steel, full tang, honed by hand.", 8900, 16),
        (5, "Cast Iron Skillet 26 cm", "Pre-seasoned, oven-safe, lasts generations.", 4500, 29),
        (5, "Linen Throw Blanket", "Stonewashed European linen in oat.", 7900, 13),
        (5, "Adjustable Desk Lamp", "Dimmable LED arm lamp with a warm-to-cool range.", 6900, 19),
        (5, "Burr Coffee Grinder", "40 grind settings from espresso to cold brew.", 11900, 7),
        (6, "Birds of the Coast: A Field Guide", "500 species illustrated, with range maps.", 2900, 35),
        (6, "One-Pot Weeknights", "A cookbook of 120 dinners in a single pan.", 3200, 26),
        (6, "World Travel Atlas", "Maps, flags and facts for 195 countries.", 4500, 12),
        (6, "The Lighthouse Keeper", "A novel of storms, secrets and second chances.", 1800, 48),
        (6, "Dot-Grid Notebook A5", "192 numbered pages of fountain-pen-friendly paper.", 1600, 90),
        (7, "1000-Piece Mountain Puzzle", "A panoramic alpine scene, thick recycled board.", 2400, 21),
        (7, "Wooden Building Set", "100 beech blocks in natural and bright colours.", 4900, 10),
        (7, "Stunt Kite", "Dual-line delta kite for beginners, ready to fly.", 3900, 14),
        (7, "Strategy Board Game", "Trade, build and settle; 3-4 players, 60 minutes.", 4400, 20),
        (7, "Plush Bear", "An extra-soft 30 cm bear, machine washable.", 2200, 3),
    ]

    static func ensureCategories(_ c: MySQLConnection) throws {
        for (slug, name, _, _) in categories {
            try c.execute("INSERT IGNORE INTO categories (slug, name) VALUES (?, ?)", [.string(slug), .string(name)])
        }
    }

    /// Loads the demo catalog when there are no products yet; returns how many it added.
    public static func seedDemo(_ pool: MySQLPool) throws -> Int {
        try pool.withTransaction { c in
            guard (try c.query("SELECT COUNT(*) FROM products").first?[0].int ?? 0) == 0 else { return 0 }
            try ensureCategories(c)
            for (index, entry) in demo.enumerated() {
                let (categoryIndex, name, description, price, stock) = entry
                let category = categories[categoryIndex]
                try c.execute("""
                    INSERT INTO products (sku, name, description, category_id, price_cents, currency, stock, image_url, active, created_at, updated_at)
                    VALUES (?, ?, ?, (SELECT id FROM categories WHERE slug = ?), ?, 'USD', ?, ?, 1,
                            UTC_TIMESTAMP(3) - INTERVAL ? MINUTE, UTC_TIMESTAMP(3) - INTERVAL ? MINUTE)
                    """,
                    [.string("\(category.skuPrefix)-\(String(1000 + index))"), .string(name), .string(description), .string(category.slug),
                     .int(Int64(price)), .int(Int64(stock)), .string("/images/\(category.slug).svg"), .int(Int64(demo.count - index)),
                     .int(Int64(demo.count - index))])
            }
            return demo.count
        }
    }

    /// Replaces the whole catalog (and every cart, order and idempotency key)
    /// with products 1...count derived from their id alone, each with plenty of
    /// stock, as the benchmark scenarios expect.
    public static func seedGenerated(_ pool: MySQLPool, count: Int, stock: Int = 1_000_000, progress: (Int) -> Void = { _ in }) throws {
        let adjectives = ["Classic", "Lightweight", "Premium", "Everyday", "Rugged", "Compact", "Deluxe", "Eco"]
        let colours = ["black", "navy", "olive", "sand", "red", "grey", "teal", "white", "orange"]
        try pool.withConnection { c in
            try c.run("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            defer { _ = try? c.run("SET SESSION foreign_key_checks = 1, unique_checks = 1") }
            for table in ["idempotency_keys", "order_items", "orders", "cart_items", "carts", "products", "categories"] {
                try c.run("TRUNCATE TABLE \(table)")
            }
            try ensureCategories(c)
            let batch = 500
            let rowSQL = "(?, ?, ?, ?, ?, ?, 'USD', ?, ?, 1, ?, ?)"
            var start = 1
            while start <= count {
                let end = min(start + batch - 1, count)
                var values: [MySQLValue] = []
                values.reserveCapacity((end - start + 1) * 10)
                for i in start...end {
                    let categoryIndex = (i - 1) % categories.count
                    let category = categories[categoryIndex]
                    let noun = category.nouns[(i / categories.count) % category.nouns.count]
                    let adjective = adjectives[(i * 7) % adjectives.count]
                    let colour = colours[(i * 5) % colours.count]
                    let created = MySQLValue.date(minutesAfterEpoch(i))
                    let sku = category.skuPrefix + "-" + String(repeating: "0", count: max(0, 6 - String(i).count)) + String(i)
                    values += [
                        .int(Int64(i)), .string(sku), .string("\(adjective) \(noun) \(i)"),
                        .string("\(adjective) \(noun.lowercased()) in \(colour). Part of our \(category.slug) range, item \(i), built to last and easy to care for."),
                        .int(Int64(categoryIndex + 1)), .int(Int64(499 + (i * 7919) % 50000)), .int(Int64(stock)),
                        .string("/images/\(category.slug).svg"), created, created,
                    ]
                }
                try c.execute("""
                    INSERT INTO products (id, sku, name, description, category_id, price_cents, currency, stock, image_url, active, created_at, updated_at)
                    VALUES \(Array(repeating: rowSQL, count: end - start + 1).joined(separator: ", "))
                    """, values)
                progress(end)
                start = end + 1
            }
        }
    }

    /// 2024-01-01 00:00 UTC plus `minutes`.
    static func minutesAfterEpoch(_ minutes: Int) -> MySQLDateTime {
        var days = minutes / 1440
        let rest = minutes % 1440
        var year = 2024
        while true {
            let length = (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 366 : 365
            if days < length { break }
            days -= length
            year += 1
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthLengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var month = 0
        while days >= monthLengths[month] { days -= monthLengths[month]; month += 1 }
        return MySQLDateTime(year: year, month: month + 1, day: days + 1, hour: rest / 60, minute: rest % 60)
    }
}
