import Glibc
import HTTPServer
import MySQL
import Shop

/// `storefront serve`: wires the settings into the server and runs it until a signal.
enum Serve {
    static func run(_ settings: Settings, logger: Logger) -> Int32 {
        MySQLLibrary.initialize()
        let metrics = Metrics(version: version)
        let pool = settings.makePool { metrics.observePoolWait($0) }

        var configuration = HTTPServer.Configuration()
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.eventLoops = settings.eventLoops
        configuration.workerThreads = settings.dbPoolSize
        configuration.limits.maxBodyBytes = settings.maxBodyBytes
        configuration.maxRequestMemory = settings.maxRequestMemoryBytes
        configuration.maxConnections = settings.maxConnections
        configuration.shutdownDelay = settings.shutdownDelaySeconds
        configuration.shutdownTimeout = settings.shutdownTimeoutSeconds

        let router = Router()
        let healthy = HTTPResponse.json(["status": "ok"]).notStored()
        router.get("/healthz", .inline) { _ in healthy }

        let accessLog = logger.enabled(.info)
        let server: HTTPServer
        do {
            server = try HTTPServer(
                configuration: configuration, router: router,
                workerHooks: WorkerPool.ThreadHooks(start: MySQLLibrary.threadStart, end: MySQLLibrary.threadEnd),
                onResponse: { exchange in
                    metrics.observe(exchange)
                    if accessLog { logger.access(exchange, path: ShopAPI.loggableTarget(exchange.target)) }
                },
                addHeaders: ShopAPI.corsHeaders(allowing: settings.corsAllowedOrigins),
                logger: logger.serverLogger)
        } catch {
            // Before anything touches the database: an address this machine does not
            // have, or a port that is taken, is a setting to fix, like a malformed one.
            printError("storefront: HOST=\(settings.host) PORT=\(settings.port) cannot be listened on: \(error)")
            return 2
        }
        // From here a SIGTERM drains, even one that comes while start-up waits on a
        // database that does not answer (the default action would end the process at once).
        server.handleSignals()

        var options = ShopAPI.Options()
        options.adminToken = settings.adminToken
        options.cartRetentionDays = settings.cartRetentionDays
        let api = ShopAPI(pool: pool, options: options, metrics: metrics.shop, isDraining: { [unowned server] in server.isDraining },
                          log: { level, message in logger.log(level == .error ? .error : .warning, message) })
        api.register(on: router)
        router.get("/metrics", .inline) { [unowned server] _ in
            .text(metrics.render(server: server, pool: pool), contentType: "text/plain; version=0.0.4; charset=utf-8").notStored()
        }

        // A database that is not up yet must not stop the server: readiness reports
        // it, and housekeeping retries the migrations until they succeed.
        let migrate: @Sendable () throws -> Void = {
            do {
                logger.log(.info, try pool.withConnection { try Schema.migrate($0) })
                api.noteMigration(failure: nil)
            } catch {
                api.noteMigration(failure: "\(error)")
                throw error
            }
        }
        var pendingMigration: (@Sendable () throws -> Void)?
        if settings.migrateOnStart {
            do {
                try migrate()
            } catch {
                logger.log(.warning, "could not migrate at start-up (\(error)); retrying in the background, /readyz stays 503 until the schema is current")
                pendingMigration = migrate
            }
        }

        if let token = settings.adminToken, token.utf8.count < 16 {
            logger.log(.warning, "ADMIN_TOKEN is only \(token.utf8.count) characters: anyone who can guess it can change the catalog; use 32 random bytes (openssl rand -hex 32)")
        }
        let housekeeping = Housekeeping(api: api, logger: logger, migrate: pendingMigration)
        housekeeping.start()
        logger.log(.info, "listening on \(Settings.inURLForm(settings.host)):\(server.port)", [
            ("eventLoops", .int(settings.eventLoops)), ("workers", .int(settings.dbPoolSize)),
            ("database", .string("\(settings.dbAddress)/\(settings.dbName)")),
            ("admin", .bool(settings.adminToken != nil)),
        ])
        server.run()
        housekeeping.stop()
        pool.close()
        return 0
    }
}
