import CLinux
import Glibc

extension HTTPServer {
    /// Everything about how the server listens, bounds its resources and stops.
    public struct Configuration: Sendable {
        public var host = "0.0.0.0"
        /// 0 picks a free port (see `HTTPServer.port` once started).
        public var port = 8080
        public var eventLoops = Configuration.usableCores
        public var workerThreads = 16
        /// Requests waiting for a worker beyond this are answered 503.
        public var workerQueueCapacity = 1024
        public var limits = HTTPParserLimits()
        public var maxConnections = 10_000
        /// Bytes all connections together may hold for requests: heads past their first
        /// read's room, bodies being read and bodies being run, and answers not yet read.
        /// A request that would take more gets 503, and past it a client with answers
        /// unread gets no more taken up, so that many slow uploads or clients that do
        /// not read cannot take the process's memory (a megabyte each on ten thousand
        /// connections would be ten gigabytes).
        public var maxRequestMemory = 64 * 1024 * 1024
        /// Seconds a keep-alive connection may sit idle between requests.
        public var idleTimeout = 60.0
        /// Seconds from a request's first byte (or the connection's start) to the end of its head.
        public var headerTimeout = 10.0
        /// Seconds the body (or a blocked write) may go without progress.
        public var bodyTimeout = 30.0
        /// Seconds between the shutdown signal and closing the listener, so that
        /// load balancers can stop sending traffic while it is still served.
        public var shutdownDelay = 0.0
        /// Seconds from the shutdown signal until the server stops regardless.
        public var shutdownTimeout = 25.0
        /// Seconds a client is told to wait in `Retry-After` when the server is overloaded.
        public var retryAfterSeconds = 1

        public init() {}

        /// One event loop per core this process can use: its CPU affinity,
        /// capped by its container's CPU limit (a pod on a 64-core node with a
        /// limit of one core gets one loop, not 64).
        public static var usableCores: Int { Int(clinux_usable_cores()) }
        static func usableCores(cgroupRoot: String) -> Int { Int(clinux_usable_cores_in(cgroupRoot)) }
    }

    /// One finished exchange, handed to `onResponse` (access logs, metrics).
    public struct Exchange: Sendable {
        public let method: String
        /// The route pattern, or a fixed word (`unmatched`, `invalid`) so that label sets stay bounded.
        public let route: String
        public let target: String
        public let status: Int
        public let bodyBytes: Int
        public let durationSeconds: Double
        public let remoteAddress: String
        public let requestID: String
    }
}
