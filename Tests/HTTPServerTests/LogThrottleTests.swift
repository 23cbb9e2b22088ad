import XCTest
@testable import HTTPServer

final class LogThrottleTests: XCTestCase {
    func testLetsOneLineThroughPerIntervalAndCountsTheRestForTheNext() {
        var throttle = LogThrottle(interval: 10)
        var built = 0
        func line(at now: Double) -> String? {
            throttle.line({ built += 1; return "it broke" }(), heldBack: "breaks", at: now)
        }
        XCTAssertEqual(line(at: 100), "it broke", "the first warning is logged at once")
        XCTAssertNil(line(at: 100.5))
        XCTAssertNil(line(at: 109.9))
        XCTAssertEqual(built, 1, "a line held back is not built")
        XCTAssertEqual(line(at: 110), "it broke (2 more breaks since the last such line)", "the next line says how many were held back")
        XCTAssertNil(line(at: 115))
        XCTAssertEqual(line(at: 500), "it broke (1 more breaks since the last such line)")
        XCTAssertEqual(line(at: 510), "it broke", "the count starts again after each line")
    }
}
