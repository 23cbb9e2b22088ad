/// Entity tags and `If-None-Match` (RFC 9110 §8.8.3, §13.1.2): a GET whose
/// client already holds the current representation gets 304 and no content.
public enum EntityTag {
    /// A tag for `body`: its 64-bit FNV-1a hash, so equal bodies get equal tags
    /// in every process (replicas agree without sharing anything). Weak, as a
    /// compressing proxy (nginx's gzip) makes it anyway: the 304 that the proxy
    /// passes on then carries the very tag that the client stored.
    public static func of(_ body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return "W/\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// Whether the `If-None-Match` field lines list `etag` (weak comparison: a
    /// `W/` prefix on either side does not matter, as after nginx's gzip) or
    /// are `*`. A malformed list matches nothing, so the full answer goes out.
    static func noneMatch(_ fields: [String], lists etag: String) -> Bool {
        let wanted = opaque(Array(etag.utf8)[...])
        var found = false
        for field in fields {
            let bytes = Array(field.utf8)
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if b == 0x20 || b == 0x09 || b == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                let end: Int
                if b == UInt8(ascii: "*") {
                    found = true
                    end = i
                } else {
                    var start = i
                    if b == UInt8(ascii: "W") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/") { start += 2 }
                    guard start < bytes.count, bytes[start] == 0x22,
                          let close = bytes[(start + 1)...].firstIndex(of: 0x22),
                          bytes[(start + 1)..<close].allSatisfy({ $0 == 0x21 || ($0 >= 0x23 && $0 != 0x7F) })
                    else { return false }
                    if bytes[start...close].elementsEqual(wanted) { found = true }
                    end = close
                }
                // A member ends at a comma or the end of the line.
                i = end + 1
                while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
                guard i == bytes.count || bytes[i] == UInt8(ascii: ",") else { return false }
            }
        }
        return found
    }

    private static func opaque(_ tag: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        tag.starts(with: [UInt8(ascii: "W"), UInt8(ascii: "/")]) ? tag.dropFirst(2) : tag
    }
}
