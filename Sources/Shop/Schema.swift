import MySQL

/// The database schema as versioned migrations. InnoDB and utf8mb4 throughout;
/// SQL that runs on MySQL 8.0+ and MariaDB 10.6+ (no RETURNING, no
/// MariaDB-only syntax). Times are DATETIME(3) in UTC (sessions run in UTC).
public enum Schema {
    /// The version this binary expects; /readyz fails until the database has it.
    public static var latestVersion: Int { migrations.map(\.version).max()! }

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
            // 'processing' while the first request with a key runs, then 'done'
            // with the status and body to replay.
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
        // The hot write transactions as procedures, so each request makes one or two round
        // trips instead of five to seven: row locks are held for less time and the database
        // spends far less per request. Each is dropped and created again (safe to rerun).
        // They run with this file's connection settings: strict mode (from the session that
        // creates them) and CLIENT_FOUND_ROWS (ROW_COUNT() counts matched rows).
        Migration(version: 2, name: "procedures for cart lines and checkout", statements: [
            "DROP PROCEDURE IF EXISTS cart_set_line",
            """
            CREATE PROCEDURE cart_set_line(IN p_cart VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin, IN p_product BIGINT,
                                           IN p_quantity INT, IN p_max_lines INT)
                MODIFIES SQL DATA SQL SECURITY INVOKER
                COMMENT 'Sets a cart line (0 removes it) and answers with the cart, or with why nothing changed'
            BEGIN
                DECLARE v_status VARCHAR(16) DEFAULT 'open';
                DECLARE v_stock BIGINT DEFAULT NULL;
                DECLARE v_written INT DEFAULT 0;
                DECLARE v_outcome VARCHAR(32) DEFAULT 'ok';
                DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
                DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
                START TRANSACTION;
                -- Touching the cart locks it, which orders this write against a checkout of
                -- the same cart. The cart was created with the API server's clock and is
                -- touched with the database's: GREATEST keeps updatedAt from going back.
                UPDATE carts SET updated_at = GREATEST(updated_at, UTC_TIMESTAMP(3)) WHERE id = p_cart AND status = 'open';
                IF ROW_COUNT() = 0 THEN
                    SET v_status = NULL;
                    SELECT status INTO v_status FROM carts WHERE id = p_cart FOR UPDATE;
                END IF;
                IF v_status IS NULL THEN
                    SET v_outcome = 'cart-not-found';
                ELSEIF v_status <> 'open' THEN
                    SET v_outcome = 'cart-ordered';
                ELSEIF p_quantity = 0 THEN
                    DELETE FROM cart_items WHERE cart_id = p_cart AND product_id = p_product;
                ELSE
                    -- Stock is checked, not reserved. The read locks the product row (shared)
                    -- whether it matches or not, so the reason read below is the same row.
                    INSERT INTO cart_items (cart_id, product_id, quantity, added_at)
                    SELECT p_cart, id, p_quantity, UTC_TIMESTAMP(3) FROM products WHERE id = p_product AND active = 1 AND stock >= p_quantity
                    ON DUPLICATE KEY UPDATE quantity = p_quantity;
                    SET v_written = ROW_COUNT();
                    IF v_written = 0 THEN
                        SELECT IF(active = 1, stock, NULL) INTO v_stock FROM products WHERE id = p_product LOCK IN SHARE MODE;
                        SET v_outcome = IF(v_stock IS NULL, 'product-not-found', 'insufficient-stock');
                    ELSEIF v_written = 1 AND (SELECT COUNT(*) FROM cart_items WHERE cart_id = p_cart) > p_max_lines THEN
                        -- 1 is a new line (2 a changed one), or an unchanged one: then the count passes.
                        SET v_outcome = 'too-many-lines';
                    END IF;
                END IF;
                IF v_outcome <> 'ok' THEN
                    ROLLBACK;
                    SELECT v_outcome AS outcome, v_stock AS stock;
                ELSE
                    SELECT 'ok' AS outcome, c.created_at, c.updated_at, i.product_id, p.sku, p.name, p.price_cents, i.quantity, i.added_at
                    FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id LEFT JOIN products p ON p.id = i.product_id
                    WHERE c.id = p_cart;
                    COMMIT;
                END IF;
            END
            """,
            "DROP PROCEDURE IF EXISTS checkout_lock",
            // The first half of a checkout: starts the transaction and leaves it open for
            // checkout_finish (or a rollback) on the same connection.
            """
            CREATE PROCEDURE checkout_lock(IN p_cart VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin)
                READS SQL DATA SQL SECURITY INVOKER
                COMMENT 'Starts a checkout: locks the cart, its lines and their products; leaves the transaction open'
            BEGIN
                DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
                START TRANSACTION;
                -- The plan is pinned (cart, then its lines in primary-key order, then each
                -- line's product), so products are locked in ascending id order: the one
                -- order all writers use, so two checkouts cannot deadlock on them.
                SELECT STRAIGHT_JOIN c.status, UTC_TIMESTAMP(3), i.product_id, i.quantity, p.sku, p.name, p.price_cents, p.stock, p.active
                FROM carts c LEFT JOIN cart_items i ON i.cart_id = c.id LEFT JOIN products p ON p.id = i.product_id
                WHERE c.id = p_cart ORDER BY i.product_id FOR UPDATE;
            END
            """,
            "DROP PROCEDURE IF EXISTS checkout_finish",
            """
            CREATE PROCEDURE checkout_finish(
                IN p_cart VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin, IN p_order VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin,
                IN p_email TEXT CHARACTER SET utf8mb4, IN p_name TEXT CHARACTER SET utf8mb4, IN p_line1 TEXT CHARACTER SET utf8mb4,
                IN p_line2 TEXT CHARACTER SET utf8mb4, IN p_city TEXT CHARACTER SET utf8mb4, IN p_postal_code TEXT CHARACTER SET utf8mb4,
                IN p_country VARCHAR(8) CHARACTER SET ascii, IN p_item_count INT, IN p_total BIGINT, IN p_currency VARCHAR(8) CHARACTER SET ascii,
                IN p_now DATETIME(3), IN p_lines INT, IN p_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin, IN p_body MEDIUMBLOB)
                MODIFIES SQL DATA SQL SECURITY INVOKER
                COMMENT 'Ends a checkout begun by checkout_lock: takes the stock, writes the order and its key, commits'
            BEGIN
                DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
                -- Every product's stock and the cart's status in one statement (a multi-table
                -- UPDATE changes each row once); the rows are locked, so it must touch exactly
                -- the cart and one product per line.
                UPDATE carts c JOIN cart_items i ON i.cart_id = c.id JOIN products p ON p.id = i.product_id
                SET p.stock = p.stock - i.quantity, p.updated_at = p_now, c.status = 'ordered', c.updated_at = GREATEST(c.updated_at, p_now)
                WHERE c.id = p_cart;
                IF ROW_COUNT() <> p_lines + 1 THEN
                    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'checkout changed an unexpected number of rows; rolled back';
                END IF;
                INSERT INTO orders (id, cart_id, status, customer_email, customer_name, ship_line1, ship_line2, ship_city, ship_postal_code,
                                    ship_country, item_count, total_cents, currency, created_at, updated_at)
                VALUES (p_order, p_cart, 'pending', p_email, p_name, p_line1, p_line2, p_city, p_postal_code,
                        p_country, p_item_count, p_total, p_currency, p_now, p_now);
                -- Lines keep the product's sku, name and price as locked above.
                INSERT INTO order_items (order_id, product_id, sku, name, unit_price_cents, quantity)
                SELECT p_order, p.id, p.sku, p.name, p.price_cents, i.quantity
                FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = p_cart;
                -- Stored in the order's own transaction: the key is done exactly when the order exists.
                IF p_key IS NOT NULL THEN
                    UPDATE idempotency_keys SET state = 'done', status_code = 201, response_body = p_body, updated_at = UTC_TIMESTAMP(3)
                    WHERE idem_key = p_key;
                END IF;
                COMMIT;
            END
            """,
        ]),
    ]
}
