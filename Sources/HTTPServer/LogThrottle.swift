/// Lets a repeated warning through at most once per interval and counts the
/// ones it held back, so an outage or a descriptor shortage writes one line
/// every few seconds instead of one per request, and that line says how many
/// it stands for.
public struct LogThrottle: Sendable {
    private let interval: Double
    private var loggedAt = -Double.infinity
    private var heldBack = 0

    public init(interval: Double = 10) { self.interval = interval }

    /// `message` if a line may go out now, ending with how many were held back since the
    /// last one ("(3 more `what` since the last such line)"); nil to stay quiet, and count
    /// this one. The message is only built when it goes out.
    public mutating func line(_ message: @autoclosure () -> String, heldBack what: String, at now: Double) -> String? {
        guard now - loggedAt >= interval else {
            heldBack += 1
            return nil
        }
        defer { loggedAt = now; heldBack = 0 }
        return message() + (heldBack > 0 ? " (\(heldBack) more \(what) since the last such line)" : "")
    }
}
