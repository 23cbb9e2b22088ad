/// The request target's and Host's rules (RFC 9112 §3.2, RFC 9110 §7.2): plain functions of
/// the text, apart from the parser's state.
extension HTTPRequestParser {
    /// uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): a bracketed IP literal or
    /// a name without ':', then at most one ':' and digits. Empty is allowed.
    static func isValidHost(_ host: String) -> Bool {
        var host = host
        return host.withUTF8 { bytes in
            let colon = UInt8(ascii: ":"), open = UInt8(ascii: "["), close = UInt8(ascii: "]")
            let portStart: Int
            if bytes.first == open {
                guard let end = bytes.firstIndex(of: close), end > 1,
                      bytes[1..<end].allSatisfy({ hostCharacters[Int($0)] && $0 != open }) else { return false }
                portStart = end + 1
            } else {
                portStart = bytes.firstIndex(of: colon) ?? bytes.count
                guard bytes[..<portStart].allSatisfy({ hostCharacters[Int($0)] && $0 != open && $0 != close }) else { return false }
            }
            guard portStart < bytes.count else { return true }
            return bytes[portStart] == colon && bytes[(portStart + 1)...].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
    }

    /// Characters of a host name or IP literal (the structure is checked above).
    private static let hostCharacters: [Bool] = (0..<256).map { i in
            let b = UInt8(i)
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: ":"),
                UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
                UInt8(ascii: "="):
                return true
            default:
                return false
            }
    }

    /// Reduces absolute-form (`http://host/path`) to origin-form; refuses the
    /// forms an origin server does not serve (authority-form, `*` but for OPTIONS).
    static func originForm(of target: String, method: HTTPMethod) throws(HTTPParseError) -> String {
        if target.hasPrefix("/") { return target }
        if target == "*" && method == .OPTIONS { return target }
        let lower = target.lowercased()
        for scheme in ["http://", "https://"] where lower.hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            // RFC 9110 §4.2.1 and §4.2.4: no empty host, no userinfo (it hides the real host).
            let authority = String(rest[..<slash])
            guard !authority.isEmpty, isValidHost(authority) else {
                throw HTTPParseError(Self.bad, "The request target's authority is not a valid host[:port].")
            }
            guard slash < rest.endIndex else { return "/" }
            let path = String(rest[slash...])
            return path.hasPrefix("?") ? "/" + path : path
        }
        throw HTTPParseError(Self.bad, "The request target must be an absolute path such as /healthz.")
    }
}
