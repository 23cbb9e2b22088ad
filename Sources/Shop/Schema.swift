import MySQL

/// The database schema as versioned migrations. InnoDB and utf8mb4 throughout;
/// SQL that runs on MySQL 8.0+ and MariaDB 10.6+ (no RETURNING, no
/// MariaDB-only syntax). Times are DATETIME(3) in UTC (sessions run in UTC).
///
/// A migration must keep the release before it working: it adds (tables,
/// nullable or defaulted columns, indexes) and leaves dropping what that release
/// still uses to a later one. A rollout migrates before its new pods serve, while
/// the old ones still do, and a rollback runs the old build on the new schema.
public enum Schema {
    /// The version this binary expects; /readyz fails until the database has it
    /// (or a newer one).
    public static var latestVersion: Int { migrations.map(\.version).max()! }

    /// Applies what is missing and says, for the log, what the database has now.
    public static func migrate(_ connection: MySQLConnection) throws -> String {
        let applied = try MySQLMigrator.migrate(connection, migrations)
        let version = try MySQLMigrator.currentVersion(connection) ?? 0
        var state = "version \(version)"
        if version > latestVersion {
            state += ", newer than this build's \(latestVersion): a later release migrated it, and this build serves it as it is"
        }
        return applied.isEmpty ? "the schema is up to date (\(state))"
            : "applied migrations \(applied.map(String.init).joined(separator: ", ")); the schema is at \(state)"
    }

    static let table = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

    public static let migrations: [Migration] = [
        Migration(version: 1, name: "catalog, carts, orders, idempotency keys", statements: [
            """
            CREATE TABLE IF NOT EXISTS categories (
                id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                slug VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                name VARCHAR(100) NOT NULL,
                UNIQUE KEY uq_categories_slug (slug)
            ) \(table)
            """,
            // Each listing index is (filter, active, sort key); InnoDB appends the
            // primary key, which is the tie-break every sort ends with.
            """
            CREATE TABLE IF NOT EXISTS products (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                name VARCHAR(200) NOT NULL,
                description TEXT NOT NULL,
                category_id INT NOT NULL,
                price_cents BIGINT NOT NULL,
                currency CHAR(3) CHARACTER SET ascii NOT NULL DEFAULT 'USD',
                stock INT NOT NULL,
                image_url VARCHAR(2048) NULL,
                active TINYINT(1) NOT NULL DEFAULT 1,
                created_at DATETIME(3) NOT NULL,
                updated_at DATETIME(3) NOT NULL,
                UNIQUE KEY uq_products_sku (sku),
                KEY ix_products_category_id (category_id, active),
                KEY ix_products_category_name (category_id, active, name),
                KEY ix_products_category_price (category_id, active, price_cents),
                KEY ix_products_category_created (category_id, active, created_at),
                KEY ix_products_name (active, name),
                KEY ix_products_price (active, price_cents),
                KEY ix_products_created (active, created_at),
                CONSTRAINT ck_products_stock CHECK (stock >= 0),
                CONSTRAINT ck_products_price CHECK (price_cents >= 0),
                CONSTRAINT fk_products_category FOREIGN KEY (category_id) REFERENCES categories (id)
            ) \(table)
            """,
            """
            CREATE TABLE IF NOT EXISTS carts (
                id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                status ENUM('open', 'ordered') NOT NULL DEFAULT 'open',
                created_at DATETIME(3) NOT NULL,
                updated_at DATETIME(3) NOT NULL
            ) \(table)
            """,
            """
            CREATE TABLE IF NOT EXISTS cart_items (
                cart_id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                product_id BIGINT NOT NULL,
                quantity INT NOT NULL,
                added_at DATETIME(3) NOT NULL,
                PRIMARY KEY (cart_id, product_id),
                KEY ix_cart_items_product (product_id),
                CONSTRAINT ck_cart_items_quantity CHECK (quantity BETWEEN 1 AND 100),
                CONSTRAINT fk_cart_items_cart FOREIGN KEY (cart_id) REFERENCES carts (id) ON DELETE CASCADE,
                CONSTRAINT fk_cart_items_product FOREIGN KEY (product_id) REFERENCES products (id)
            ) \(table)
            """,
            """
            CREATE TABLE IF NOT EXISTS orders (
                id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                cart_id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                status ENUM('pending', 'paid', 'shipped', 'delivered', 'cancelled') NOT NULL,
                customer_email VARCHAR(254) NOT NULL,
                customer_name VARCHAR(200) NOT NULL,
                ship_line1 VARCHAR(200) NOT NULL,
                ship_line2 VARCHAR(200) NULL,
                ship_city VARCHAR(100) NOT NULL,
                ship_postal_code VARCHAR(20) NOT NULL,
                ship_country CHAR(2) CHARACTER SET ascii NOT NULL,
                item_count INT NOT NULL,
                total_cents BIGINT NOT NULL,
                currency CHAR(3) CHARACTER SET ascii NOT NULL,
                created_at DATETIME(3) NOT NULL,
                updated_at DATETIME(3) NOT NULL,
                UNIQUE KEY uq_orders_cart (cart_id),
                KEY ix_orders_email (customer_email, created_at),
                KEY ix_orders_status (status, created_at),
                KEY ix_orders_created (created_at)
            ) \(table)
            """,
            // Lines keep the product's sku, name and price as they were at checkout.
            """
            CREATE TABLE IF NOT EXISTS order_items (
                order_id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                product_id BIGINT NOT NULL,
                sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                name VARCHAR(200) NOT NULL,
                unit_price_cents BIGINT NOT NULL,
                quantity INT NOT NULL,
                PRIMARY KEY (order_id, product_id),
                KEY ix_order_items_product (product_id),
                CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE
            ) \(table)
            """,
            // The status and body to replay. Rows are written 'done'; 'processing' was
            // the claim of versions before the named lock (CheckoutService).
            """
            CREATE TABLE IF NOT EXISTS idempotency_keys (
                idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                request_hash BINARY(32) NOT NULL,
                state ENUM('processing', 'done') NOT NULL,
                status_code SMALLINT NULL,
                response_body MEDIUMBLOB NULL,
                created_at DATETIME(3) NOT NULL,
                updated_at DATETIME(3) NOT NULL,
                KEY ix_idempotency_created (created_at)
            ) \(table)
            """,
        ]),
        // The default listing (id order) skips a deep offset in this index rather than in
        // the table itself: InnoDB keeps the primary key in every secondary index, so it
        // is (active, id).
        Migration(version: 2, name: "an index for listings in id order", statements: [
            "ALTER TABLE products ADD INDEX ix_products_active (active)",
        ]),
        // Housekeeping deletes open carts by age: without it, that delete would scan,
        // and lock, every cart.
        Migration(version: 3, name: "an index for finding abandoned carts", statements: [
            "ALTER TABLE carts ADD INDEX ix_carts_status_updated (status, updated_at)",
        ]),
    ]
}
