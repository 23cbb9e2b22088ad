import HTTPServer

/// `storefront serve`: wires the settings into the server and runs it until a signal.
enum Serve {
    static func run(_ settings: Settings) -> Int32 {
        let logger = Logger(level: settings.logLevel, format: settings.logFormat)
        var configuration = HTTPServer.Configuration()
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.eventLoops = settings.eventLoops
        configuration.workerThreads = settings.dbPoolSize
        configuration.limits.maxBodyBytes = settings.maxBodyBytes
        configuration.shutdownDelay = settings.shutdownDelaySeconds
        configuration.shutdownTimeout = settings.shutdownTimeoutSeconds

        let router = Router()
        let healthy = HTTPResponse.json(["status": "ok"])
        router.get("/healthz", .inline) { _ in healthy }

        var accessLog: (@Sendable (HTTPServer.Exchange) -> Void)?
        if logger.enabled(.info) { accessLog = { @Sendable exchange in logger.access(exchange) } }
        let server: HTTPServer
        do {
            server = try HTTPServer(
                configuration: configuration, router: router,
                onResponse: accessLog,
                logger: logger.serverLogger)
        } catch {
            logger.log(.error, "cannot listen on \(settings.host):\(settings.port): \(error)")
            return 1
        }
        server.handleSignals()
        logger.log(.info, "listening on \(settings.host):\(server.port)", [("eventLoops", .int(settings.eventLoops))])
        server.run()
        return 0
    }
}
