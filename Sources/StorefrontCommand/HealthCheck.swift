import Glibc

/// `storefront healthcheck`: one GET over a plain socket, for container
/// HEALTHCHECKs in images that have no curl. Exit 0 on a 2xx, else 1.
enum HealthCheck {
    /// Where `serve`, started with the same settings, answers: the address it
    /// listens on, or the IPv4 loopback when that is any address (`::` takes IPv4 too).
    static func defaultURL(_ settings: Settings) -> String {
        let host = settings.host == "0.0.0.0" || settings.host == "::" ? "127.0.0.1" : settings.host
        return "http://\(Settings.inURLForm(host)):\(settings.port)/healthz"
    }

    /// Exit 0 on a 2xx, 1 when the server is down or answers otherwise, 2 for a URL
    /// this cannot ask (a setting to fix, not an unhealthy server).
    static func run(url: String) -> Int32 {
        guard let (host, port, authority, path) = parse(url) else {
            printError("storefront healthcheck: --url needs http://HOST[:PORT][/PATH] with a port from 1 to 65535, got \"\(url)\"")
            return 2
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &list) == 0, let info = list else {
            printError("storefront healthcheck: cannot resolve \(host)")
            return 1
        }
        defer { freeaddrinfo(list) }
        // Every address in turn, as curl does: a name such as localhost may give ::1
        // first while the server listens on IPv4 only.
        var fd: Int32 = -1
        var failure = ""
        for info in sequence(first: info, next: { $0.pointee.ai_next }) {
            fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { failure = String(cString: strerror(errno)); continue }
            var timeout = timeval(tv_sec: 3, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { break }
            failure = String(cString: strerror(errno))
            close(fd)
            fd = -1
        }
        guard fd >= 0 else {
            printError("storefront healthcheck: cannot connect to \(authority): \(failure)")
            return 1
        }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nConnection: close\r\nUser-Agent: storefront-healthcheck\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return 1 }
        var head = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &head, head.count, 0)
        guard n >= 12 else {
            printError("storefront healthcheck: no response from \(url)")
            return 1
        }
        let statusLine = String(decoding: head[0..<n], as: UTF8.self)
        let code = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard (200..<300).contains(code) else {
            printError("storefront healthcheck: \(url) answered \(code)")
            return 1
        }
        return 0
    }

    /// The host (an IPv6 literal without its brackets), port, `Host` field and path of
    /// an `http://` URL; nil for anything else.
    static func parse(_ url: String) -> (host: String, port: String, authority: String, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = authority
        var port = "80"
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            port = String(authority[authority.index(after: colon)...])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let digits = port.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !host.isEmpty, !host.contains(where: { $0 == "@" || $0 == "[" || $0 == "]" || $0.isWhitespace }),
              digits, port.utf8.count <= 5, let number = Int(port), (1...65535).contains(number),
              !path.contains(where: { $0.isWhitespace || !$0.isASCII })
        else { return nil }
        return (host, port, authority, path)
    }
}

func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
