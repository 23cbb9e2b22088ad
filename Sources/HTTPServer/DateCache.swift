import CLinux
import Glibc

/// The `Date` header value, rebuilt when the second changes rather than per
/// response. One per event loop, so it needs no lock.
struct DateCache {
    private var second = 0
    private(set) var value: [UInt8] = []

    init() { refresh() }

    mutating func refresh() {
        var now = time(nil)
        guard now != second || value.isEmpty else { return }
        second = now
        var parts = tm()
        gmtime_r(&now, &parts)
        value = Array(DateCache.imfFixdate(parts).utf8)
    }

    /// RFC 9110 §5.6.7 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func imfFixdate(_ t: tm) -> String {
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) "
            + "\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }
}
