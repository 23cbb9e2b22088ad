import CLinux
import Glibc

/// Opaque ids for carts and orders: 128 bits from the kernel's CSPRNG as 22
/// URL-safe base64 characters. Knowing one grants access, so it must not be
/// guessable.
public enum Identifier {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func make() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        var filled = 0
        while filled < 16 {
            let n = bytes.withUnsafeMutableBytes { getrandom($0.baseAddress! + filled, 16 - filled, 0) }
            if n > 0 { filled += n } else if errno != EINTR { fatalError("getrandom failed: errno \(errno)") }
        }
        var out: [UInt8] = []
        out.reserveCapacity(22)
        var bits: UInt32 = 0
        var count = 0
        for b in bytes {
            bits = bits << 8 | UInt32(b)
            count += 8
            while count >= 6 {
                count -= 6
                out.append(alphabet[Int((bits >> UInt32(count)) & 0x3F)])
            }
        }
        if count > 0 { out.append(alphabet[Int((bits << UInt32(6 - count)) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `text` could be an id we issued; anything else is unknown without asking the database.
    public static func isWellFormed(_ text: some Collection<UInt8>) -> Bool {
        text.count == 22 && text.allSatisfy { alphabet.contains($0) }
    }
}
