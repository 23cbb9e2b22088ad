import Glibc
import MySQL
import Shop

/// The database side of the settings, shared by serve, migrate and seed.
extension Settings {
    var mysqlConfiguration: MySQLConfiguration {
        var c = MySQLConfiguration(host: dbHost, port: dbPort, user: dbUser, password: dbPassword, database: dbName)
        c.tls = MySQLConfiguration.TLS(name: dbTLS) ?? .preferred
        c.tlsCAPath = dbTLSCA
        return c
    }

    func makePool(onAcquire: (@Sendable (Double) -> Void)? = nil) -> MySQLPool {
        var options = MySQLPool.Options()
        options.size = dbPoolSize
        return MySQLPool(configuration: mysqlConfiguration, options: options, onAcquire: onAcquire)
    }
}

/// `storefront migrate` and `storefront seed`.
enum DatabaseCommands {
    /// With `wait`, a database that cannot be reached or refuses for now is tried
    /// again every 2 s for up to that many seconds (an init container started next
    /// to its database need not crash-loop); any other error fails at once.
    static func migrate(_ settings: Settings, wait argument: String?, logger: Logger) -> Int32 {
        var wait = 0.0
        if let argument {
            guard let seconds = Int(argument), (0...86_400).contains(seconds) else {
                printError("storefront migrate: --wait needs a number of seconds from 0 to 86400, e.g. --wait 300")
                return 2
            }
            wait = Double(seconds)
        }
        MySQLLibrary.initialize()
        let pool = settings.makePool()
        let deadline = MySQLConnection.monotonicNow() + wait
        var waiting = false
        while true {
            do {
                logger.log(.info, try pool.withConnection { try Schema.migrate($0) })
                return 0
            } catch let error as MySQLError where error.kind != .other && MySQLConnection.monotonicNow() < deadline {
                if !waiting {
                    logger.log(.warning, "waiting up to \(Int(wait)) s for the database at \(settings.dbAddress): \(error)")
                    waiting = true
                }
                // The last try comes at the deadline, not up to 2 s before it.
                usleep(UInt32(min(2, deadline - MySQLConnection.monotonicNow()) * 1e6))
            } catch {
                logger.log(.error, "migration failed on \(settings.dbAddress)/\(settings.dbName): \(error)")
                return 1
            }
        }
    }

    static func seed(_ settings: Settings, products argument: String?, logger: Logger) -> Int32 {
        var products: Int?
        if let argument {
            guard let n = Int(argument), (1...10_000_000).contains(n) else {
                printError("storefront seed: --products needs a number from 1 to 10000000, e.g. --products 10000")
                return 2
            }
            products = n
        }
        MySQLLibrary.initialize()
        let pool = settings.makePool()
        do {
            _ = try pool.withConnection { try Schema.migrate($0) }
            if let products {
                logger.log(.warning, "replacing the catalog with \(products) generated products (carts, orders and idempotency keys are deleted)")
                try Seeder.seedGenerated(pool, count: products) { done in
                    if done % 100_000 == 0 || done == products { logger.log(.info, "seeded \(done) of \(products) products") }
                }
            } else {
                let added = try Seeder.seedDemo(pool)
                logger.log(.info, added > 0 ? "loaded the demo catalog (\(added) products)" : "the catalog already has products; nothing to seed")
            }
            return 0
        } catch {
            logger.log(.error, "seeding failed on \(settings.dbAddress)/\(settings.dbName): \(error)")
            return 1
        }
    }
}
