import CLinux
import Glibc

/// A failed system call, with the name of the call and why, in words.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let reason: String
    public var description: String { "\(call) failed: \(reason)" }

    init(call: String, errno: Int32) {
        self.init(call: call, reason: "\(String(cString: strerror(errno))) (errno \(errno))")
    }

    init(call: String, reason: String) {
        self.call = call
        self.reason = reason
    }
}

enum SystemCall {
    /// Retries on EINTR; throws on any other failure.
    @discardableResult
    static func check(_ call: String, _ body: () -> Int32) throws(SystemCallError) -> Int32 {
        while true {
            let rc = body()
            if rc >= 0 { return rc }
            if errno == EINTR { continue }
            throw SystemCallError(call: call, errno: errno)
        }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Raises the open-file limit to the hard limit, so that many connections do not hit EMFILE.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }

    #if os(Linux)
    static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif

    /// Opens a non-blocking listening TCP socket.
    static func listen(host: String, port: Int) throws(SystemCallError) -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let info = list else {
            if rc == EAI_SYSTEM { throw SystemCallError(call: "getaddrinfo(\(host))", errno: errno) }
            throw SystemCallError(call: "getaddrinfo(\(host))", reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        let fd = try check("socket") { socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            var on: Int32 = 1
            try check("setsockopt(SO_REUSEADDR)") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) }
            if info.pointee.ai_family == AF_INET6 {
                // Listen on IPv4 too when bound to "::".
                var off: Int32 = 0
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
            }
            try check("bind(\(host):\(port))") { bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
            try check("listen") { Glibc.listen(fd, 4096) }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = try withUnsafeMutablePointer(to: &storage) { p throws(SystemCallError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemCallError) in
                    try check("getsockname") { getsockname(fd, sa, &length) }
                }
            }
            return (fd, Int(addressAndPort(storage).port))
        } catch {
            close(fd)
            throw error
        }
    }

    /// Text form of a peer address, e.g. `127.0.0.1` or `::1`.
    static func addressAndPort(_ storage: sockaddr_storage) -> (address: String, port: UInt16) {
        var storage = storage
        let family = Int32(storage.ss_family)
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return withUnsafePointer(to: &storage) { p in
            if family == AF_INET {
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
                    return (String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), UInt16(bigEndian: sin.pointee.sin_port))
                }
            } else if family == AF_INET6 {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                    var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if text.hasPrefix("::ffff:") && text.contains(".") { text.removeFirst(7) }
                    return (text, UInt16(bigEndian: sin6.pointee.sin6_port))
                }
            }
            return ("unknown", 0)
        }
    }
}
