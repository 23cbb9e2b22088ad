import Glibc
import HTTPServer
import MySQL
import Shop
import Synchronization

/// Prometheus text exposition (format 0.0.4) of the server, pool and shop.
/// Labels are route patterns, never raw paths, so cardinality stays bounded.
final class Metrics: Sendable {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var count = 0

        mutating func observe(_ value: Double) {
            for (i, bound) in Metrics.buckets.enumerated() where value <= bound { counts[i] += 1 }
            sum += value
            count += 1
        }
    }

    private struct RequestKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    /// One histogram per method, route and status; its count is the request counter.
    private let requests = Mutex<[RequestKey: Histogram]>([:])
    private let poolWait = Mutex(Histogram())
    let shop = ShopMetrics()
    /// Unix time at start-up: `process_start_time_seconds` is how dashboards count restarts.
    private let startTime: Double = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }()
    private let version: String

    init(version: String) { self.version = version }

    /// Methods outside this set share one label, so clients cannot grow the series without bound.
    private static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func observe(_ exchange: HTTPServer.Exchange) {
        let method = Metrics.methods.contains(exchange.method) ? exchange.method : "OTHER"
        requests.withLock { $0[RequestKey(method: method, route: exchange.route, status: exchange.status), default: Histogram()].observe(exchange.durationSeconds) }
    }

    func observePoolWait(_ seconds: Double) { poolWait.withLock { $0.observe(seconds) } }

    func render(server: HTTPServer, pool: MySQLPool) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func histogram(_ name: String, _ labels: String, _ h: Histogram) {
            let sep = labels.isEmpty ? "" : ","
            for (i, bound) in Metrics.buckets.enumerated() { out += "\(name)_bucket{\(labels)\(sep)le=\"\(bound)\"} \(h.counts[i])\n" }
            out += "\(name)_bucket{\(labels)\(sep)le=\"+Inf\"} \(h.count)\n"
            let braces = labels.isEmpty ? "" : "{\(labels)}"
            out += "\(name)_sum\(braces) \(h.sum)\n\(name)_count\(braces) \(h.count)\n"
        }
        let series = requests.withLock { $0 }.map { key, h in
            ("method=\"\(escape(key.method))\",route=\"\(escape(key.route))\",status=\"\(key.status)\"", h)
        }.sorted { $0.0 < $1.0 }

        family("http_requests_total", "counter", "HTTP requests answered, by method, route pattern and status.")
        for (labels, h) in series { out += "http_requests_total{\(labels)} \(h.count)\n" }
        family("http_request_duration_seconds", "histogram",
               "Time from a request's arrival to its response being queued, by method, route pattern and status.")
        for (labels, h) in series { histogram("http_request_duration_seconds", labels, h) }
        family("http_connections_open", "gauge", "Client connections open now.")
        out += "http_connections_open \(server.connectionsOpen)\n"
        family("http_connections_refused_total", "counter", "Client connections closed as soon as they were accepted, because MAX_CONNECTIONS were open.")
        out += "http_connections_refused_total \(server.connectionsRefused)\n"
        family("http_request_memory_bytes", "gauge",
               "Bytes held for requests being read or run (heads past their first read, bodies) and answers not yet read; past MAX_REQUEST_MEMORY_BYTES a request gets 503.")
        out += "http_request_memory_bytes \(server.requestMemoryHeld)\n"
        family("http_requests_in_flight", "gauge", "Requests handed to a worker and not yet answered.")
        out += "http_requests_in_flight \(server.requestsInFlight)\n"

        let stats = pool.stats
        family("db_pool_connections", "gauge", "Database connections by state.")
        out += "db_pool_connections{state=\"idle\"} \(stats.idle)\ndb_pool_connections{state=\"in_use\"} \(stats.inUse)\n"
        out += "db_pool_connections{state=\"max\"} \(pool.options.size)\n"
        family("db_pool_waiting", "gauge", "Callers waiting for a database connection now.")
        out += "db_pool_waiting \(stats.waiting)\n"
        family("db_pool_wait_seconds", "histogram", "Time spent waiting for a pooled database connection.")
        histogram("db_pool_wait_seconds", "", poolWait.withLock { $0 })
        family("db_transaction_retries_total", "counter", "Transactions run again after a deadlock or lock-wait timeout.")
        out += "db_transaction_retries_total \(pool.transactionRetries)\n"
        family("db_read_retries_total", "counter", "Reads run again on a new connection after theirs died (a killed session, a failover).")
        out += "db_read_retries_total \(pool.readRetries)\n"

        family("orders_created_total", "counter", "Orders placed.")
        out += "orders_created_total \(shop.ordersCreated.current)\n"
        family("checkout_stock_conflicts_total", "counter", "Cart or checkout requests refused for lack of stock.")
        out += "checkout_stock_conflicts_total \(shop.stockConflicts.current)\n"
        family("housekeeping_deleted_total", "counter", "Rows housekeeping deleted: expired idempotency keys, abandoned carts (with their lines).")
        out += "housekeeping_deleted_total{table=\"idempotency_keys\"} \(shop.idempotencyKeysDeleted.current)\n"
        out += "housekeeping_deleted_total{table=\"carts\"} \(shop.cartsDeleted.current)\n"

        // The names and meanings of the Prometheus client libraries' process collector.
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = [usage.ru_utime, usage.ru_stime].reduce(0.0) { $0 + Double($1.tv_sec) + Double($1.tv_usec) / 1e6 }
        family("process_cpu_seconds_total", "counter", "User and system CPU time spent by this process.")
        out += "process_cpu_seconds_total \(cpu)\n"
        family("process_start_time_seconds", "gauge", "Start time of this process since the Unix epoch.")
        out += "process_start_time_seconds \(startTime)\n"
        family("process_resident_memory_bytes", "gauge", "Resident memory of this process.")
        out += "process_resident_memory_bytes \(Metrics.residentBytes())\n"
        family("process_open_fds", "gauge", "Open file descriptors of this process.")
        out += "process_open_fds \(Metrics.openFileDescriptors())\n"
        var files = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        family("process_max_fds", "gauge", "The limit on open file descriptors of this process.")
        out += "process_max_fds \(files.rlim_cur)\n"
        family("storefront_build_info", "gauge", "Always 1; the running version is its label.")
        out += "storefront_build_info{version=\"\(escape(version))\"} 1\n"
        return out
    }

    private func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }

    /// Resident pages (second field of /proc/self/statm) times the page size.
    static func residentBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, 128, file) != nil else { return 0 }
        let fields = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openFileDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        return max(0, count - 3)  // ".", ".." and the directory's own descriptor
    }
}
