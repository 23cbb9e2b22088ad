import CMySQL

/// Process- and thread-level set-up the client library requires.
public enum MySQLLibrary {
    private static let initialized: Bool = {
        mysql_server_init(0, nil, nil) == 0
    }()

    /// Once, before any thread uses the library (mysql_library_init is not thread-safe).
    public static func initialize() {
        precondition(initialized, "mysql_library_init failed")
    }

    /// On each thread that will use connections, before the first use.
    public static func threadStart() {
        initialize()
        _ = mysql_thread_init()
    }

    /// On each such thread, when it ends.
    public static func threadEnd() { mysql_thread_end() }
}
