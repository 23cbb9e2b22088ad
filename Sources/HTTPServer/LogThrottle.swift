/// Lets a repeated warning through at most once per interval and counts the
/// ones it held back, so an outage or a descriptor shortage writes one line
/// every few seconds instead of one per request, and that line says how many
/// it stands for.
public struct LogThrottle: Sendable {
    private let interval: Double
    private var loggedAt = -Double.infinity
    private var heldBack = 0

    public init(interval: Double = 10) { self.interval = interval }

    /// nil: stay quiet (this one is counted). Otherwise log now, and mention
    /// the returned number of lines held back since the last one when it is not 0.
    public mutating func admit(at now: Double) -> Int? {
        guard now - loggedAt >= interval else {
            heldBack += 1
            return nil
        }
        defer { loggedAt = now; heldBack = 0 }
        return heldBack
    }
}
