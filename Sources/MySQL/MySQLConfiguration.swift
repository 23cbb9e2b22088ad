/// Where and how to connect.
public struct MySQLConfiguration: Sendable {
    public enum TLS: Int32, Sendable {
        case disabled = 0, preferred, required, verifyCA, verifyIdentity

        public init?(name: String) {
            switch name {
            case "disabled": self = .disabled
            case "preferred": self = .preferred
            case "required": self = .required
            case "verify-ca": self = .verifyCA
            case "verify-identity": self = .verifyIdentity
            default: return nil
            }
        }
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String
    public var tls: TLS = .preferred
    public var tlsCAPath: String?
    public var connectTimeoutSeconds: UInt32 = 3
    /// Bounds on each network read or write; a query that runs longer fails rather than hangs.
    public var readTimeoutSeconds: UInt32 = 30
    public var writeTimeoutSeconds: UInt32 = 30

    /// host:port, an IPv6 address in brackets, for messages.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public init(host: String, port: Int = 3306, user: String, password: String, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }
}
