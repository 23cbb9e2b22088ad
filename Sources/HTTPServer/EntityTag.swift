/// Entity tags and the conditions on them (RFC 9110 §8.8.3, §13.1.1, §13.1.2):
/// a GET whose client already holds the current representation gets 304 and no
/// content; a request whose `If-Match` fails gets 412 and changes nothing.
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

    /// What the preconditions in a request (RFC 9110 §13.2.2, steps 1 and 3)
    /// say for a target whose current representation has the tag `etag` (nil:
    /// none), or that has no current representation (`exists` false).
    public enum Precondition: Equatable { case holds, ifMatchFails, ifNoneMatchFails }

    public static func evaluate(_ headers: HTTPHeaders, current etag: String?, exists: Bool) -> Precondition {
        let ifMatch = headers.all(key: "if-match")
        if !ifMatch.isEmpty {
            // §13.1.1: `*`, or a listed tag equal by strong comparison (neither side
            // weak). A malformed list holds for nothing: an unsafe method is not
            // performed on a condition the server cannot read.
            guard let members = members(ifMatch), members.contains(where: { member in
                guard let member else { return exists }
                guard let etag, !etag.hasPrefix("W/"), !member.starts(with: "W/".utf8) else { return false }
                return member.elementsEqual(etag.utf8)
            }) else { return .ifMatchFails }
        }
        let ifNoneMatch = headers.all(key: "if-none-match")
        if !ifNoneMatch.isEmpty {
            // §13.1.2: `*`, or a listed tag equal by weak comparison (a `W/` on either
            // side does not matter, as after nginx's gzip). A malformed list is
            // ignored, so the full answer goes out.
            let wanted = etag.map { opaque(Array($0.utf8)[...]) }
            if let members = members(ifNoneMatch), members.contains(where: { member in
                guard let member else { return exists }
                return wanted.map { opaque(member).elementsEqual($0) } ?? false
            }) {
                return .ifNoneMatchFails
            }
        }
        return .holds
    }

    /// The 412 for a precondition that does not hold.
    public static func failed(_ precondition: Precondition) -> HTTPError {
        HTTPError(.preconditionFailed, precondition == .ifNoneMatchFails
            ? "If-None-Match does not hold: it names the current representation of this resource, so nothing was done."
            : "If-Match does not hold, so nothing was done. It compares tags strongly and this server's tags are weak, so only If-Match: * can hold, and only where the target exists.")
    }

    /// The members of an entity-tag list split over field lines, each a tag as
    /// sent (`W/` included) or nil for `*`; nil when the list is malformed.
    private static func members(_ fields: [String]) -> [ArraySlice<UInt8>?]? {
        var found: [ArraySlice<UInt8>?] = []
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
                    found.append(nil)
                    end = i
                } else {
                    var start = i
                    if b == UInt8(ascii: "W") && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "/") { start += 2 }
                    guard start < bytes.count, bytes[start] == 0x22,
                          let close = bytes[(start + 1)...].firstIndex(of: 0x22),
                          bytes[(start + 1)..<close].allSatisfy({ $0 == 0x21 || ($0 >= 0x23 && $0 != 0x7F) })
                    else { return nil }
                    found.append(bytes[i...close])
                    end = close
                }
                // A member ends at a comma or the end of the line.
                i = end + 1
                while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
                guard i == bytes.count || bytes[i] == UInt8(ascii: ",") else { return nil }
            }
        }
        return found
    }

    private static func opaque(_ tag: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        tag.starts(with: [UInt8(ascii: "W"), UInt8(ascii: "/")]) ? tag.dropFirst(2) : tag
    }
}
